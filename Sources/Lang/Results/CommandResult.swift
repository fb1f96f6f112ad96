import Engine
import Foundation

/// A value a command produces. Each kind is one type in its own file in this folder and owns
/// everything that shows it: the terminal text, the JSON a notebook stores, markdown tables and
/// charts. Adding a kind touches its own file and the command that makes it, nothing else.
public protocol CommandResult {
    /// Short kind name, used in file names of the report ("eval", "sweep", …).
    var kind: String { get }
    /// What the terminal shows (`show NAME`, and after the command).
    var display: String { get }
    /// The raw result as a JSON object (per-item data included).
    var json: [String: Any] { get }
    /// Markdown tables for the notebook (empty: the result is only text).
    var markdownTables: String { get }
    /// Charts of this result (`plot`, the notebook); `what` picks a subset where the kind has several.
    func charts(what: String?) -> [Chart]
    /// Where `plot` writes this result's charts by default; nil: it has none to plot.
    func plotDirectory(outDir: String) -> String?
    /// Writes files other tools read (lm-eval's results and samples) under `dir`; returns their paths.
    func writeCompanions(to dir: String) throws -> [String]
}

extension CommandResult {
    public var markdownTables: String { "" }
    public func charts(what: String?) -> [Chart] { [] }
    public func plotDirectory(outDir: String) -> String? { nil }
    public func writeCompanions(to dir: String) throws -> [String] { [] }
}

/// A session value: any command's result, with the typed view a command that consumes it asks for.
public struct ResultValue {
    public let result: any CommandResult
    public init(_ r: any CommandResult) { result = r }

    public var kind: String { result.kind }
    public var display: String { result.display }
    public var json: [String: Any] { result.json }
    public var markdownTables: String { result.markdownTables }

    /// The result as `T`, when it is one.
    public func `as`<T>(_: T.Type) -> T? { result as? T }

    public static func eval(_ r: EvalResult) -> ResultValue { ResultValue(r) }
    public static func sweep(_ r: SweepResult) -> ResultValue { ResultValue(r) }
    public static func train(_ r: TrainResult) -> ResultValue { ResultValue(r) }
    public static func compose(_ r: CompositionResult) -> ResultValue { ResultValue(r) }
    public static func text(_ t: String) -> ResultValue { ResultValue(TextResult(text: t)) }
    public static func model(name: String, summary: String) -> ResultValue { ResultValue(ModelResult(name: name, summary: summary)) }
}

/// JSON-ready numbers: NaN and ±infinity become null (JSON has no such numbers).
func jnum(_ d: Double) -> Any { d.isFinite ? d : NSNull() }

/// A number for a markdown table: four decimals, or "–" when not finite.
func mdNumber(_ d: Double) -> String { d.isFinite ? String(format: "%.4f", d) : "–" }

extension ItemScore {
    /// The item as a JSON object: doc, gold, ll (nats per choice), pred, pred_norm.
    var json: [String: Any] { ["doc": doc, "gold": gold, "ll": ll.map(jnum), "pred": pred, "pred_norm": predNorm] }
}
