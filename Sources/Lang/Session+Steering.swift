import Engine
import Foundation

extension Session {
    /// The steering set of a `with=NAME` argument (empty without one), checked against the model.
    func steeringSet(_ s: Statement, _ m: LanguageModel) throws -> (SteeringSet, String?) {
        if case .list? = s.named("with")?.value {
            throw Diagnostic(.usage, "'with' takes one vector here; several (one curve each) are for eval caa/BEHAVIOUR", at: s.named("with")?.valueLocation)
        }
        guard let vn = str(s.named("with")) else { return ([], nil) }
        let vec = try namedVector(vn, at: s.named("with")?.valueLocation)
        try checkVector(vec, on: m, at: s.named("with")?.valueLocation)
        let where_ = vec.more.isEmpty ? "layer \(vec.layer)" : "layers \(vec.layers.map(String.init).joined(separator: ","))"
        return (vec.steering, "\(vn) (\(where_))")
    }

    /// Refuses a vector `m` cannot take: another hidden size, a layer outside the model, or
    /// provenance naming other weights (the sha256 it was trained against is not the loaded file's).
    func checkVector(_ v: SteeringVector, on m: LanguageModel, at loc: SourceLocation?) throws {
        guard v.values.count == m.config.hidden else {
            throw Diagnostic(.runtime, "vector '\(v.name)' has \(v.values.count) values; \(m.name) has hidden size \(m.config.hidden) (trained on another model?)", at: loc)
        }
        for (l, values) in v.steering {
            guard l >= 0 && l < m.config.layers else {
                throw Diagnostic(.runtime, "vector '\(v.name)' is for layer \(l); \(m.name) has layers 0..\(m.config.layers - 1)", at: loc)
            }
            guard values.count == m.config.hidden else {
                throw Diagnostic(.runtime, "vector '\(v.name)' has \(values.count) values at layer \(l); \(m.name) has hidden size \(m.config.hidden)", at: loc)
            }
        }
        if let want = v.metadata["model_sha256"], want.count == 64, let have = try? m.sha256(), want != have {
            let trained = v.metadata["model"].map { " (\($0))" } ?? ""
            throw Diagnostic(.runtime, "vector '\(v.name)' was trained on other weights\(trained), sha256 \(want.prefix(12))…; "
                             + "the loaded \(m.name) is sha256 \(have.prefix(12))…. Load the model it was trained on", at: loc)
        }
    }

    /// Scoring and training workers (`set threads=N`, else every core) and Ctrl-C, for engine work.
    var runContext: RunContext {
        RunContext(workers: settings.threads ?? ProcessInfo.processInfo.activeProcessorCount, shouldStop: { [weak self] in self?.cancelled ?? true })
    }

    var outDir: String { (settings.out as NSString).expandingTildeInPath }

    /// The training configuration from `s`'s arguments; an argument not given keeps the engine's default.
    func config(_ s: Statement) -> TrainConfig {
        var c = TrainConfig()
        c.epochs = int(arg(s, "epochs")) ?? c.epochs
        if smoke { c.epochs = min(c.epochs, 1) }
        c.lr = number(arg(s, "lr")) ?? c.lr
        c.l2 = number(arg(s, "l2")) ?? c.l2
        c.clip = number(arg(s, "clip")) ?? c.clip
        c.patience = int(arg(s, "patience")) ?? c.patience
        c.seeds = smoke ? 1 : int(arg(s, "seeds")) ?? c.seeds
        c.batch = int(arg(s, "batch")) ?? c.batch
        c.loss = word(arg(s, "loss")).flatMap(SteeringLoss.init(rawValue:)) ?? c.loss
        c.normalize = word(arg(s, "norm")).map { $0 == "yes" } ?? c.normalize
        c.select = word(arg(s, "select")).flatMap(SteeringSelection.init(rawValue:)) ?? c.select
        return c
    }

    /// Reuses the session's study when the task, splits and hyperparameters match (its residual cache too).
    func study(_ s: Statement, task: String) throws -> SteeringStudy {
        guard let m = model else { throw Diagnostic(.runtime, "no model loaded; run e.g. 'load smollm2-135m' first", at: s.location) }
        let c = config(s)
        let seed = UInt64(settings.seed)
        // Without explicit sizes, a follow-up on the same task keeps the previous study's splits.
        let prev = study?.task == task ? study?.splits : nil
        func size(_ k: String, _ previous: Int?) -> Int { int(s.named(k)) ?? previous ?? int(arg(s, k)) ?? 0 }
        var tr = size("train", prev?.train.count), va = size("val", prev?.val.count)
        var te = size("test", prev?.test.count)
        if smoke { tr = min(tr, 6); va = min(va, 6); te = min(te, 6) }
        let st: SteeringStudy
        if let old = study, old.model === m, old.task == task, old.requestedConfig == c, old.splits.seed == seed,
           old.splits.train.count == tr, old.splits.val.count == va, old.splits.test.count == te {
            st = old
        } else {
            st = try SteeringStudy(model: m, task: task, dataDir: settings.data, train: tr, val: va, test: te, seed: seed, config: c)
            study = st
        }
        // Settings may have changed since the study was made: apply them on every use.
        st.context = runContext
        st.spill = settings.spill
        st.shard = shard
        return st
    }

    func layerList(_ a: Argument?, layers n: Int) throws -> [Int] {
        var out: [Int]
        switch a?.value {
        case nil, .word("all")?: out = Array(0..<n)
        case .range(let x, let y)?: out = Array(min(x, y)...max(x, y))
        case .number(let d)?: out = [Int(d)]
        case .list(let l)?:
            out = try l.flatMap { v -> [Int] in
                if case .number(let d) = v { return [Int(d)] }
                if case .word(let w) = v { return try LayerPercent.layers(w, of: n, at: a?.valueLocation) }
                return []
            }
        case .word(let w)?: out = try LayerPercent.layers(w, of: n, at: a?.valueLocation)
        default: out = []
        }
        // A fractional layer (`layers 1.5`) is refused, not rounded.
        let given: [Double]
        switch a?.value {
        case .number(let d)?: given = [d]
        case .list(let l)?: given = l.compactMap { if case .number(let d) = $0 { return d }; return nil }
        default: given = []
        }
        if let f = given.first(where: { $0 != $0.rounded() || !$0.isFinite }) {
            throw Diagnostic(.usage, "layer \(f) is not a whole number", at: a?.valueLocation)
        }
        if let bad = out.first(where: { $0 < 0 || $0 >= n }) {
            throw Diagnostic(.runtime, "layer \(bad) is out of range: this model has layers 0..\(n - 1)", at: a?.valueLocation)
        }
        out = Array(Set(out)).sorted()
        if smoke && out.count > 2 { out = [out.first!, out.last!] }
        return out
    }

    func progressFn(bytes: Bool = false) -> (String, Int, Int) -> Void {
        var current = ""
        return { [weak self] label, done, total in
            guard let p = self?.progress else { return }
            if label != current {
                if !current.isEmpty { p.end() }
                current = label
                if bytes { p.beginBytes(label, total: total) } else { p.begin(label, total: total) }
            }
            p.advance(done)
            if done >= total { p.end(); current = "" }
        }
    }

    /// Refuses, before any work, a residual cache that would be held in memory (under cache_gb,
    /// spill not `always`) but does not fit in the memory available, saying what would.
    func checkCacheFits(_ bytes: Int, budget: Int, what: String, at loc: SourceLocation) throws {
        guard settings.spill != .always, bytes <= budget, let avail = availableMemory(), bytes > avail * 9 / 10 else { return }
        var fix = String(format: "set cache_gb=%.2f or lower (the cache then goes to a scratch file in the run directory), spill=always, or fewer layers",
                         Double(avail) * 0.5 / 1_073_741_824)
        if let m = model, m.weightMode == .f32, m.footprint.compactBytes < m.footprint.f32Bytes {
            fix += "; or load \(m.name) weights=compact, which frees \(gb(m.footprint.f32Bytes - m.footprint.compactBytes))"
        }
        throw Diagnostic(.runtime, "\(what)'s residual cache needs \(gb(bytes)) in memory (cache_gb=\(settings.cacheGB)) and \(gb(avail)) is available: " + fix, at: loc)
    }

    func sweep(_ s: Statement) throws {
        let task = try positional(s, 0)
        if let m = word(arg(s, "method")).flatMap(ExtractionMethod.init(rawValue:)) {
            // Extraction reads every layer in one pass: nothing to split, so it is the merge run's.
            if let sh = shard { output("shard \(sh.index)/\(sh.count): skipping line \(s.location.line) (sweep method=\(m.rawValue) has no cells to shard): it runs in the merge run"); return }
            return try sweepExtracted(s, task: task, method: m)
        }
        let st = try study(s, task: task)
        let layers = try layerList(s.named("layers"), layers: st.model.config.layers)
        try prepareGeneration(st, s)
        let budget = Int(settings.cacheGB * 1_073_741_824)
        try checkCacheFits(st.cacheBytes(layers: layers.count), budget: budget, what: "the sweep", at: s.named("layers")?.valueLocation ?? s.location)
        output("sweep \(task): \(layers.count) layers, train \(st.splits.train.count) / val \(st.splits.val.count) / test \(st.splits.test.count) (seed \(st.splits.seed)), \(st.config.description)")
        output(String(format: "  residual cache: %.1f MB per layer (f16)", Double(st.cacheBytes(layers: 1)) / 1e6))
        let r = try st.sweep(layers: layers, outDir: outDir, cacheBudget: budget, screenItems: int(arg(s, "screen")) ?? 0,
                             onLayer: { [weak self] lr, resumed in
                                 self?.output(String(format: "  layer %2d  val %@ %.4f [%.4f, %.4f]  epoch %d  ‖v‖/‖h‖ %.3f  %.1f s%@",
                                                     lr.layer, st.metricName, lr.valMetric, lr.valLow, lr.valHigh, lr.bestEpoch, lr.normRatio,
                                                     lr.seconds, resumed ? "  (resumed from run directory)" : ""))
                             }, onProgress: progressFn(), onNote: { [weak self] in self?.output($0) })
        lastSweep = r
        if let sh = shard {
            output("shard \(sh.index)/\(sh.count): \(r.layers.count) of \(layers.count) layers finished in \(r.runDir) (the merge run, without --shard, reads them all)")
            return
        }
        present(r, s)
        if r.cachePasses > 0 {
            output(String(format: "  residual cache: %.1f MB %@, computed %@", Double(r.cacheBytes) / 1e6,
                          r.cacheOnDisk ? "in a scratch file in the run directory (over cache_gb)" : "in memory",
                          r.cachePasses == 1 ? "once for all layers" : "\(r.cachePasses) times (layer groups; spill=never)"))
        }
        store(.sweep(r), s)
        // A CAA behaviour: the trained vectors' behaviour curve at ±1 too, comparable with method=mean|pca.
        if CAA.behaviour(task) != nil, !r.interrupted, !cancelled, let curve = try trainedBehaviourCurve(st, r) {
            present(curve, s, value: false)
        }
    }

    func train(_ s: Statement) throws {
        guard let m = model else { throw Diagnostic(.runtime, "no model loaded; run e.g. 'load smollm2-135m' first", at: s.location) }
        guard let task = str(s.positional.first) ?? lastSweep?.task else {
            throw Diagnostic(.runtime, "train needs a task (or a sweep first): e.g. train hellaswag layer=12", at: s.location)
        }
        var layer: Int
        switch s.named("layer")?.value {
        case .number(let d)?: layer = Int(d)
        default:
            guard let sw = lastSweep, sw.task == task, let b = sw.bestLayer else {
                throw Diagnostic(.runtime, "layer=best needs a finished sweep of \(task); give layer=N or run 'sweep \(task) layers all'", at: s.location)
            }
            layer = b
        }
        guard layer >= 0 && layer < m.config.layers else {
            throw Diagnostic(.runtime, "layer \(layer) is out of range: this model has layers 0..\(m.config.layers - 1)", at: s.named("layer")?.valueLocation)
        }
        let st = try study(s, task: task)
        let prog = progressFn()
        try prepareGeneration(st, s)
        try st.prepare(layers: [layer]) { prog("caching residuals (layer \(layer))", $0, $1) }
        let (runs, best) = try st.trainSeeds(layer: layer, baseSeed: st.splits.seed &* 7919 &+ UInt64(layer)) { prog("train layer \(layer)", $0, $1) }
        if best.interrupted { output("interrupted: keeping the best weights found so far") }
        for r in runs { if let why = r.nonFinite { output("warning: seed \(r.seed): training stopped: \(why); keeping the best epoch before it") } }
        let name = str(s.named("as")) ?? "\(task)-L\(layer)"
        var meta = st.provenance(layer: layer, run: best)
        meta["selection"] = (runs.count > 1 ? "best of \(runs.count) seeds" : "single seed")
            + (st.config.select == .loss ? ", epoch by validation loss" : ", epoch by validation \(st.metricName)")
        let vec = SteeringVector(name: name, values: best.vector, layer: layer, metadata: meta)
        // The mean-difference vector extracted at the same layer from the same training split (multiple choice).
        let extractedVec = word(arg(s, "extracted")) == "yes" && !cancelled ? try extractedForTrain(st, layer: layer) : nil
        // The test split is scored once: base (no steering), steered, extracted, and the prompting baseline.
        let (baseScores, steeredScores, extractedScores) = try testScores(st, vec, extracted: extractedVec, s)
        let rep = SteeringReport(layer: layer, base: baseScores, steered: steeredScores, vectorNorm: vec.norm,
                                 meanResidualNorm: st.cache?.meanResidualNorm(layer: layer) ?? 0)
        let shots = int(arg(s, "baseline")) ?? 0
        let prompted = shots > 0 && !cancelled ? try promptBaseline(st, shots: shots, count: rep.base.count, s) : nil
        var v = vec
        v.metadata["test_n"] = String(rep.base.count)
        let labels = TrainResult.labels(metricName: st.metricName)
        for (k, sc) in [("base", rep.base), ("steered", rep.steered)] + (prompted.map { [("\(shots)shot", $0)] } ?? []) {
            let e = EvalSummary(sc)
            for (label, norm) in labels { v.metadata["test_\(k)_\(label)"] = String(format: "%.6f", e.metric(norm: norm)) }
        }
        v.metadata["test_mcnemar_p_\(st.metricName)"] = String(format: "%.6g", rep.mcnemar(norm: st.config.normalize))
        v.metadata["mean_residual_norm"] = String(format: "%.6g", rep.meanResidualNorm)
        v.metadata["mean_residual_norm_of"] = "every position of the training and validation items"
        if let e = extractedVec, let sc = extractedScores {
            let es = EvalSummary(sc)
            for (label, norm) in labels { v.metadata["test_extracted_\(label)"] = String(format: "%.6f", es.metric(norm: norm)) }
            v.metadata["test_cosine_extracted"] = String(format: "%.6f", cosineSimilarity(vec.values, e.values))
        }
        vectors[name] = v
        unsaved.insert(name)
        var r = TrainResult(name: name, layer: layer, metricName: st.metricName, runs: runs, selectedSeed: best.seed, report: rep,
                            prompted: prompted, shots: shots, primaryNorm: st.config.normalize)
        if let e = extractedVec, let sc = extractedScores {
            r.extracted = TrainResult.Extracted(scores: sc, norm: e.norm, cosine: cosineSimilarity(vec.values, e.values), pairs: Int(e.metadata["pairs"] ?? "") ?? 0)
        }
        present(r, s)
        store(.train(r), s)
    }

    /// For a generation task: new tokens per answer from `max_tokens=`, checked against the context
    /// before any work. A multiple-choice task refuses `max_tokens=`.
    func prepareGeneration(_ st: SteeringStudy, _ s: Statement) throws {
        guard st.generative else {
            if let a = s.named("max_tokens") {
                throw Diagnostic(.usage, "'max_tokens' applies to generation tasks (gsm8k); \(st.task) is multiple choice", at: a.location)
            }
            return
        }
        st.maxTokens = smoke ? min(int(arg(s, "max_tokens")) ?? GSM8K.maxTokens, 32) : int(arg(s, "max_tokens")) ?? GSM8K.maxTokens
        do { try st.checkGeneration() } catch let e as EngineError {
            throw Diagnostic(.runtime, e.description, at: s.named("max_tokens")?.valueLocation ?? s.location)
        }
    }

    /// Base and steered scores on the study's test split: the cached pair path for multiple
    /// choice, greedy generation (zero-shot prompts) for GSM8K.
    func testScores(_ st: SteeringStudy, _ v: SteeringVector, extracted: SteeringVector? = nil,
                    _ s: Statement) throws -> (base: [ItemScore], steered: [ItemScore], extracted: [ItemScore]?) {
        guard st.generative else {
            // Base, steered and extracted share blocks 0…layer, computed once per item.
            let sets: [SteeringSet] = [[], [(v.layer, v.values)]] + (extracted.map { [[($0.layer, $0.values)]] } ?? [])
            let items = st.testItems, prog = progressFn()
            var done = 0
            prog("test split", 0, items.count)
            let per = Scorer(model: st.model).scoreSets(items, sets: sets, context: runContext) { done += $0.count; prog("test split", done, items.count) }
            if per.count < items.count { prog("test split", items.count, items.count) }
            return (per.map { $0[0] }, per.map { $0[1] }, extracted == nil ? nil : per.map { $0[2] })
        }
        let base = try solve(st, st.splits.test, set: [], label: "test: base", s)
        let steered = try solve(st, Array(st.splits.test.prefix(base.count)), set: [(v.layer, v.values)], label: "test: steered", s)
        return (Array(base.prefix(steered.count)), steered, nil)
    }

    /// The `shots`-shot prompting baseline (no vector) on the first `count` test items: examples from
    /// the study's train split for multiple choice, lm-eval's GSM8K prompts (train file) for GSM8K.
    func promptBaseline(_ st: SteeringStudy, shots: Int, count: Int, _ s: Statement) throws -> [ItemScore] {
        let test = Array(st.splits.test.prefix(count))
        if st.generative {
            let prompts: [String]
            do { prompts = try st.fewShotPrompts(test, shots: shots) } catch {
                throw Diagnostic(.runtime, "the \(shots)-shot baseline needs GSM8K's train split: \(error)", at: s.named("baseline")?.valueLocation ?? s.location)
            }
            return try solve(st, test, set: [], prompts: prompts, label: "test: \(shots)-shot prompt", s)
        }
        let items = FewShot.items(Array(st.testItems.prefix(count)), pool: st.splits.train.map { st.dataset.items[$0] }, shots: shots, sameSplit: false)
        let prog = progressFn()
        var done = 0
        prog("test: \(shots)-shot prompt", 0, items.count)
        return Scorer(model: st.model).scoreAll(items, context: runContext, onChunk: { part in
            done += part.count; prog("test: \(shots)-shot prompt", done, items.count)
        })
    }

    /// Greedy answers of a generation study's problems at `idx` as verdict scores, with progress.
    func solve(_ st: SteeringStudy, _ idx: [Int], set: SteeringSet, prompts: [String]? = nil, label: String, _ s: Statement) throws -> [ItemScore] {
        let prog = progressFn()
        var done = 0
        prog(label, 0, idx.count)
        do {
            let r = try st.solve(idx, set: set, prompts: prompts) { _ in done += 1; prog(label, done, idx.count) }
            if r.count < idx.count { prog(label, idx.count, idx.count) }
            return r.map { $0.itemScore }
        } catch let e as EngineError {
            prog(label, idx.count, idx.count)
            throw Diagnostic(.runtime, e.description, at: s.location)
        }
    }

    /// The vector named by the first positional argument.
    func vector(_ s: Statement) throws -> SteeringVector { try namedVector(try positional(s, 0), at: s.positional.first?.valueLocation) }

    /// The session's vector `n`; an unknown name is an error at `loc` suggesting the closest one.
    func namedVector(_ n: String, at loc: SourceLocation?) throws -> SteeringVector {
        guard let v = vectors[n] else {
            throw Diagnostic(.runtime, "no vector '\(n)'" + (CommandTable.suggest(n, among: Array(vectors.keys)).map { "; did you mean '\($0)'?" } ?? "; see 'vectors'"),
                             at: loc)
        }
        return v
    }

    func saveVector(_ s: Statement) throws {
        let v = try vector(s)
        guard v.more.isEmpty else {
            throw Diagnostic(.runtime, "vector '\(v.name)' steers layers \(v.layers.map(String.init).joined(separator: ",")); an aft vector file holds one layer: keep it as a control vector with 'export \(v.name) gguf PATH'", at: s.positional.first?.valueLocation)
        }
        let path = ((str(s.named("to")) ?? "\(outDir)/vectors/\(v.name).safetensors") as NSString).expandingTildeInPath
        try v.saveSafetensors(to: path)
        unsaved.remove(v.name)
        output("saved \(v.name) (layer \(v.layer), \(v.values.count) floats) to \(path)")
    }

    func exportVector(_ s: Statement) throws {
        let v = try vector(s)
        guard let m = model else { throw Diagnostic(.runtime, "no model loaded", at: s.location) }
        let path = (try positional(s, 2) as NSString).expandingTildeInPath
        try v.exportControlVector(to: path, architecture: m.config.arch.ggufNames[0], layerCount: m.config.layers)
        output("exported \(v.name) as llama.cpp control vector " + v.layers.map { "direction.\($0)" }.joined(separator: ", ") + " to \(path)")
    }
}

