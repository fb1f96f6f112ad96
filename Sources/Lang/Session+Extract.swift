import Engine
import Foundation

/// Extracted vectors (CAA's mean difference, repeng's PCA), CAA's behaviour evaluation, and `explain`.
extension Session {
    /// A short name stem for a task: the behaviour of `caa/BEHAVIOUR`, the file name of a path.
    func taskStem(_ task: String) -> String {
        CAA.behaviour(task) ?? ((task as NSString).lastPathComponent as NSString).deletingPathExtension
    }

    /// The contrastive items `extract SOURCE` reads: every pair of a CAA behaviour's generate file,
    /// or the training split of a multiple-choice task (as `train` splits it); `limit` first ones.
    func extractionItems(_ s: Statement, task: String, _ m: LanguageModel) throws -> (items: [MCItem], from: String, splits: [String: String]) {
        let limit = int(s.named("limit")).map { smoke ? min($0, 8) : $0 } ?? (smoke ? 8 : nil)
        if let b = CAA.behaviour(task) {
            let ds = try CAA.load(b, file: .generate, dataDir: settings.data)
            let its = limit.map { Array(ds.items.prefix($0)) } ?? ds.items
            return (its, "\(task) (\((ds.path as NSString).lastPathComponent), first \(its.count) of \(ds.items.count))", [:])
        }
        let st = try study(s, task: task)
        guard !st.generative else {
            throw Diagnostic(.runtime, "\(task) is a generation task: it has no wrong answers to contrast; extract from a multiple-choice task or caa/BEHAVIOUR",
                             at: s.positional.first?.valueLocation)
        }
        let train = st.trainIdx.map { st.items[$0] }
        let its = limit.map { Array(train.prefix($0)) } ?? train
        // The split travels with the vector: compose and train's comparisons keep its training items out of their test items.
        return (its, "\(task) training split (\(its.count) items, split seed \(st.splits.seed); each wrong choice is a pair)", st.splitProvenance)
    }

    /// Last-token activation differences of `items` at `layers`, with progress (one pass, shared by every layer).
    func contrast(_ items: [MCItem], layers: [Int], _ m: LanguageModel, label: String) throws -> ContrastActivations {
        let prog = progressFn()
        let c = items.map { ContrastItem($0, model: m) }
        prog(label, 0, c.count)
        return try ContrastActivations(model: m, items: c, layers: layers, context: runContext) { prog(label, $0, $1) }
    }

    /// Provenance of an extracted vector.
    func extractionProvenance(_ m: LanguageModel, task: String, method: ExtractionMethod, pairs: Int, layers: [Int], residualNorm: Double) -> [String: String] {
        ["model": m.name, "model_path": m.path, "model_sha256": (try? m.sha256()) ?? "", "task": task, "kind": "extracted",
         "method": method.rawValue, "pairs": String(pairs), "layer": String(layers[0]), "layers": layers.map(String.init).joined(separator: ","),
         "mean_residual_norm": String(format: "%.6g", residualNorm), "mean_residual_norm_of": "the texts' last tokens"]
    }

    /// `extract SOURCE layer=N|layers=… [method=mean|pca] [limit=N] [as NAME]`.
    func extract(_ s: Statement) throws {
        guard let m = model else { throw Diagnostic(.runtime, "no model loaded; run e.g. 'load smollm2-135m' first", at: s.location) }
        let task = try positional(s, 0)
        let layers: [Int]
        switch (s.named("layer"), s.named("layers")) {
        case (let a?, nil): layers = try layerList(a, layers: m.config.layers)
        case (nil, let a?): layers = try layerList(a, layers: m.config.layers)
        case (_?, _?): throw Diagnostic(.usage, "give layer=N or layers=…, not both", at: s.named("layers")?.location)
        case (nil, nil): throw Diagnostic(.usage, "extract needs layer=N (or layers A..B for one vector at several layers); e.g. extract caa/sycophancy layer=12", at: s.location)
        }
        guard !layers.isEmpty else { throw Diagnostic(.usage, "no layers given", at: (s.named("layer") ?? s.named("layers"))?.valueLocation) }
        let method = ExtractionMethod(rawValue: word(arg(s, "method")) ?? "mean") ?? .mean
        let t0 = Date()
        let (items, from, splitMeta) = try extractionItems(s, task: task, m)
        let act = try contrast(items, layers: layers, m, label: "reading activations (\(items.count) items, \(layers.count) layer\(layers.count == 1 ? "" : "s"))")
        var set: SteeringSet = []
        for l in layers { if let v = act.vector(layer: l, method: method) { set.append((l, v)) } }
        guard !set.isEmpty else { throw Diagnostic(.runtime, "no contrastive pairs in \(from)", at: s.location) }
        let name = str(s.named("as")) ?? "\(taskStem(task))-\(method.rawValue)" + (layers.count == 1 ? "-L\(layers[0])" : "")
        var meta = extractionProvenance(m, task: task, method: method, pairs: act.pairs, layers: layers, residualNorm: act.meanResidualNorm(layer: layers[0]))
        meta["source"] = from
        meta.merge(splitMeta) { $1 }
        let vec = SteeringVector(name: name, values: set[0].values, layer: set[0].layer, metadata: meta, more: Array(set.dropFirst()))
        vectors[name] = vec
        unsaved.insert(name)
        let r = ExtractionResult(name: name, source: from, method: method, pairs: act.pairs,
                                 layers: set.map { ($0.layer, l2Norm($0.values), act.meanResidualNorm(layer: $0.layer)) },
                                 seconds: Date().timeIntervalSince(t0))
        present(r, s)
        store(ResultValue(r), s)
    }

    /// `eval caa/BEHAVIOUR [with A,B] [scale=…] [limit=N]`: CAA's A/B behaviour probability, per vector and scale.
    func evalBehaviour(_ s: Statement, behaviour: String, _ m: LanguageModel) throws {
        for k in ["shots", "lmeval", "max_tokens"] where s.named(k) != nil {
            throw Diagnostic(.usage, "'\(k)' does not apply to caa/\(behaviour) (CAA's A/B behaviour test: with, scale, limit, offset, log)", at: s.named(k)?.location)
        }
        let ds = try CAA.load(behaviour, file: .test, dataDir: settings.data)
        let offset = min(int(arg(s, "offset")) ?? 0, ds.items.count)
        var limit = int(s.named("limit")) ?? ds.items.count
        if smoke { limit = min(limit, 6) }
        let items = Array(ds.items.dropFirst(offset).prefix(limit))
        var sets: [(String, SteeringVector)] = []
        for n in words(s.named("with")) {
            let v = try namedVector(n, at: s.named("with")?.valueLocation)
            try checkVector(v, on: m, at: s.named("with")?.valueLocation)
            sets.append((n, v))
        }
        let given = numbers(s.named("scale"))
        let scales: [Double] = !given.isEmpty ? given : sets.isEmpty ? [0] : [-2, -1, 0, 1, 2]
        if s.named("scale") != nil && sets.isEmpty {
            throw Diagnostic(.usage, "scale= multiplies a vector: give one with 'with NAME'", at: s.named("scale")?.location)
        }
        let t0 = Date()
        let prog = progressFn()
        let label = "eval caa/\(behaviour)"
        prog(label, 0, items.count)
        var done = 0
        let (base, scored) = Scorer(model: m).scaledScores(items, sets: sets.map { $0.1.steering }, scales: scales, context: runContext) {
            done += $0; prog(label, done, items.count)
        }
        if base.count < items.count { prog(label, items.count, items.count) }
        let r = BehaviourResult(behaviour: behaviour, model: m.name, scales: scales, base: base,
                                rows: zip(sets, scored).map { ($0.0.0, $0.0.1.layers, $0.1) },
                                seconds: Date().timeIntervalSince(t0), interrupted: base.count < items.count)
        if let p = str(s.named("log")).map({ ($0 as NSString).expandingTildeInPath }) {
            var lines = ""
            for (i, b) in base.enumerated() {
                var o: [String: Any] = ["doc": b.doc, "p_matching_base": CAA.goldProbability(b)]
                var per: [String: Any] = [:]
                for (k, (n, _)) in sets.enumerated() {
                    per[n] = Dictionary(uniqueKeysWithValues: scales.indices.map { (String(format: "%g", scales[$0]), CAA.goldProbability(scored[k][$0][i])) })
                }
                o["p_matching"] = per
                let d = try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys])
                lines += String(decoding: d, as: UTF8.self) + "\n"
            }
            try writeLog(lines, to: p, s)
        }
        present(r, s)
        store(ResultValue(r), s)
    }

    /// Validation scores of the study's validation items for each layer's vector at +1 and −1 (base
    /// shared, blocks below each layer computed once).
    func behaviourCurve(_ st: SteeringStudy, _ perLayer: [(layer: Int, values: [Float], residualNorm: Double)],
                        label: String) -> (base: [ItemScore], layers: [BehaviourSweepResult.Layer]) {
        let val = st.valIdx.map { st.items[$0] }
        let prog = progressFn()
        var done = 0
        prog(label, 0, val.count)
        let (base, scored) = Scorer(model: st.model).scaledScores(val, sets: perLayer.map { [($0.layer, $0.values)] }, scales: [1, -1],
                                                                   context: runContext) { done += $0; prog(label, done, val.count) }
        if base.count < val.count { prog(label, val.count, val.count) }
        return (base, perLayer.indices.map { k in
            BehaviourSweepResult.Layer(layer: perLayer[k].layer, norm: l2Norm(perLayer[k].values), residualNorm: perLayer[k].residualNorm,
                                       plus: scored[k][0], minus: scored[k][1])
        })
    }

    /// `sweep TASK layers … method=mean|pca`: a vector extracted from the training split at every
    /// layer (activations read once for all layers), each scored on validation at scale ±1.
    func sweepExtracted(_ s: Statement, task: String, method: ExtractionMethod) throws {
        let st = try study(s, task: task)
        guard !st.generative else {
            throw Diagnostic(.runtime, "method=\(method.rawValue) extracts from wrong answers; \(task) is a generation task (use method=train)", at: s.named("method")?.valueLocation)
        }
        let layers = try layerList(s.named("layers"), layers: st.model.config.layers)
        let t0 = Date()
        let train = st.trainIdx.map { st.items[$0] }
        output("sweep \(task) method=\(method.rawValue): \(layers.count) layers, vectors from the training split (\(train.count) items), validation \(st.valIdx.count) items (seed \(st.splits.seed))")
        let act = try contrast(train, layers: layers, st.model, label: "reading activations (\(train.count) items, \(layers.count) layers)")
        let perLayer = layers.compactMap { l in act.vector(layer: l, method: method).map { (l, $0, act.meanResidualNorm(layer: l)) } }
        let (base, ls) = behaviourCurve(st, perLayer, label: "validation × ±1 (\(perLayer.count) layers)")
        let r = BehaviourSweepResult(task: task, model: st.model.name, method: method.rawValue, pairs: act.pairs, normalize: st.config.normalize,
                                     base: base, layers: ls, seconds: Date().timeIntervalSince(t0), interrupted: base.count < st.valIdx.count)
        // The best layer's vector joins the session, like a trained one.
        if let b = r.bestLayer, let v = perLayer.first(where: { $0.0 == b }) {
            let name = "\(taskStem(task))-\(method.rawValue)-L\(b)"
            var meta = extractionProvenance(st.model, task: task, method: method, pairs: act.pairs, layers: [b], residualNorm: v.2)
            meta["source"] = "\(task) training split (\(train.count) items)"
            meta.merge(st.splitProvenance) { $1 }
            vectors[name] = SteeringVector(name: name, values: v.1, layer: b, metadata: meta)
            unsaved.insert(name)
            output(r.display + "\n  best layer's vector kept as '\(name)'")
        } else {
            present(r, s)
        }
        store(ResultValue(r), s)
    }

    /// The behaviour curve (±1) of a trained sweep's per-layer vectors, read back from its run directory.
    func trainedBehaviourCurve(_ st: SteeringStudy, _ r: SweepResult) throws -> BehaviourSweepResult? {
        let t0 = Date()
        var perLayer: [(layer: Int, values: [Float], residualNorm: Double)] = []
        for l in r.layers {
            guard let v = try? SteeringVector.loadSafetensors(SweepRunDirectory.vectorPath(r.runDir, layer: l.layer)) else { continue }
            perLayer.append((l.layer, v.values, l.normRatio > 0 ? l.vectorNorm / l.normRatio : 0))
        }
        guard !perLayer.isEmpty else { return nil }
        let (base, ls) = behaviourCurve(st, perLayer, label: "validation × ±1 (\(perLayer.count) trained layers)")
        return BehaviourSweepResult(task: st.task, model: st.model.name, method: "train", pairs: 0, normalize: st.config.normalize,
                                    base: base, layers: ls, seconds: Date().timeIntervalSince(t0), interrupted: base.count < st.valIdx.count)
    }

    /// The mean-difference vector at `layer` from a study's training split (the `extracted` row of `train`).
    func extractedForTrain(_ st: SteeringStudy, layer: Int) throws -> SteeringVector? {
        guard !st.generative else { return nil }
        let train = st.trainIdx.map { st.items[$0] }
        let act = try contrast(train, layers: [layer], st.model, label: "extract mean difference (layer \(layer))")
        guard let v = act.vector(layer: layer, method: .mean) else { return nil }
        var meta = extractionProvenance(st.model, task: st.task, method: .mean, pairs: act.pairs, layers: [layer], residualNorm: act.meanResidualNorm(layer: layer))
        meta["source"] = "\(st.task) training split (\(train.count) items)"
        meta.merge(st.splitProvenance) { $1 }
        return SteeringVector(name: "\(taskStem(st.task))-mean-L\(layer)", values: v, layer: layer, metadata: meta)
    }

    /// `explain NAME [top=20]`: logit lens, norm against the residual stream, cosine with every other vector.
    func explain(_ s: Statement) throws {
        guard let m = model else { throw Diagnostic(.runtime, "no model loaded; run e.g. 'load smollm2-135m' first", at: s.location) }
        let v = try vector(s)
        try checkVector(v, on: m, at: s.positional.first?.valueLocation)
        let top = int(arg(s, "top")) ?? 20
        let logits = m.transformer.logitLens(v.values)
        let tok = m.tokenizer
        func entry(_ i: Int) -> (Int, String, Double) { (i, tok.decode([i]), Double(logits[i])) }
        let promoted = topIndices(logits, top).map(entry)
        let suppressed = topIndices(logits.map { -$0 }, top).map(entry)
        var rn = v.metadata["mean_residual_norm"].flatMap(Double.init) ?? 0
        var source = v.metadata["mean_residual_norm_of"].map { "over \($0), from its provenance" } ?? "from its provenance"
        if !(rn > 0) {
            rn = Session.meanResidualNorm(m, layer: v.layer)
            source = "over every position of \(Session.referenceTexts.count) reference sentences"
        }
        // The session's vectors of this model's width, this one first.
        let all = [v] + vectors.keys.sorted().compactMap { k in vectors[k].flatMap { $0.name != v.name && $0.values.count == v.values.count ? $0 : nil } }
        let cos = all.map { a in all.map { cosineSimilarity(a.values, $0.values) } }
        let r = ExplainResult(name: v.name, layer: v.layer, norm: v.norm, residualNorm: rn, residualNormSource: source,
                              promoted: promoted, suppressed: suppressed, names: all.map { $0.name }, layers: all.map { $0.layer }, cosines: cos)
        present(r, s)
        store(ResultValue(r), s)
    }

    /// Sentences whose residual norms stand in for a vector's own texts when its provenance has none.
    static let referenceTexts = [
        "The cat sat on the mat and looked out of the window at the rain.",
        "Question: What is the boiling point of water at sea level?\nAnswer: 100 degrees Celsius.",
        "In 1969, astronauts landed on the Moon for the first time.",
        "She opened the box carefully, not knowing what she would find inside.",
    ]

    /// Mean ‖h‖ after block `layer` over every position of the reference texts.
    static func meanResidualNorm(_ m: LanguageModel, layer: Int) -> Double {
        let tf = m.transformer, d = m.config.hidden
        var sum = 0.0, rows = 0
        for t in referenceTexts {
            let ids = m.tokenizer.encode(t, addSpecial: m.config.addBos)
            guard !ids.isEmpty, let h = tf.residuals(PackedSequence(context: ids, continuations: []), through: layer).last else { continue }
            sum += rowNormSum(h, rows: 0..<ids.count, width: d); rows += ids.count
        }
        return rows > 0 ? sum / Double(rows) : 0
    }
}
