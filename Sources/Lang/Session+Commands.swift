import Engine
import Foundation

extension Session {
    func str(_ a: Argument?) -> String? {
        guard let a = a else { return nil }
        switch a.value {
        case .word(let w): return w
        case .string(let s): return s
        default: return a.value.description
        }
    }
    func int(_ a: Argument?) -> Int? { int(a?.value) }
    func int(_ v: Value?) -> Int? { if case .number(let d)? = v, d.isFinite, abs(d) < 1e15 { return Int(d) }; return nil }
    func number(_ v: Value?) -> Double? { if case .number(let d)? = v { return d }; return nil }
    func word(_ v: Value?) -> String? {
        switch v { case .word(let w)?: return w; case .string(let s)?: return s; case let x?: return x.description; case nil: return nil }
    }

    /// The names of a `name | a,b,c` argument (none when absent).
    func words(_ a: Argument?) -> [String] {
        switch a?.value {
        case .word(let w)?, .string(let w)?: return [w]
        case .list(let l)?: return l.compactMap { if case .word(let w) = $0 { return w }; return nil }
        default: return []
        }
    }

    /// The numbers of a `x | a,b,c` argument (none when absent).
    func numbers(_ a: Argument?) -> [Double] {
        switch a?.value {
        case .number(let d)?: return [d]
        case .list(let l)?: return l.compactMap { if case .number(let d) = $0 { return d }; return nil }
        default: return []
        }
    }

    /// Writes a `log=` file whole, creating its directory: a failure leaves any existing file as it was
    /// and is an error at the statement's `log` argument.
    func writeLog(_ text: String, to p: String, _ s: Statement) throws {
        do {
            let dir = (p as NSString).deletingLastPathComponent
            if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
            try writeAtomically(Data(text.utf8), to: p)
        } catch {
            throw Diagnostic(.runtime, "cannot write log file '\(p)': \(error.localizedDescription)", at: s.named("log")?.valueLocation)
        }
    }

    /// Argument `name` of `s` as given, else its default from the command table (the one place defaults live).
    func arg(_ s: Statement, _ name: String) -> Value? {
        s.named(name)?.value ?? CommandTable.spec(s.command)?.named.first { $0.name == name }?.value
    }

    /// Runs a checked statement through its command's handler (the command table names it).
    func execute(_ s: Statement) throws {
        guard let spec = CommandTable.spec(s.command) else {
            throw Diagnostic(.usage, "unknown command '\(s.command)'", at: s.commandLocation)
        }
        try spec.run(self)(s)
    }

    /// Positional argument `i` as text; a missing one is a usage error naming it (the checker
    /// normally refuses such a statement first).
    func positional(_ s: Statement, _ i: Int) throws -> String {
        guard i < s.positional.count, let v = str(s.positional[i]) else {
            let spec = CommandTable.spec(s.command)
            let name = spec.flatMap { i < $0.positional.count ? $0.positional[i].name : $0.positional.last?.name } ?? "argument \(i + 1)"
            throw Diagnostic(.usage, "'\(s.command)' needs <\(name)>", at: s.commandLocation)
        }
        return v
    }

    /// `show [NAME]`: a variable, `_`, or `model`.
    func show(_ s: Statement) throws {
        let name = str(s.positional.first) ?? "_"
        if name == "model" {
            output(model.map { modelSummary($0) } ?? "no model loaded; try: load smollm2-135m")
            return
        }
        guard let v = variables[name] else {
            let hint = CommandTable.suggest(name, among: Array(variables.keys)).map { "; did you mean '\($0)'?" } ?? ""
            throw Diagnostic(.runtime, "no variable '\(name)'\(hint)", at: s.positional.first?.location ?? s.location)
        }
        present(v.result, s)
    }

    /// `models`: every registry name and where it is found here.
    func listModels(_ s: Statement) throws {
        let reg = registry
        var lines: [String] = []
        for n in ModelRegistry.allNames {
            let where_: String
            do {
                switch try reg.resolve(n, download: false) { case .gguf(let p), .hfDirectory(let p): where_ = p }
            } catch {
                where_ = ModelRegistry.hfModels[n].map { "Hugging Face \($0): downloads on load" } ?? "not available here"
            }
            lines.append("  " + n.padding(20) + where_)
        }
        output("Models:\n" + lines.joined(separator: "\n"))
    }

    /// `tasks`: every built-in task, its item count and file.
    func listTasks(_ s: Statement) throws {
        var lines: [String] = []
        for t in Dataset.tasks {
            let d = try? Dataset.load(t.name, dataDir: settings.data)
            lines.append("  " + t.name.padding(15) + (d.map { "\($0.count) items  \($0.path)" } ?? "data not found"))
        }
        // CAA behaviours: contrastive pairs to extract or train from, and their A/B test sets (eval).
        for b in CAA.behaviours(dataDir: settings.data) {
            let g = try? CAA.load(b, file: .generate, dataDir: settings.data), t = try? CAA.load(b, file: .test, dataDir: settings.data)
            lines.append("  " + "caa/\(b)".padding(28) + "\(g?.items.count ?? 0) pairs, \(t?.items.count ?? 0) A/B test items")
        }
        output("Tasks:\n" + lines.joined(separator: "\n"))
    }

    /// `run FILE`: a script in this session (nested at most 16 deep).
    func runScript(_ s: Statement) throws {
        let path = (try positional(s, 0) as NSString).expandingTildeInPath
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw Diagnostic(.runtime, "cannot read script '\(path)'", at: s.positional.first?.location)
        }
        guard runDepth < 16 else { throw Diagnostic(.runtime, "scripts nested too deeply (run inside run)", at: s.location) }
        runDepth += 1
        defer { runDepth -= 1 }
        try run(source: text, file: path)
    }

    /// `vectors`: the session's vectors with layer, norm and task.
    func listVectors(_ s: Statement) throws {
        output(vectors.isEmpty ? "no vectors yet; train one with: train TASK layer=N" :
            vectors.keys.sorted().compactMap { k in vectors[k].map { v in
                "  " + k.padding(16) + (v.more.isEmpty ? "layer \(v.layer)" : "layers \(v.layers.map(String.init).joined(separator: ","))") + "  ‖v‖ \(String(format: "%.3f", v.norm))  \(v.metadata["task"] ?? "")" } }.joined(separator: "\n"))
    }

    /// `help [COMMAND]`.
    func help(_ s: Statement) throws {
        if let n = str(s.positional.first), CommandTable.spec(n) == nil {
            throw Diagnostic(.usage, CommandTable.help(n), at: s.positional.first?.valueLocation)
        }
        output(CommandTable.help(str(s.positional.first)))
    }

    func modelSummary(_ m: LanguageModel) -> String {
        let c = m.config
        return "\(m.name): \(c.arch.name), \(c.layers) layers, hidden \(c.hidden), \(c.heads) heads (\(c.kvHeads) kv), vocab \(c.vocabSize)\n  \(m.path)"
            + String(format: "\n  loaded in %.2f s", m.loadSeconds)
            + "\n  weights: \(m.weightMode.rawValue), \(gb(m.transformer.residentWeightBytes)) (\(m.weightReason))"
    }

    func load(_ s: Statement) throws {
        let name = try positional(s, 0)
        let path = (name as NSString).expandingTildeInPath
        var isDir: ObjCBool = false
        if path.hasSuffix(".safetensors"), FileManager.default.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue {
            return try loadVector(path, s)
        }
        // A .gguf file is a model, unless it is a llama.cpp control vector.
        if path.hasSuffix(".gguf"), let g = try? GGUFFile(path: path), g.metadata["general.architecture"]?.string == "controlvector" {
            return try loadVector(path, s)
        }
        if s.named("as") != nil {
            throw Diagnostic(.usage, "'as' names a loaded vector (a .safetensors file); models keep their own name", at: s.named("as")?.location)
        }
        let setting = str(s.named("weights")).flatMap(SessionSettings.WeightSetting.init(rawValue:)) ?? settings.weights
        let precision = str(s.named("precision")).flatMap(Precision.init(rawValue:)) ?? settings.precision
        let m = try loadModel(name, weights: setting, precision: precision, at: s.positional.first?.valueLocation)
        model = m
        output(modelSummary(m))
        store(.model(name: name, summary: modelSummary(m)), s)
    }

    /// Loads model `name` with the weights kept as `weights` asks, in `precision`. bf16 keeps every
    /// matrix in bf16 whatever `weights` says, and falls back to f32 (saying why) where the CPU
    /// cannot run bf16 GEMMs natively.
    func loadModel(_ name: String, weights setting: SessionSettings.WeightSetting, precision: Precision, at loc: SourceLocation?) throws -> LanguageModel {
        var request: LanguageModel.WeightRequest
        switch setting {
        case .f32: request = .mode(.f32)
        case .compact: request = .mode(.compact)
        case .auto:
            let budget = settings.memoryGB.map { Int($0 * 1e9) } ?? (SystemMemory.availableBytes() ?? Int(8e9)) / 2
            request = .auto(budget: budget)
        }
        if precision == .bf16 {
            if BF16.support.available {
                if setting == .compact { output("  note: precision=bf16 keeps the weight matrices in bf16; weights=compact applies to f32 precision") }
                request = .mode(.bf16)
            } else {
                output("  note: precision=bf16 is not available (\(BF16.support.why)); loading in f32")
            }
        }
        // A model fetched from the Hugging Face Hub shows each file's download (MB, MB/s, ETA).
        var reg = registry
        let prog = progressFn(bytes: true)
        reg.onDownload = { file, done, total in prog("downloading \(file)", Int(done), Int(max(total, 1))) }
        do { return try LanguageModel(name: name, registry: reg, weights: request) } catch EngineError.modelNotFound(let n, let looked, let hint)
            where ModelRegistry.ggufModels.contains(where: { $0.name == n }) {
            // The shell's own way to fetch a registry model, and where to point it at another cache.
            throw Diagnostic(.runtime, EngineError.modelNotFound(name: n, lookedIn: looked, hint: hint + "; run scripts/setup (or python3 scripts/fetch_models.py \(n)) to fetch it, or set AFT_MODELS / `set models=DIR` to use another cache").description,
                             at: loc)
        }
    }

    /// `load FILE.safetensors [as NAME]`: a vector written by `save`, with its provenance;
    /// `load FILE.gguf as NAME`: a llama.cpp control vector (every `direction.N` layer).
    func loadVector(_ path: String, _ s: Statement) throws {
        var v: SteeringVector
        if path.hasSuffix(".gguf") {
            let stem = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
            do { v = try SteeringVector.loadControlVector(path, name: stem) } catch {
                throw Diagnostic(.runtime, "\(error)", at: s.positional.first?.valueLocation)
            }
        } else {
            do { v = try SteeringVector.loadSafetensors(path) } catch {
                throw Diagnostic(.runtime, "\(path) is not a steering vector saved by aft (\(error)); a Hugging Face model loads from its directory",
                                 at: s.positional.first?.valueLocation)
            }
        }
        if let n = str(s.named("as")) { v.name = n }
        if unsaved.contains(v.name) {
            throw Diagnostic(.runtime, "vector '\(v.name)' was trained in this session and is not saved; loading \(path) would replace it. "
                             + "Load it under another name (load \(path) as NAME) or save '\(v.name)' first", at: s.positional.first?.valueLocation)
        }
        vectors[v.name] = v
        let where_ = v.more.isEmpty ? "layer \(v.layer)" : "layers \(v.layers.map(String.init).joined(separator: ","))"
        var line = "loaded vector \(v.name): \(where_), \(v.values.count) floats, ‖v‖ \(String(format: "%.3f", v.norm))"
        if let t = v.metadata["task"] { line += ", task \(t)" }
        if let m = v.metadata["model"] { line += ", trained on \(m)" }
        if let m = v.metadata["model_hint"] { line += ", llama.cpp control vector for \(m)" }
        output(line)
        if let m = model, v.values.count != m.config.hidden {
            output("  note: \(m.name) has hidden size \(m.config.hidden); this vector needs a model with \(v.values.count)")
        }
    }

    /// `set KEY=VALUE …`, or with no arguments the current settings.
    func set(_ s: Statement) throws {
        if s.args.isEmpty {
            output(settings.entries.map { "  \($0.key) = \($0.value)" }.joined(separator: "\n"))
            return
        }
        // All keys are checked before any is applied: a bad one leaves the settings as they were.
        var next = settings
        for a in s.args {
            guard let k = a.key, let v = str(a) else { continue }
            do { try next.set(k, v) } catch let e as EngineError { throw Diagnostic(.usage, e.description, at: a.valueLocation) }
        }
        let before = settings
        settings = next
        if let n = settings.threads { BLAS.threads = n }   // also the number of scoring workers
        // A loaded model follows a precision change: it is loaded again from its file in the new precision.
        if next.precision == .bf16 && before.precision != .bf16 && !BF16.support.available {
            output("  note: precision=bf16 is not available (\(BF16.support.why)); f32 GEMMs stay")
        } else if next.precision != before.precision, let m = model, (m.weightMode == .bf16) != (next.precision == .bf16) {
            output("reloading \(m.name) in \(next.precision.rawValue)")
            do {
                let r = try loadModel(m.name, weights: settings.weights, precision: next.precision, at: s.named("precision")?.valueLocation)
                model = r
                output(modelSummary(r))
            } catch {
                settings.precision = before.precision
                throw error
            }
        }
    }

    func eval(_ s: Statement) throws {
        guard let m = model else {
            throw Diagnostic(.runtime, "no model loaded; run e.g. 'load smollm2-135m' first", at: s.location)
        }
        let task = try positional(s, 0)
        if let b = CAA.behaviour(task) { return try evalBehaviour(s, behaviour: b, m) }
        if s.named("scale") != nil {
            throw Diagnostic(.usage, "'scale' applies to CAA behaviour tests (eval caa/BEHAVIOUR with NAME scale=…)", at: s.named("scale")?.location)
        }
        let ds = try Dataset.load(task, dataDir: settings.data)
        if ds.layout == .gsm8k { return try evalGSM8K(s, ds) }
        if s.named("max_tokens") != nil {
            throw Diagnostic(.usage, "'max_tokens' applies to generation tasks (gsm8k); \(task) is multiple choice", at: s.named("max_tokens")?.location)
        }
        if case .word(let w)? = s.named("shots")?.value {
            throw Diagnostic(.usage, "shots=\(w) applies to gsm8k; give \(task) a number of shots", at: s.named("shots")?.valueLocation)
        }
        let offset = min(int(arg(s, "offset")) ?? 0, ds.items.count)
        var limit = int(s.named("limit")) ?? ds.items.count
        if smoke { limit = min(limit, 6) }
        // Few-shot: solved examples from the same file before each item, as lm-eval draws them when
        // the few-shot split is the evaluated one (k + 1 drawn, the item itself dropped).
        let shots = int(s.named("shots")) ?? 0
        let items = FewShot.items(Array(ds.items.dropFirst(offset).prefix(limit)), pool: ds.items, shots: shots, sameSplit: true, skip: offset)
        // The vector is checked before the log is opened, so a bad one leaves an existing log as it was.
        let (set, vlabel) = try steeringSet(s, m)
        // The log is written whole at the end, to a temporary file renamed over the target: a failure
        // (a full disk, a read-only directory) leaves any existing log as it was.
        let logPath = str(s.named("log")).map { ($0 as NSString).expandingTildeInPath }
        var logLines: [String] = []
        let scorer = Scorer(model: m)
        var hook: Transformer.ResidualHook? = nil
        var label = shots > 0 ? "\(task) \(shots)-shot" : task
        if !set.isEmpty, let vl = vlabel {
            hook = Transformer.steeringHook(set)
            label += " with \(vl)"
        }
        let t0 = Date()
        progress?.begin("eval \(task)", total: items.count)
        var done = 0
        let scores = scorer.scoreAll(items, context: runContext, hook: hook) { part in
            if logPath != nil { for sc in part { logLines.append(sc.jsonLine + "\n") } }
            done += part.count
            self.progress?.advance(done)
        }
        progress?.end()
        if let p = logPath { try writeLog(logLines.joined(), to: p, s) }
        if scorer.truncatedItems > 0 {
            output("  note: \(scorer.truncatedItems) item(s) longer than \(m.name)'s context of \(scorer.maxLength) tokens were cut from the left, as lm-eval cuts them")
        }
        // lm-eval's files: written now with lmeval=DIR, and by a notebook into its results/.
        let (lines, metrics) = LMEvalOutput.multipleChoice(ds, items: Array(items.prefix(scores.count)), scores: scores)
        let files = LMEvalFiles(model: m, task: task, shots: shots, total: ds.items.count, samples: lines, metrics: metrics,
                                seconds: Date().timeIntervalSince(t0))
        if let dir = str(s.named("lmeval")).map({ ($0 as NSString).expandingTildeInPath }) { try writeLMEval(dir, files, s) }
        var r = EvalResult(task: label, model: m.name, scores: scores, seconds: Date().timeIntervalSince(t0),
                           interrupted: scores.count < items.count)
        r.lmEval = files
        present(r, s)
        // Where the arithmetic broke down, for the first item with a non-finite log-likelihood.
        if let bad = scores.first(where: { $0.ll.contains { !$0.isFinite } }), let item = items.first(where: { $0.doc == bad.doc }),
           let choice = bad.ll.firstIndex(where: { !$0.isFinite }), choice < item.continuations.count {
            let pair = scorer.encodePair(context: item.context, continuation: item.continuations[choice])
            if let place = m.transformer.firstNonFinite(tokens: Array((pair.ctx + pair.cont).suffix(scorer.maxLength)), steering: set) {
                output("  doc \(bad.doc), choice \(choice): \(place)")
            }
        }
        store(.eval(r), s)
    }
}

extension String {
    func padding(_ w: Int) -> String { count >= w ? self + " " : self + String(repeating: " ", count: w - count) }
}
