import Engine
import Foundation

extension Session {
    /// `compose A B … [tasks=…] [limit=N] [norm=yes|no]`: the interference matrix of task vectors.
    ///
    /// Each vector is measured on its own task's held-out test split (rebuilt from its provenance:
    /// split seed and sizes) and on every other task's; items any same-task vector trained or was
    /// selected on are left out, so no cell is scored on data a vector has seen.
    func compose(_ s: Statement) throws {
        guard let m = model else { throw Diagnostic(.runtime, "no model loaded; run e.g. 'load smollm2-135m' first", at: s.location) }
        var vecs: [SteeringVector] = []
        for a in s.positional {
            guard let n = str(a) else { continue }
            let v = try namedVector(n, at: a.valueLocation)
            guard !vecs.contains(where: { $0.name == n }) else { throw Diagnostic(.usage, "vector '\(n)' is named twice", at: a.valueLocation) }
            if let trained = v.metadata["model"], trained != m.name, v.metadata["model_sha256"]?.count != 64 {
                throw Diagnostic(.runtime, "vector '\(n)' was trained on \(trained); the loaded model is \(m.name)", at: a.valueLocation)
            }
            try checkVector(v, on: m, at: a.valueLocation)
            guard v.metadata["task"] != nil else {
                throw Diagnostic(.runtime, "vector '\(n)' has no task in its provenance; compose needs each vector's task", at: a.valueLocation)
            }
            vecs.append(v)
        }
        let limit = int(s.named("limit")).map { smoke ? min($0, 6) : $0 } ?? (smoke ? 6 : Int.max)
        var taskNames: [String] = []
        for t in vecs.compactMap({ $0.metadata["task"] }) where !taskNames.contains(t) { taskNames.append(t) }
        for t in words(s.named("tasks")) where !taskNames.contains(t) { taskNames.append(t) }

        let shots = int(arg(s, "baseline")) ?? 0
        var tasks: [ComposeTask] = []
        for t in taskNames {
            let ds: Dataset
            do { ds = try Dataset.load(t, dataDir: settings.data) } catch {
                throw Diagnostic(.runtime, "task \(t): \(error)" + ((error as? EngineError).map(Session.hint) ?? ""), at: s.named("tasks")?.valueLocation ?? s.location)
            }
            let own = try vecs.filter { $0.metadata["task"] == t }.map { try providedSplits($0, count: ds.count, at: s) }
            // The test split of the first vector on this task (or a seeded split for a task no vector was trained on).
            let splits: Splits
            if let first = own.first {
                splits = first
            } else {
                let seed = UInt64(settings.seed)
                splits = try Splits(count: ds.count, train: min(64, ds.count / 4), val: min(64, ds.count / 4),
                                    test: min(200, ds.count / 2), seed: seed)
            }
            var seen = Set<Int>()
            for sp in own { seen.formUnion(sp.train); seen.formUnion(sp.val) }
            let testIdx = Array(splits.test.filter { !seen.contains($0) }.prefix(limit))
            guard !testIdx.isEmpty else { throw Diagnostic(.runtime, "task \(t) has no held-out test items for compose (test split empty)", at: s.location) }
            var task: ComposeTask
            if ds.layout == .gsm8k {
                let problems = testIdx.map { ds.genItems[$0] }
                task = ComposeTask(name: t, test: problems.map(GSM8K.trainingItem), train: splits.train.map { GSM8K.trainingItem(ds.genItems[$0]) },
                                   problems: problems)
                if shots > 0 {
                    do {
                        let train = try GSM8K.trainSplit(besides: ds.path)
                        task.fewShotPrompts = GSM8K.prompts(test: ds.genItems, train: train.genItems, docs: testIdx, shots: shots)
                    } catch {
                        throw Diagnostic(.runtime, "the \(shots)-shot baseline on \(t) needs GSM8K's train split: \(error)", at: s.named("baseline")?.valueLocation ?? s.location)
                    }
                }
            } else {
                task = ComposeTask(name: t, test: testIdx.map { ds.items[$0] }, train: splits.train.map { ds.items[$0] })
                if shots > 0 { task.fewShotItems = FewShot.items(task.test, pool: task.train, shots: shots, sameSplit: false) }
            }
            tasks.append(task)
        }

        let composer: Composer
        do { composer = try Composer(model: m, vectors: vecs, tasks: tasks) } catch let e as EngineError {
            throw Diagnostic(.runtime, e.description, at: s.location)
        }
        composer.normalize = word(arg(s, "norm")).map { $0 == "yes" } ?? composer.normalize
        composer.route = word(arg(s, "route")).flatMap(RouteSelection.init(rawValue:)) ?? composer.route
        composer.shots = shots
        composer.maxTokens = smoke ? 32 : int(arg(s, "max_tokens")) ?? composer.maxTokens
        // `set keywords.NAME="a, b"` replaces a vector's list: comma-separated phrases, or words separated by spaces.
        for (i, v) in vecs.enumerated() {
            if let k = settings.keywords[v.name] { composer.keywords[i] = k }
        }
        composer.context = runContext
        output("compose \(vecs.map { "\($0.name) (\($0.metadata["task"] ?? "?"), L\($0.layer))" }.joined(separator: ", ")) on "
               + tasks.map { "\($0.name) (\($0.test.count) test items\($0.generative ? ", by generation" : ""))" }.joined(separator: ", "))
        let r: CompositionResult
        do { r = try composer.run(onProgress: progressFn()) } catch let e as EngineError {
            throw Diagnostic(.runtime, e.description, at: s.named("route")?.valueLocation ?? s.location)
        }
        present(r, s)
        output(String(format: "  %.1f s", r.seconds))
        store(.compose(r), s)
    }

    /// The splits a vector was trained with, rebuilt from its provenance (split_seed, train, val, test).
    func providedSplits(_ v: SteeringVector, count: Int, at s: Statement) throws -> Splits {
        guard let seed = v.metadata["split_seed"].flatMap({ UInt64($0) }), let tr = v.metadata["train"].flatMap({ Int($0) }),
              let va = v.metadata["val"].flatMap({ Int($0) }), let te = v.metadata["test"].flatMap({ Int($0) }) else {
            throw Diagnostic(.runtime, "vector '\(v.name)' lacks split provenance (split_seed, train, val, test), so its held-out test items are unknown",
                             at: s.location)
        }
        do { return try Splits(count: count, train: tr, val: va, test: te, seed: seed) } catch {
            throw Diagnostic(.runtime, "vector '\(v.name)': \(error)", at: s.location)
        }
    }

    /// The interference matrix as a heatmap: Δ metric (steered − base) in points, rows top-down.
    public static func charts(of r: CompositionResult) -> [Chart] {
        guard !r.tasks.isEmpty else { return [] }
        var c = Chart(name: "interference", title: "\(r.model): Δ test \(r.generative.contains(true) ? "score" : r.metricName) vs base (points)", xLabel: "measured on task",
                      yLabel: "steered with", series: [])
        var h = Heatmap(rowLabels: r.rows.enumerated().map { i, n in r.rowLayers[i].map { "\(n) (L\($0))" } ?? n }, columnLabels: r.tasks,
                        values: r.rows.indices.map { row in r.tasks.indices.map { 100 * r.delta(row: row, task: $0) } },
                        valueLabel: "Δ \(r.metricName) (points)")
        h.centered = true
        h.topDown = true
        h.valueFormat = "%+.1f"
        c.heatmap = h
        return [c]
    }
}
