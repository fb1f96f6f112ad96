import Foundation

/// One statement of a session as the notebook report shows it: its source, what it printed,
/// the result it produced, the chart files it wrote, and its error if it failed.
public struct NotebookCell {
    /// 1-based position in the session.
    public let index: Int
    /// The statement as typed (for a parse error, the whole input).
    public let source: String
    /// Script file (or `<repl>`, `<-e>`) and 1-based line.
    public let file: String
    public let line: Int
    /// Everything the statement printed, in order (progress lines excluded).
    public var output: String
    public var result: ResultValue?
    /// Chart files (PNG, SVG, data, script) the statement wrote.
    public var chartFiles: [String]
    /// The diagnostic, rendered with its location, when the statement failed.
    public var error: String?
    /// Wall time in seconds.
    public var seconds: Double
    public let started: Date
}

/// The session's record of executed statements, in order; `report DIR` writes it as markdown.
public struct Notebook {
    public internal(set) var cells: [NotebookCell] = []
    /// When the session started (the report's header).
    public let started = Date()

    mutating func append(source: String, file: String, line: Int, output: String, result: ResultValue?,
                         chartFiles: [String], error: String?, seconds: Double, started: Date) {
        cells.append(NotebookCell(index: cells.count + 1, source: source, file: file, line: line, output: output, result: result,
                                  chartFiles: chartFiles, error: error, seconds: seconds, started: started))
    }
}
