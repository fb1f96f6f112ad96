import Engine
/// The type an argument must have.
public enum ParamType: Equatable {
    case int(min: Int, max: Int)
    case float(min: Double, max: Double)
    case word          // a bare name (model, task, variable)
    case text          // a word or a quoted string
    case path
    case choice([String])
    case layers        // all | A..B | a,b,c | N
    case layerOrBest   // best | N
    case names         // name | a,b,c
    case numbers       // x | a,b,c (any numbers, e.g. scales)
    case intOr(min: Int, max: Int, [String])   // an integer in range, or one of these words

    var label: String {
        switch self {
        case .int(let a, let b): return "integer \(a)..\(b)"
        case .float(let a, let b): return "number \(a)..\(b)"
        case .word: return "name"
        case .text: return "text"
        case .path: return "path"
        case .choice(let c): return c.joined(separator: "|")
        case .layers: return "all | A..B | a,b,c | N | P%..Q% | p%,q%"
        case .layerOrBest: return "best | N"
        case .names: return "name | a,b,c"
        case .numbers: return "number | a,b,c"
        case .intOr(let a, let b, let w): return "integer \(a)..\(b) | " + w.joined(separator: " | ")
        }
    }
}

/// One argument of a command: its name, type, default and meaning.
public struct ParamSpec {
    public let name: String
    public let type: ParamType
    /// The default as a value: the one place it is stored (handlers read it through `Session.arg`,
    /// `help` prints it). Nil when the default is not a value (e.g. "all cores", "the last sweep's").
    public let value: Value?
    /// The default as `help` shows it.
    public let defaultValue: String?
    public let help: String
    /// What completes this argument in the REPL.
    public let completes: CompletionKind
    /// An argument whose default is described in words (or that has none).
    public init(_ name: String, _ type: ParamType, default d: String? = nil, _ help: String, completes: CompletionKind = .none) {
        self.name = name; self.type = type; value = nil; defaultValue = d; self.help = help; self.completes = completes
    }
    /// An argument whose default is a value.
    public init(_ name: String, _ type: ParamType, value v: Value, _ help: String, completes: CompletionKind = .none) {
        self.name = name; self.type = type; value = v; defaultValue = v.description; self.help = help; self.completes = completes
    }
}

public enum CompletionKind { case none, model, task, file, command, variable, setting }

/// A command of the language: drives parsing checks, `help` and completion.
public struct CommandSpec {
    public let name: String
    public let summary: String
    public let positional: [ParamSpec]
    public let requiredPositionals: Int
    public let named: [ParamSpec]
    public let examples: [String]
    /// Named arguments may be any key (e.g. `set`).
    public let openKeys: Bool
    /// The last positional argument may repeat (`compose A B C`).
    public var variadic: Bool = false
    /// The handler: checks what the table cannot (a model loaded, a vector's width), does the work, reports.
    let run: (Session) -> (Statement) throws -> Void
}

/// The commands the interpreter implements, in help order.
public enum CommandTable {
    public static let commands: [CommandSpec] = [
        CommandSpec(name: "load", summary: "load a model by name or path (GGUF file or Hugging Face directory), or a saved vector (.safetensors)",
                    positional: [ParamSpec("model", .text, "smollm2-135m, gemma3-270m, qwen2.5-coder-0.5b, a HF name, a path, or a vector file", completes: .model)],
                    requiredPositionals: 1, named: [ParamSpec("as", .word, default: "the saved name", "name for a loaded vector"),
                                                    ParamSpec("weights", .choice(SessionSettings.WeightSetting.allCases.map { $0.rawValue }), default: "the weights setting (auto)",
                                                              "f32, compact (as stored, same results, less memory) or auto"),
                                                    ParamSpec("precision", .choice(Precision.allCases.map { $0.rawValue }), default: "the precision setting (f32)",
                                                              "f32, or bf16 (bf16 weight matrices and GEMMs, f32 accumulation)")],
                    examples: ["load smollm2-135m", "load qwen2.5-coder-0.5b weights=compact", "load qwen2.5-coder-0.5b precision=bf16", "load ~/models/my-model.gguf", "load runs/vectors/hs12.safetensors as hs"], openKeys: false, run: Session.load),
        CommandSpec(name: "eval", summary: "score a task lm-eval style: multiple choice (acc, acc_norm), GSM8K by generation (exact match, strict and flexible), or a CAA behaviour (A/B probability by scale)",
                    positional: [ParamSpec("task", .text, "hellaswag, arc-challenge, arc-easy, gsm8k, caa/BEHAVIOUR (its A/B test set), or a .jsonl file", completes: .task)],
                    requiredPositionals: 1,
                    named: [ParamSpec("limit", .int(min: 1, max: 10_000_000), default: "all", "score only the first N items"),
                            ParamSpec("offset", .int(min: 0, max: 10_000_000), value: .number(0), "skip the first N items"),
                            ParamSpec("log", .path, default: nil, "write one JSONL line per item (multiple choice: doc, gold, ll, pred, pred_norm; gsm8k: doc, prompt, generated, strict, flexible, target, exact_match_strict, exact_match_flexible)", completes: .file),
                            ParamSpec("with", .names, default: nil, "steer with this vector (at its layer); caa/BEHAVIOUR: one or more vectors, a curve each", completes: .variable),
                            ParamSpec("scale", .numbers, default: "-2,-1,0,1,2 with a vector", "caa/BEHAVIOUR: multiples of each vector to score (0: the base model)"),
                            ParamSpec("lmeval", .path, default: nil, "also write what lm-eval 0.4 --output_path DIR --log_samples writes: DIR/MODEL/results_TIME.json and samples_TASK_TIME.jsonl", completes: .file),
                            ParamSpec("shots", .intOr(min: 0, max: 64, ["fixed"]), default: "gsm8k 5, multiple choice 0",
                                      "solved examples before each item, drawn as lm-eval draws them (multiple choice: from the same file, never the item itself; gsm8k: from its train split); gsm8k fixed: one set for all (shared prefix, not lm-eval-comparable)"),
                            ParamSpec("max_tokens", .int(min: 1, max: 32_768), value: .number(Double(GSM8K.maxTokens)), "gsm8k: new tokens per problem at most")],
                    examples: ["eval hellaswag limit=200", "eval arc-challenge limit=100 log=out/arc.jsonl", "eval hellaswag with hs12",
                               "eval arc-easy shots=5 limit=100", "eval gsm8k limit=40 log=out/gsm8k.jsonl", "eval arc-challenge lmeval=out/lmeval",
                               "eval caa/sycophancy with syc,syc_pca scale=-1,0,1"], openKeys: false, run: Session.eval),
        CommandSpec(name: "generate", summary: "greedy continuation of a prompt, printed as it is produced",
                    positional: [ParamSpec("prompt", .text, "the text to continue (quote it)")],
                    requiredPositionals: 1,
                    named: [ParamSpec("max_tokens", .int(min: 1, max: 32_768), value: .number(128), "new tokens at most"),
                            ParamSpec("with", .word, default: nil, "steer with this vector at every position", completes: .variable)],
                    examples: ["generate \"The capital of France is\"", "generate \"Question: 2+3=?\\nAnswer:\" max_tokens=20 with math"], openKeys: false, run: Session.generate),
        CommandSpec(name: "sweep", summary: "train a steering vector at every requested layer; the validation layer curve and best layer",
                    positional: [ParamSpec("task", .text, "hellaswag, arc-challenge, arc-easy, gsm8k, or a .jsonl file", completes: .task)],
                    requiredPositionals: 1, named: steeringParams(epochs: 3) + [
                        ParamSpec("layers", .layers, default: "all", "layers to train at (0-based block outputs)"),
                        ParamSpec("screen", .int(min: 0, max: 10_000), value: .number(8), "items for the one-pass gradient screen (0: off)"),
                        ParamSpec("method", .choice(["train"] + ExtractionMethod.allCases.map { $0.rawValue }), value: .word("train"),
                                  "train: gradient descent per layer; mean, pca: extract from the training split (no training), each layer scored on validation at scale ±1")],
                    examples: ["sweep hellaswag layers all", "r = sweep arc-easy layers 4..20 epochs=2 train=48 val=48", "sweep caa/sycophancy layers 2..28 method=mean"], openKeys: false, run: Session.sweep),
        CommandSpec(name: "grid", summary: "the seed's search: layer × learning rate × epoch cap, sized and timed before it trains; the best cell on validation, its test split once",
                    positional: [ParamSpec("task", .text, "a multiple-choice task: hellaswag, arc-challenge, arc-easy, caa/BEHAVIOUR, or a .jsonl file", completes: .task)],
                    requiredPositionals: 1,
                    named: [ParamSpec("layers", .layers, default: "all", "layers, also as shares of depth (10%..90%, 25%,50%,75%)"),
                            ParamSpec("lr", .numbers, default: "1e-4,5e-4,1e-3,2e-3", "learning rates"),
                            ParamSpec("epochs", .numbers, default: "5,10,15,20", "epoch caps (early stopping within each; every cap is read from one training to the largest)"),
                            ParamSpec("budget", .text, default: "none", "refuse a plan estimated over this long (90s, 30m, 2h, 1h30m), saying what fits"),
                            ParamSpec("shrink", .choice(["yes", "no"]), value: .word("no"), "over budget: drop the most expensive values until the plan fits, and say which"),
                            ParamSpec("as", .word, default: "TASK-grid", "name for the best cell's vector")]
                        + steeringParams(epochs: 20).filter { !["epochs", "lr", "max_tokens"].contains($0.name) },
                    examples: ["grid arc-easy layers=10%..90% lr=1e-4,5e-4,1e-3,2e-3 epochs=5,10,15,20 budget=30m",
                               "grid hellaswag layers 25%,50%,75% lr=1e-3,5e-3 epochs=2,4 train=48 val=48 budget=10m shrink=yes"],
                    openKeys: false, run: Session.grid),
        CommandSpec(name: "train", summary: "train a steering vector at one layer with early stopping; report it once on the test split",
                    positional: [ParamSpec("task", .text, default: "the last sweep's", "task to train on", completes: .task)],
                    requiredPositionals: 0, named: steeringParams(epochs: 10) + [
                        ParamSpec("layer", .layerOrBest, default: "best", "layer (best: the last sweep's best layer)"),
                        ParamSpec("as", .word, default: "TASK-LN", "name for the trained vector"),
                        ParamSpec("baseline", .int(min: 0, max: 64), value: .number(5), "also score a K-shot prompt (no vector) on the same test items (0: skip)"),
                        ParamSpec("extracted", .choice(["yes", "no"]), value: .word("yes"),
                                  "also score the mean-difference vector extracted at the same layer from the same training split (multiple choice)")],
                    examples: ["train lr=1e-3 patience=3", "train hellaswag layer=12 seeds=3 as hs12", "train gsm8k layer=15 select=loss as math"], openKeys: false, run: Session.train),
        CommandSpec(name: "extract", summary: "extract a steering vector without training: CAA's mean difference or repeng's PCA of last-token activations on contrastive pairs",
                    positional: [ParamSpec("source", .text, "caa/BEHAVIOUR (its generate pairs) or a multiple-choice task (gold vs each wrong choice, training split)", completes: .task)],
                    requiredPositionals: 1,
                    named: [ParamSpec("layer", .int(min: 0, max: 100_000), default: nil, "the block after which the vector is read (and added)"),
                            ParamSpec("layers", .layers, default: nil, "several layers at once: one vector steering all of them (a control vector)"),
                            ParamSpec("method", .choice(ExtractionMethod.allCases.map { $0.rawValue }), value: .word("mean"),
                                      "mean: mean of positive − negative (CAA, steering-vectors); pca: first principal component of the differences (repeng pca_diff, unit norm)"),
                            ParamSpec("limit", .int(min: 1, max: 1_000_000), default: "all", "use only the first N pairs (items)"),
                            ParamSpec("as", .word, default: "SOURCE-METHOD-LN", "name for the vector"),
                            ParamSpec("train", .int(min: 1, max: 1_000_000), value: .number(64), "multiple choice: training items (seeded split, as train splits it)"),
                            ParamSpec("val", .int(min: 1, max: 1_000_000), value: .number(64), "multiple choice: validation items of the split"),
                            ParamSpec("test", .int(min: 0, max: 1_000_000), value: .number(200), "multiple choice: test items of the split")],
                    examples: ["extract caa/sycophancy layer=12 as syc", "extract caa/sycophancy layers 10..14 method=pca limit=200", "extract hellaswag layer=12 as hs_mean"],
                    openKeys: false, run: Session.extract),
        CommandSpec(name: "explain", summary: "what a vector means: tokens it promotes and suppresses (logit lens), its norm against the residual stream, cosine with every other vector",
                    positional: [ParamSpec("name", .word, "vector name", completes: .variable)], requiredPositionals: 1,
                    named: [ParamSpec("top", .int(min: 1, max: 1000), value: .number(20), "tokens to list each way")],
                    examples: ["explain syc", "e = explain hs12 top=10", "plot e"], openKeys: false, run: Session.explain),
        CommandSpec(name: "plot", summary: "chart a sweep (layer curve with 95% band, ‖v‖/‖h‖, epochs, gradient screen) or a train result (loss and validation per epoch)",
                    positional: [ParamSpec("name", .word, default: "_", "a sweep or train result variable", completes: .variable)],
                    requiredPositionals: 0,
                    named: [ParamSpec("what", .choice(["all", "layers", "norms", "epochs", "screen", "heatmap"]), default: "all", "which sweep charts (heatmap: layer × epoch); behaviour, extraction-sweep and explain results have one chart each"),
                            ParamSpec("to", .path, default: "the run directory", "where PNG and SVG files go", completes: .file)],
                    examples: ["r = sweep hellaswag layers all", "plot r", "plot r what=layers to=charts", "t = train hellaswag layer=12", "plot t"], openKeys: false, run: Session.plot),
        CommandSpec(name: "report", summary: "write the session so far as a markdown notebook: each command, its output, tables, charts, raw JSON",
                    positional: [ParamSpec("dir", .path, "directory for notebook.md, notebook.json, results/ and charts/", completes: .file)],
                    requiredPositionals: 1,
                    named: [ParamSpec("title", .text, default: "AFT session", "the notebook's title"),
                            ParamSpec("overwrite", .choice(["yes", "no"]), value: .word("no"),
                                      "replace the notebook DIR already holds (its notebook.md, notebook.json, results/ and charts/); without it a non-empty DIR is refused")],
                    examples: ["report notebooks/today", "report out/hs-study title=\"HellaSwag layer study\""], openKeys: false, run: Session.report),
        CommandSpec(name: "save", summary: "save a vector to safetensors with its provenance",
                    positional: [ParamSpec("name", .word, "vector name", completes: .variable)], requiredPositionals: 1,
                    named: [ParamSpec("to", .path, default: "OUT/vectors/NAME.safetensors", "file to write", completes: .file)],
                    examples: ["save hs12", "save hs12 to vectors/hs12.safetensors"], openKeys: false, run: Session.saveVector),
        CommandSpec(name: "export", summary: "export a vector as a llama.cpp control vector (GGUF, direction.N)",
                    positional: [ParamSpec("name", .word, "vector name", completes: .variable), ParamSpec("format", .choice(["gguf"]), "output format"),
                                 ParamSpec("path", .path, "file to write", completes: .file)],
                    requiredPositionals: 3, named: [], examples: ["export hs12 gguf hs12.gguf"], openKeys: false, run: Session.exportVector),
        CommandSpec(name: "compose", summary: "interference of task vectors: each alone, all summed, and routed per item, on every task's test split",
                    positional: [ParamSpec("vector", .word, "vector names (each at its own layer; two or more to see interference)", completes: .variable)],
                    requiredPositionals: 1,
                    named: [ParamSpec("tasks", .names, default: "the vectors' tasks", "more tasks to measure on (columns)", completes: .task),
                            ParamSpec("limit", .int(min: 1, max: 1_000_000), default: "all", "score only the first N test items of each task"),
                            ParamSpec("norm", .choice(["yes", "no"]), value: .word("yes"), "compare acc_norm (yes) or acc (no); on gsm8k flexible (yes) or strict (no) exact match"),
                            ParamSpec("route", .choice(RouteSelection.allCases.map { $0.rawValue }), value: .word(RouteSelection.all.rawValue),
                                      "rows beside each vector: keyword (each vector's keywords, set keywords.NAME=…), centroid (nearest task centroid of context residuals), sum (all added), all"),
                            ParamSpec("baseline", .int(min: 0, max: 64), value: .number(5), "also a K-shot prompt row (no vector) on the same items (0: skip)"),
                            ParamSpec("max_tokens", .int(min: 1, max: 32_768), value: .number(Double(GSM8K.maxTokens)), "gsm8k: new tokens per generated answer")],
                    examples: ["compose hs arc", "c = compose hs arc tasks=arc-challenge limit=100", "plot c", "compose math logic common route=keyword limit=50"],
                    openKeys: false, variadic: true, run: Session.compose),
        CommandSpec(name: "vectors", summary: "list the session's steering vectors",
                    positional: [], requiredPositionals: 0, named: [], examples: ["vectors"], openKeys: false, run: Session.listVectors),
        CommandSpec(name: "set", summary: "change session settings",
                    positional: [], requiredPositionals: 0,
                    named: [ParamSpec("threads", .int(min: 1, max: 256), default: "all cores", "BLAS threads"),
                            ParamSpec("seed", .int(min: 0, max: 1 << 31), value: .number(Double(SessionSettings().seed)), "random seed for splits and training"),
                            ParamSpec("data", .path, default: "$AFT_DATA, ./data, ../shared/data, shared/data beside the checkout", "data directory (when set, the only place looked in)", completes: .file),
                            ParamSpec("models", .path, default: "~/.cache/aft/models", "model cache directory", completes: .file),
                            ParamSpec("out", .path, value: .word(SessionSettings().out), "where results and logs are written", completes: .file),
                            ParamSpec("plot", .choice(SessionSettings.PlotMode.allCases.map { $0.rawValue }), value: .word(SessionSettings().plot.rawValue), "charts in the terminal, as files, or both"),
                            ParamSpec("cache_gb", .float(min: 0.01, max: 1024), value: .number(SessionSettings().cacheGB), "memory for the sweep's residual cache"),
                            ParamSpec("spill", .choice(SpillPolicy.allCases.map { $0.rawValue }), value: .word(SessionSettings().spill.rawValue),
                                      "a residual cache over cache_gb: auto/always a scratch file in the run directory; never: recompute per layer group"),
                            ParamSpec("weights", .choice(SessionSettings.WeightSetting.allCases.map { $0.rawValue }), value: .word(SessionSettings().weights.rawValue),
                                      "how a load keeps the weights: f32; compact (as the file stores them, dequantised per GEMM: same results, less memory); auto (f32 when it fits memory_gb)"),
                            ParamSpec("memory_gb", .float(min: 0.01, max: 65536), default: "half of the memory available at load", "the budget weights=auto plans against"),
                            ParamSpec("precision", .choice(Precision.allCases.map { $0.rawValue }), value: .word(SessionSettings().precision.rawValue),
                                      "the GEMMs' precision: f32, or bf16 (weight matrices in bf16, f32 accumulation, AVX512_BF16 through oneDNN; close to f32, faster, half the memory); reloads a loaded model"),
                            ParamSpec("keywords.NAME", .text, default: "math: calculate, solve; logic: why, because",
                                      "compose route=keyword: the keywords that send an item to vector NAME (comma-separated phrases, or words separated by spaces)")],
                    examples: ["set threads=2 seed=7", "set data=~/data", "set precision=bf16", "set keywords.math=\"calculate, solve, how many\""], openKeys: false, run: Session.set),
        CommandSpec(name: "show", summary: "print a variable, the last result (_), or the loaded model",
                    positional: [ParamSpec("name", .word, default: "_", "variable name, _ or model", completes: .variable)],
                    requiredPositionals: 0, named: [], examples: ["r = eval arc-easy limit=50", "show r"], openKeys: false, run: Session.show),
        CommandSpec(name: "models", summary: "list model names and whether each is available here",
                    positional: [], requiredPositionals: 0, named: [], examples: ["models"], openKeys: false, run: Session.listModels),
        CommandSpec(name: "tasks", summary: "list tasks and their item counts",
                    positional: [], requiredPositionals: 0, named: [], examples: ["tasks"], openKeys: false, run: Session.listTasks),
        CommandSpec(name: "run", summary: "run an .aft script in this session",
                    positional: [ParamSpec("file", .path, "script to run", completes: .file)],
                    requiredPositionals: 1, named: [], examples: ["run examples/quickstart.aft"], openKeys: false, run: Session.runScript),
        CommandSpec(name: "help", summary: "list commands, or describe one",
                    positional: [ParamSpec("command", .word, default: nil, "command to describe", completes: .command)],
                    requiredPositionals: 0, named: [], examples: ["help", "help eval"], openKeys: false, run: Session.help),
    ]

    /// Arguments shared by sweep and train; the hyperparameters' defaults are the engine's own (`TrainConfig`).
    static func steeringParams(epochs: Int) -> [ParamSpec] {
        let d = TrainConfig(), n = { (x: Int) in Value.number(Double(x)) }
        return [ParamSpec("epochs", .int(min: 1, max: 1000), value: n(epochs), "maximum epochs"),
         ParamSpec("lr", .float(min: 1e-8, max: 10), value: .number(d.lr), "Adam learning rate"),
         ParamSpec("patience", .int(min: 1, max: 1000), value: n(d.patience), "stop after this many epochs without a validation gain"),
         ParamSpec("l2", .float(min: 0, max: 1e6), value: .number(d.l2), "L2 penalty on v (added to the loss)"),
         ParamSpec("clip", .float(min: 0, max: 1e6), value: .number(d.clip), "gradient norm clip (0: off)"),
         ParamSpec("seeds", .int(min: 1, max: 100), value: n(d.seeds), "train this many seeds; report each and mean ± sd"),
         ParamSpec("batch", .int(min: 1, max: 4096), value: n(d.batch), "items per step"),
         ParamSpec("loss", .choice(["choice", "lm"]), value: .word(d.loss.rawValue), "choice: cross-entropy over choices; lm: gold continuation NLL"),
         ParamSpec("norm", .choice(["yes", "no"]), value: .word(d.normalize ? "yes" : "no"), "length-normalise choice scores (select on acc_norm)"),
         ParamSpec("select", .choice(SteeringSelection.allCases.map { $0.rawValue }), value: .word(d.select.rawValue),
                   "pick the best epoch on validation by the task's metric (gsm8k: exact match of greedy generations) or by the loss (gsm8k: faster, one generation pass at the end)"),
         ParamSpec("max_tokens", .int(min: 1, max: 32_768), value: .number(Double(GSM8K.maxTokens)), "gsm8k: new tokens per generated answer (validation and test)"),
         ParamSpec("train", .int(min: 1, max: 1_000_000), value: n(64), "training items (seeded split of the task)"),
         ParamSpec("val", .int(min: 1, max: 1_000_000), value: n(64), "validation items (layer, epoch and seed are chosen here)"),
         ParamSpec("test", .int(min: 0, max: 1_000_000), value: n(200), "test items, scored once at the end")]
    }

    public static func spec(_ name: String) -> CommandSpec? { commands.first { $0.name == name } }
    public static var names: [String] { commands.map { $0.name } }

    /// The closest candidate by edit distance, if close enough to be a plausible typo.
    public static func suggest(_ s: String, among: [String]) -> String? {
        let best = among.map { ($0, editDistance(s, $0)) }.min { $0.1 < $1.1 }
        guard let (w, d) = best, d <= max(2, s.count / 3) else { return nil }
        return w
    }

    static func pad(_ s: String, _ w: Int) -> String { s.count >= w ? s + " " : s + String(repeating: " ", count: w - s.count) }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let x = Array(a), y = Array(b)
        if x.isEmpty { return y.count }
        if y.isEmpty { return x.count }
        var prev = Array(0...y.count), cur = prev
        for i in 1...x.count {
            cur[0] = i
            for j in 1...y.count {
                cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1))
            }
            swap(&prev, &cur)
        }
        return prev[y.count]
    }

    /// Folds keyword pairs written without '=' (`layers all`, `as NAME`, `with NAME`, `to PATH`)
    /// into named arguments, for the commands whose spec names that key.
    public static func normalize(_ st: Statement) -> Statement {
        guard let spec = spec(st.command) else { return st }
        var out: [Argument] = []
        var i = 0
        let args = st.args
        while i < args.count {
            let a = args[i]
            if a.key == nil, case .word(let k) = a.value, spec.named.contains(where: { $0.name == k }),
               i + 1 < args.count, args[i + 1].key == nil {
                out.append(Argument(key: k, value: args[i + 1].value, location: a.location, valueLocation: args[i + 1].valueLocation))
                i += 2
            } else { out.append(a); i += 1 }
        }
        return Statement(assignTo: st.assignTo, command: st.command, commandLocation: st.commandLocation, args: out,
                         location: st.location, text: st.text)
    }

    /// Checks a statement against its spec: known command, known keys, positional count, types.
    public static func check(_ st: Statement) throws {
        guard let spec = spec(st.command) else {
            let hint = suggest(st.command, among: names).map { "; did you mean '\($0)'?" } ?? "; type 'help' for the list"
            throw Diagnostic(.usage, "unknown command '\(st.command)'\(hint)", at: st.commandLocation)
        }
        let pos = st.positional
        if pos.count < spec.requiredPositionals {
            throw Diagnostic(.usage, "'\(spec.name)' needs \(spec.positional.prefix(spec.requiredPositionals).map { "<\($0.name)>" }.joined(separator: " ")); e.g. \(spec.examples[0])",
                             at: st.commandLocation)
        }
        if pos.count > spec.positional.count && !spec.variadic {
            let extra = pos[spec.positional.count]
            throw Diagnostic(.usage, "'\(spec.name)' takes \(spec.positional.count) positional argument\(spec.positional.count == 1 ? "" : "s"); unexpected '\(extra.value)'",
                             at: extra.location)
        }
        // A variadic command's extra positionals have the last positional's type.
        for (i, a) in pos.enumerated() where !spec.positional.isEmpty { try checkType(a, spec.positional[min(i, spec.positional.count - 1)]) }
        for a in st.args {
            guard let k = a.key else { continue }
            // A templated key (`keywords.NAME`) matches any key with its prefix.
            guard let p = spec.named.first(where: { $0.name == k || ($0.name.hasSuffix(".NAME") && k.hasPrefix($0.name.dropLast(4)) && k.count > $0.name.count - 4) }) else {
                if spec.openKeys { continue }
                let hint = suggest(k, among: spec.named.map { $0.name }).map { "; did you mean '\($0)='?" }
                    ?? (spec.named.isEmpty ? "; it takes none" : "; valid: " + spec.named.map { $0.name }.joined(separator: ", "))
                throw Diagnostic(.usage, "'\(spec.name)' has no argument '\(k)'\(hint)", at: a.location)
            }
            try checkType(a, p)
        }
    }

    static func checkType(_ a: Argument, _ p: ParamSpec) throws {
        func bad(_ why: String) -> Diagnostic { Diagnostic(.usage, "argument '\(p.name)' \(why)", at: a.valueLocation) }
        switch (p.type, a.value) {
        case (.int(let lo, let hi), .number(let d)):
            guard d == d.rounded() else { throw bad("must be an integer, got \(a.value)") }
            guard d >= Double(lo) && d <= Double(hi) else { throw bad("must be in \(lo)..\(hi), got \(a.value)") }
        case (.int, _): throw bad("must be an integer, got '\(a.value)'")
        case (.float(let lo, let hi), .number(let d)):
            guard d >= lo && d <= hi else { throw bad("must be in \(lo)..\(hi), got \(a.value)") }
        case (.float, _): throw bad("must be a number, got '\(a.value)'")
        case (.word, .word), (.text, .word), (.text, .string), (.path, .word), (.path, .string): break
        case (.choice(let c), .word(let w)):
            guard c.contains(w) else {
                throw bad("must be one of \(c.joined(separator: ", "))" + (suggest(w, among: c).map { "; did you mean '\($0)'?" } ?? ""))
            }
        case (.layers, .word("all")), (.layers, .range), (.layers, .number), (.layerOrBest, .word("best")), (.layerOrBest, .number): break
        case (.layers, .word(let w)) where LayerPercent.parse(w) != nil: break
        case (.layers, .list(let l)) where l.allSatisfy({ if case .number = $0 { return true }; if case .word(let w) = $0 { return LayerPercent.parse(w) != nil }; return false }): break
        case (.layers, .list(let l)) where l.allSatisfy({ if case .number = $0 { return true }; return false }): break
        case (.names, .word): break
        case (.numbers, .number): break
        case (.numbers, .list(let l)) where !l.isEmpty && l.allSatisfy({ if case .number = $0 { return true }; return false }): break
        case (.intOr(let lo, let hi, _), .number(let d)):
            guard d == d.rounded(), d >= Double(lo) && d <= Double(hi) else { throw bad("must be an integer in \(lo)..\(hi), got \(a.value)") }
        case (.intOr(_, _, let words), .word(let w)):
            guard words.contains(w) else { throw bad("must be an integer or one of \(words.joined(separator: ", ")), got '\(w)'") }
        case (.names, .list(let l)) where l.allSatisfy({ if case .word = $0 { return true }; return false }): break
        default: throw bad("must be a \(p.type.label), got '\(a.value)'")
        }
    }

    /// `help` text: all commands, or one command's arguments, defaults and examples.
    public static func help(_ name: String?) -> String {
        guard let name = name else {
            let w = (commands.map { $0.name.count }.max() ?? 4) + 2
            var out = "Commands:\n"
            for c in commands { out += "  " + pad(c.name, w) + c.summary + "\n" }
            out += "\nStatements are separated by newlines or ';'; '#' starts a comment.\n"
            out += "Assign a result with NAME = COMMAND …; '_' is the last result. 'help COMMAND' for details."
            return out
        }
        guard let s = spec(name) else {
            return "unknown command '\(name)'" + (suggest(name, among: names).map { "; did you mean '\($0)'?" } ?? "")
        }
        var out = "\(s.name) — \(s.summary)\n\nUsage: \(s.name)"
        for (i, p) in s.positional.enumerated() { out += i < s.requiredPositionals ? " <\(p.name)>" : " [\(p.name)]" }
        if s.variadic, let p = s.positional.last { out += " [\(p.name)…]" }
        for p in s.named { out += " [\(p.name)=…]" }
        out += "\n"
        let all = s.positional + s.named
        if !all.isEmpty {
            out += "\nArguments:\n"
            for p in all {
                out += "  " + pad(p.name, 10) + " \(p.type.label); \(p.help)"
                if let d = p.defaultValue { out += " (default: \(d))" }
                out += "\n"
            }
        }
        out += "\nExamples:\n" + s.examples.map { "  " + $0 }.joined(separator: "\n")
        return out
    }
}
