import Engine
import Foundation

/// The session's settings (`set KEY=VALUE`), typed, each default stored once here.
public struct SessionSettings: Equatable {
    /// Where charts go: the terminal, files, or both.
    public enum PlotMode: String, CaseIterable { case inline, file, both }

    /// BLAS threads and scoring workers; nil: every core.
    public var threads: Int?
    /// Seed of the splits and of training.
    public var seed = 0
    /// The data directory; nil: the engine's search places (`Dataset.defaultSearchDirs`).
    public var data: String?
    /// The model cache; nil: $AFT_MODELS or ~/.cache/aft/models.
    public var models: String?
    /// Where results, logs and run directories go.
    public var out = "runs"
    public var plot = PlotMode.both
    /// Memory for a sweep's residual cache, in GB.
    public var cacheGB = 4.0
    public var spill = SpillPolicy.auto
    /// How loaded weights are kept: f32, compact (as the file stores them), or auto (f32 when it fits `memoryGB`).
    public enum WeightSetting: String, CaseIterable { case auto, f32, compact }
    public var weights = WeightSetting.auto
    /// The memory budget `weights=auto` plans against, in GB; nil: half of the memory available at load.
    public var memoryGB: Double?
    /// The GEMMs' precision: f32, or bf16 (bf16 weight matrices, f32 accumulation).
    public var precision = Precision.f32
    /// `keywords.NAME`: vector NAME's keyword list for `compose route=keyword`.
    public var keywords: [String: [String]] = [:]

    public init() {}

    /// Sets one key from its text, as a script writes it; a bad key or value is refused with what was expected.
    public mutating func set(_ key: String, _ value: String) throws {
        func bad(_ want: String) -> EngineError { .invalidArgument("setting '\(key)' must be \(want), got '\(value)'") }
        switch key {
        case "threads": guard let n = Int(value), n >= 1 else { throw bad("a positive integer") }; threads = n
        case "seed": guard let n = Int(value), n >= 0 else { throw bad("an integer ≥ 0") }; seed = n
        case "data": data = (value as NSString).expandingTildeInPath
        case "models": models = (value as NSString).expandingTildeInPath
        case "out": out = value
        case "plot": guard let p = PlotMode(rawValue: value) else { throw bad(PlotMode.allCases.map { $0.rawValue }.joined(separator: "|")) }; plot = p
        case "cache_gb": guard let g = Double(value), g > 0, g.isFinite else { throw bad("a positive number") }; cacheGB = g
        case "spill": guard let p = SpillPolicy(rawValue: value) else { throw bad(SpillPolicy.allCases.map { $0.rawValue }.joined(separator: "|")) }; spill = p
        case "weights": guard let w = WeightSetting(rawValue: value) else { throw bad(WeightSetting.allCases.map { $0.rawValue }.joined(separator: "|")) }; weights = w
        case "memory_gb": guard let g = Double(value), g > 0, g.isFinite else { throw bad("a positive number") }; memoryGB = g
        case "precision": guard let p = Precision(rawValue: value) else { throw bad(Precision.allCases.map { $0.rawValue }.joined(separator: "|")) }; precision = p
        default:
            guard key.hasPrefix("keywords."), key.count > "keywords.".count else {
                throw EngineError.invalidArgument("unknown setting '\(key)'; settings: " + (CommandTable.spec("set")?.named.map { $0.name } ?? []).joined(separator: ", "))
            }
            keywords[String(key.dropFirst("keywords.".count))] = SessionSettings.keywordList(value)
        }
    }

    /// A keyword setting as a list: split at commas when it has any (so phrases keep their spaces),
    /// else at spaces; trimmed, empty entries dropped.
    public static func keywordList(_ s: String) -> [String] {
        s.split(whereSeparator: { s.contains(",") ? $0 == "," : $0 == " " }).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// Every setting as text (nil-valued ones as "(default)"), for `set` with no arguments, the notebook and its JSON.
    public var entries: [(key: String, value: String)] {
        [("threads", threads.map(String.init) ?? "(all cores)"), ("seed", String(seed)), ("data", data ?? "(search: \(Dataset.defaultSearchDirs.joined(separator: ", ")))"),
         ("models", models ?? "(default cache)"), ("out", out), ("plot", plot.rawValue), ("cache_gb", String(cacheGB)), ("spill", spill.rawValue),
         ("weights", weights.rawValue), ("memory_gb", memoryGB.map { String($0) } ?? "(half of available memory)"), ("precision", precision.rawValue)]
            + keywords.keys.sorted().map { ("keywords.\($0)", keywords[$0, default: []].joined(separator: ", ")) }
    }

    /// The settings changed from their defaults, as text (what a notebook records).
    public var changed: [(key: String, value: String)] {
        let d = SessionSettings().entries
        return entries.filter { e in !d.contains { $0.key == e.key && $0.value == e.value } }
    }
}
