/// A position in a source text: 1-based line and column (in characters).
public struct SourceLocation: Equatable, CustomStringConvertible {
    public var line: Int
    public var column: Int
    public init(line: Int, column: Int) { self.line = line; self.column = column }
    public var description: String { "\(line):\(column)" }
}

/// A diagnosed error in a script or REPL input, rendered as `file:line:col: error: …` with a caret.
public struct Diagnostic: Error, Equatable, CustomStringConvertible {
    public enum Kind: Equatable { case syntax, usage, runtime }
    public let kind: Kind
    public let message: String
    public let location: SourceLocation?
    public var file: String
    public var sourceLine: String?
    /// Further errors found in the same check of a script (each with its own location), in source order.
    public var more: [Diagnostic] = []

    public init(_ kind: Kind, _ message: String, at location: SourceLocation? = nil, file: String = "<input>", sourceLine: String? = nil) {
        self.kind = kind; self.message = message; self.location = location; self.file = file; self.sourceLine = sourceLine
    }

    public var description: String {
        var s = location.map { "\(file):\($0.line):\($0.column): error: \(message)" } ?? "\(file): error: \(message)"
        if let src = sourceLine, let loc = location {
            s += "\n  " + src + "\n  " + String(repeating: " ", count: max(0, loc.column - 1)) + "^"
        }
        for d in more { s += "\n" + d.description }
        if !more.isEmpty { s += "\n\(more.count + 1) errors" }
        return s
    }
}
