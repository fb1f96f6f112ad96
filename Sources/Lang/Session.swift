import Engine
import Foundation

/// Receives progress of long work; the shell draws it as a line with rate and ETA.
public protocol ProgressSink: AnyObject {
    func begin(_ label: String, total: Int)
    /// Like `begin`, for work counted in bytes (a download): shown as MB and MB/s.
    func beginBytes(_ label: String, total: Int)
    func advance(_ done: Int)
    func end()
}

extension ProgressSink {
    public func beginBytes(_ label: String, total: Int) { begin(label, total: total) }
}

/// A value a command produced, kept in the session's variables.
/// One interpreter session: settings, the loaded model, variables and the last result, shared by
/// every statement of a REPL or script.
public final class Session {
    public var output: (String) -> Void
    /// Receives text as it is produced (`generate`), without line breaks added; nil: it is printed whole at the end.
    public var stream: ((String) -> Void)?
    /// Adds text to the running statement's notebook cell without printing it (what was streamed).
    var cellCapture: ((String) -> Void)?
    public weak var progress: ProgressSink?
    /// Shows each result a command reports, with whether it is the statement's value (`NAME = …`
    /// or `show`): the Jupyter kernel sends it as tables; nil: its text goes through `output`.
    public var presenter: ((_ result: CommandResult, _ isValue: Bool) -> Void)?
    /// Draws `plot` charts (the shell installs its gnuplot renderer).
    public var chartRenderer: ChartRenderer?
    public var model: LanguageModel?
    public var variables: [String: ResultValue] = [:]
    public var settings = SessionSettings()
    public var vectors: [String: SteeringVector] = [:]
    /// Vectors trained in this session and not saved since: loading a file onto one of these names needs `as`.
    var unsaved: Set<String> = []
    public var study: SteeringStudy?
    public var lastSweep: SweepResult?
    /// Statements that ran successfully, in order (for `:save`).
    public private(set) var history: [String] = []
    /// Every top-level statement with its output, result and charts (for `report DIR`).
    public internal(set) var notebook = Notebook()
    /// Chart files written by the running statement (plot adds to it; the notebook cell keeps them).
    var cellChartFiles: [String] = []
    /// The result the running statement stored, if any.
    var cellResult: ResultValue?
    private let cancelLock = NSLock()
    private var cancelFlag = false
    var runDepth = 0
    /// `--shard I/N`: sweeps and grids train only shard I of N of their cells (in the run directory
    /// the shards share); every other command waits for the merge run (the script without `--shard`).
    public var shard: (index: Int, count: Int)?
    /// Commands a shard runs: what sets up its sweeps and grids, and the sweeps and grids.
    static let shardCommands: Set<String> = ["load", "set", "sweep", "grid", "run", "help", "models", "tasks"]
    /// The memory that can be allocated now (MemAvailable); tests replace it.
    var availableMemory: () -> Int? = { SystemMemory.availableBytes() }
    /// AFT_SMOKE=1: cap item counts, epochs and layers so scripts run as written but small (CI).
    public var smoke = ProcessInfo.processInfo.environment["AFT_SMOKE"] == "1"

    public init(output: @escaping (String) -> Void = { print($0) }) { self.output = output }

    /// Asks the running command to stop at its next step (Ctrl-C); finished work is kept.
    public func requestCancel() { cancelLock.lock(); cancelFlag = true; cancelLock.unlock() }
    public var cancelled: Bool { cancelLock.lock(); defer { cancelLock.unlock() }; return cancelFlag }
    /// Whether a command was stopped by a cancel request (Ctrl-C) since the session began: a script
    /// that was interrupted did not complete, whatever it kept.
    public private(set) var interrupted = false
    /// Forgets an earlier cancel request (a Ctrl-C between commands), before new work starts.
    public func clearCancel() { cancelLock.lock(); cancelFlag = false; cancelLock.unlock() }

    public var registry: ModelRegistry {
        var r = ModelRegistry()
        if let m = settings.models { r.modelCache = m }
        return r
    }

    /// Parses, checks and runs `source`. Stops at the first error, which is thrown with its location.
    public func run(source: String, file: String = "<input>") throws {
        let lines = source.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        func located(_ d: Diagnostic) -> Diagnostic {
            var d = d
            d.file = file
            if let l = d.location, l.line >= 1, l.line <= lines.count { d.sourceLine = lines[l.line - 1] }
            return d
        }
        var statements: [Statement] = []
        do {
            var p = try Parser(source: source)
            let (parsed, parseErrors) = p.parseRecovering()
            statements = Session.bareNames(parsed.map(CommandTable.normalize), known: Set(variables.keys))
            // Check every statement before running any: a typo on line 40 fails before a long job
            // starts, and every error in the script is reported, not only the first.
            var errors = parseErrors
            for s in statements {
                do { try CommandTable.check(s) } catch let d as Diagnostic { errors.append(d) }
            }
            errors.sort { ($0.location?.line ?? 0, $0.location?.column ?? 0) < ($1.location?.line ?? 0, $1.location?.column ?? 0) }
            if var first = errors.first {
                first.more = Array(errors.dropFirst())
                throw first
            }
        } catch let d as Diagnostic {
            var d = located(d)
            d.more = d.more.map(located)
            if runDepth == 0 {
                notebook.append(source: source.trimmingCharacters(in: .whitespacesAndNewlines), file: file, line: d.location?.line ?? 1,
                                output: "", result: nil, chartFiles: [], error: d.description, seconds: 0, started: Date())
            }
            throw d
        }
        for (k, s) in statements.enumerated() {
            if k > 0 && cancelled {
                // Ctrl-C stops a script after the interrupted command; what finished is kept.
                output("interrupted: stopping before line \(s.location.line) of \(file)")
                return
            }
            clearCancel()
            if let sh = shard, !Session.shardCommands.contains(s.command) {
                output("shard \(sh.index)/\(sh.count): skipping line \(s.location.line) ('\(s.command)'): it runs in the merge run, without --shard")
                continue
            }
            try runRecorded(s, file: file) {
                do { try execute(s) }
                catch let c as Cancelled { output(c.description) }   // Ctrl-C: not an error; the script stops below
                catch let d as Diagnostic { throw located(d) }
                catch let e as EngineError { throw located(Diagnostic(.runtime, e.description + Session.hint(for: e), at: s.location)) }
                catch { throw located(Diagnostic(.runtime, "\(error)", at: s.location)) }
            }
            if cancelled { interrupted = true }
            if runDepth == 0 { history.append(s.text) }
        }
    }

    /// Runs one statement; at the top level its output, result, charts and error become a notebook cell.
    private func runRecorded(_ s: Statement, file: String, _ body: () throws -> Void) throws {
        guard runDepth == 0 else { return try body() }
        let sink = output, t0 = Date()
        var captured: [String] = []
        output = { captured.append($0); sink($0) }
        cellCapture = { captured.append($0) }
        cellChartFiles = []; cellResult = nil
        defer { output = sink; cellCapture = nil }
        func record(_ error: String?) {
            notebook.append(source: s.text, file: file, line: s.location.line, output: captured.joined(separator: "\n"),
                            result: cellResult, chartFiles: cellChartFiles, error: error, seconds: Date().timeIntervalSince(t0), started: t0)
        }
        do { try body() } catch { record("\(error)"); throw error }
        record(nil)
    }

    /// Reports a command's result: through the presenter when one is installed (the notebook cell
    /// still records its text), else as text. `value` defaults to whether `s` names it (`NAME = …`, `show`).
    func present(_ r: CommandResult, _ s: Statement, value: Bool? = nil) {
        guard let p = presenter else { output(r.display); return }
        cellCapture?(r.display)
        p(r, value ?? (s.assignTo != nil || s.command == "show"))
    }

    /// A statement that is only a variable's name (`r`, `_`, `model`) shows it, as `show NAME`
    /// would: the variables known now and those the same source assigns before it.
    static func bareNames(_ statements: [Statement], known: Set<String>) -> [Statement] {
        var names = known.union(["_", "model"])
        return statements.map { st in
            defer { if let n = st.assignTo { names.insert(n) } }
            guard st.assignTo == nil, st.args.isEmpty, CommandTable.spec(st.command) == nil, names.contains(st.command) else { return st }
            let arg = Argument(key: nil, value: .word(st.command), location: st.location, valueLocation: st.location)
            return Statement(assignTo: nil, command: "show", commandLocation: st.commandLocation, args: [arg], location: st.location, text: st.text)
        }
    }

    func store(_ v: ResultValue, _ s: Statement) {
        variables["_"] = v
        cellResult = v
        if let n = s.assignTo { variables[n] = v }
    }
}

extension Session {
    /// What the user can do about an engine error, in the language's terms ("" when nothing to add).
    static func hint(for e: EngineError) -> String {
        switch e {
        case .dataNotFound: return "\nset the data directory with `set data=DIR` (or AFT_DATA)"
        default: return ""
        }
    }
}
