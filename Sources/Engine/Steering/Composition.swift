import Foundation

/// Routes an item to a task by its context: nearest centroid of standardised context features.
///
/// Features are `Scorer.contextFeatures` at `layer` (below every steered layer, so routing sees
/// the unsteered stream); each dimension is standardised with the training features' mean and
/// standard deviation, so a few huge residual dimensions do not decide alone.
public struct TaskRouter {
    public let layer: Int
    public let tasks: [String]
    let mean: [Float], scale: [Float]
    let centroids: [[Float]]

    /// - Parameter features: per task (in `tasks` order), its training items' features [n][hidden].
    public init(layer: Int, tasks: [String], features: [[[Float]]]) throws {
        guard tasks.count == features.count, !tasks.isEmpty else { throw EngineError.invalidArgument("router: one feature list per task") }
        if let t = zip(tasks, features).first(where: { $0.1.isEmpty })?.0 {
            throw EngineError.invalidArgument("router: no training items for task \(t)")
        }
        let all = features.flatMap { $0 }, d = all[0].count, n = Float(all.count)
        var mu = [Float](repeating: 0, count: d), sd = [Float](repeating: 0, count: d)
        for f in all { for i in 0..<d { mu[i] += f[i] } }
        for i in 0..<d { mu[i] /= n }
        for f in all { for i in 0..<d { let z = f[i] - mu[i]; sd[i] += z * z } }
        let s = sd.map { 1 / max(($0 / n).squareRoot(), 1e-6) }
        self.layer = layer; self.tasks = tasks; mean = mu; scale = s
        centroids = features.map { fs in
            var c = [Float](repeating: 0, count: d)
            for f in fs { for i in 0..<d { c[i] += (f[i] - mu[i]) * s[i] } }
            return c.map { $0 / Float(fs.count) }
        }
    }

    /// Index into `tasks` of the nearest centroid.
    public func route(_ f: [Float]) -> Int {
        var best = 0, bestD = Float.infinity
        for (k, c) in centroids.enumerated() {
            var dist: Float = 0
            for i in 0..<min(f.count, c.count) { let z = (f[i] - mean[i]) * scale[i] - c[i]; dist += z * z }
            if dist < bestD { bestD = dist; best = k }
        }
        return best
    }
}

/// Routes an item by keywords in its text: the seed's heuristic.
///
/// Each vector has a keyword list; an item goes to the first vector (in compose order) one of whose
/// keywords occurs in its text (case-insensitive substring, so `solve` also matches "solves"),
/// else to the fallback vector when there is one (`common`), else to no vector (the base model).
public struct KeywordRouter {
    /// Per vector, its keywords (lower case).
    public let keywords: [[String]]
    /// The vector that takes every item no keyword claims (nil: those items are not steered).
    public let fallback: Int?

    public init(keywords: [[String]], fallback: Int?) {
        self.keywords = keywords.map { $0.map { $0.lowercased() }.filter { !$0.isEmpty } }
        self.fallback = fallback
    }

    /// The seed's lists, by vector name: math `calculate`, `solve`; logic `why`, `because`.
    public static let seedKeywords: [String: [String]] = ["math": ["calculate", "solve"], "logic": ["why", "because"]]
    /// The seed's role of each task, so a vector named otherwise gets its task's list.
    public static let taskRole: [String: String] = ["gsm8k": "math", "arc-challenge": "logic", "arc-easy": "logic", "hellaswag": "common"]

    /// A vector's default keywords: its name's seed list, else its task's role's.
    public static func defaultKeywords(name: String, task: String?) -> [String] {
        seedKeywords[name] ?? task.flatMap { taskRole[$0] }.flatMap { seedKeywords[$0] } ?? []
    }

    /// Whether a vector is the seed's `common` one (by name, or by its task's role): it takes what no keyword claims.
    public static func isCommon(name: String, task: String?) -> Bool {
        name == "common" || (seedKeywords[name] == nil && task.flatMap { taskRole[$0] } == "common")
    }

    /// The vector index for `text`, or nil for none.
    public func route(_ text: String) -> Int? {
        let t = text.lowercased()
        return keywords.firstIndex { $0.contains { t.contains($0) } } ?? fallback
    }
}

/// Which composed rows `compose` shows beside each vector alone.
public enum RouteSelection: String, CaseIterable {
    /// Every vector's keywords (the seed's heuristic).
    case keyword
    /// Nearest centroid of context residuals.
    case centroid
    /// All vectors added together on every item.
    case sum
    /// Sum, keyword-routed and centroid-routed rows.
    case all
}

/// One task a composition is measured on: its test items, and training items for the router.
public struct ComposeTask {
    public let name: String
    /// Multiple-choice test items; for a generation task, one-choice items whose context is the zero-shot prompt (for routing).
    public let test: [MCItem]
    public let train: [MCItem]
    /// A generation task's problems (GSM8K), in `test` order; empty for multiple choice.
    public let problems: [GenItem]
    /// The prompting baseline's inputs, for the `K-shot prompt` row: the test items with solved
    /// examples before each context (multiple choice), or each problem's few-shot prompt (generation).
    public var fewShotItems: [MCItem]?
    public var fewShotPrompts: [String]?
    public init(name: String, test: [MCItem], train: [MCItem], problems: [GenItem] = []) {
        self.name = name; self.test = test; self.train = train; self.problems = problems
    }
    /// Scored by greedy generation and exact match rather than by its choices.
    public var generative: Bool { !problems.isEmpty }
    /// The text a keyword router reads: the question, or the context.
    public var texts: [String] { generative ? problems.map { $0.question } : test.map { $0.context } }
}

/// How one router sent each test item: to a vector (its index) or to none (the base model).
public struct RouterOutcome {
    public let kind: RouteSelection
    /// Per task and item, the chosen vector's index, or nil.
    public let choices: [[Int?]]
    /// How it routes, for the report.
    public let detail: String
}

/// The interference matrix of task vectors: every vector alone, all summed, and routed, on every task.
public struct CompositionResult {
    public let model: String
    public let tasks: [String]
    /// Per task, whether it is scored by generation (exact match) rather than by its choices.
    public let generative: [Bool]
    /// Row names: each vector, then "sum" and each router's "routed (…)" row, as asked.
    public let rows: [String]
    /// Layer of each vector row (nil for sum and routed).
    public let rowLayers: [Int?]
    /// Base scores per task [task][item] and steered scores per row [row][task][item] (same items).
    /// A generation task's scores are its verdicts (`GSM8KScore.itemScore`: strict as acc, flexible as acc_norm).
    public let base: [[ItemScore]]
    public let scores: [[[ItemScore]]]
    /// Each vector's task (the router's notion of "its own vector").
    public let vectorTasks: [String]
    public let routers: [RouterOutcome]
    public let metricNorm: Bool
    public let seconds: Double
    public let interrupted: Bool

    public init(model: String, tasks: [String], generative: [Bool], rows: [String], rowLayers: [Int?], base: [[ItemScore]],
                scores: [[[ItemScore]]], vectorTasks: [String], routers: [RouterOutcome], metricNorm: Bool, seconds: Double, interrupted: Bool) {
        self.model = model; self.tasks = tasks; self.generative = generative; self.rows = rows; self.rowLayers = rowLayers
        self.base = base; self.scores = scores; self.vectorTasks = vectorTasks; self.routers = routers; self.metricNorm = metricNorm
        self.seconds = seconds; self.interrupted = interrupted
    }

    /// The compared metric's name: acc_norm or acc, and for a generation column flexible or strict exact match.
    public var metricName: String {
        let mc = metricNorm ? "acc_norm" : "acc", gen = metricNorm ? "exact_match (flexible)" : "exact_match (strict)"
        if generative.allSatisfy({ $0 }) && !generative.isEmpty { return gen }
        return generative.contains(true) ? "\(mc); \(gen) for generation tasks" : mc
    }
    /// The metric of one task's column.
    public func metricName(task k: Int) -> String {
        generative[k] ? (metricNorm ? "exact_match (flexible)" : "exact_match (strict)") : (metricNorm ? "acc_norm" : "acc")
    }
    /// Whether any item was routed.
    public var routed: Bool { !routers.isEmpty }
    /// The vectors' names: the rows that have a layer (sum and routed do not).
    public var vectorNames: [String] { zip(rows, rowLayers).compactMap { $0.1 == nil ? nil : $0.0 } }

    /// Paired base-vs-row comparison on one task.
    public func report(row: Int, task: Int) -> SteeringReport {
        SteeringReport(layer: rowLayers[row] ?? -1, base: base[task], steered: scores[row][task], vectorNorm: 0, meanResidualNorm: 0)
    }

    public func baseMetric(task: Int) -> Double { EvalSummary(base[task]).metric(norm: metricNorm) }
    public func metric(row: Int, task: Int) -> Double { EvalSummary(scores[row][task]).metric(norm: metricNorm) }
    /// Steered minus base metric.
    public func delta(row: Int, task: Int) -> Double { metric(row: row, task: task) - baseMetric(task: task) }

    /// Fraction of a task's items a router sent to a vector trained on that task (nil when none was).
    public func routeAccuracy(router r: Int, task: Int) -> Double? {
        guard r < routers.count, vectorTasks.contains(tasks[task]), task < routers[r].choices.count, !routers[r].choices[task].isEmpty else { return nil }
        let c = routers[r].choices[task]
        return Double(c.filter { $0.map { vectorTasks[$0] == tasks[task] } ?? false }.count) / Double(c.count)
    }
}

/// Measures how task vectors interfere: each alone, all summed (each at its layer), and routed per item.
public final class Composer {
    public let model: LanguageModel
    public let vectors: [SteeringVector]
    public let tasks: [ComposeTask]
    public var normalize = true
    public var route: RouteSelection = .all
    /// Per vector, its keywords for `route=keyword` (default: `KeywordRouter.defaultKeywords`).
    public var keywords: [[String]]
    /// The vector that takes items no keyword claims (default: the `common` one, if any).
    public var fallback: Int?
    /// New tokens per answer on generation tasks.
    public var maxTokens = GSM8K.maxTokens
    /// Examples per prompt in the tasks' few-shot inputs: adds a `K-shot prompt` row (no vector) when > 0
    /// and every task carries them.
    public var shots = 0
    public var context = RunContext()

    /// `vectors` must each name a task (metadata "task") that `tasks` holds, for the router's training items.
    public init(model: LanguageModel, vectors: [SteeringVector], tasks: [ComposeTask]) throws {
        guard !vectors.isEmpty else { throw EngineError.invalidArgument("compose needs at least one vector") }
        let c = model.config
        for v in vectors {
            guard v.values.count == c.hidden else {
                throw EngineError.invalidArgument("vector '\(v.name)' has \(v.values.count) values; \(model.name) has hidden size \(c.hidden)")
            }
            guard v.layer >= -1 && v.layer < c.layers else {
                throw EngineError.invalidArgument("vector '\(v.name)' is for layer \(v.layer); \(model.name) has layers 0..\(c.layers - 1)")
            }
            guard let t = v.metadata["task"], tasks.contains(where: { $0.name == t }) else {
                throw EngineError.invalidArgument("vector '\(v.name)' names no task to route to (metadata task=\(v.metadata["task"] ?? "none"))")
            }
        }
        self.model = model; self.vectors = vectors; self.tasks = tasks
        keywords = vectors.map { KeywordRouter.defaultKeywords(name: $0.name, task: $0.metadata["task"]) }
        fallback = vectors.firstIndex { KeywordRouter.isCommon(name: $0.name, task: $0.metadata["task"]) }
    }

    /// Scores every task's test items under base, each vector, and the sum; routes each item.
    /// `onProgress(label, done, total)` per task (and per row on generation tasks).
    public func run(onProgress: (String, Int, Int) -> Void = { _, _, _ in }) throws -> CompositionResult {
        let t0 = Date()
        let scorer = Scorer(model: model)
        let nv = vectors.count
        let vectorTasks = vectors.map { $0.metadata["task"] ?? "" }
        // Centroid classes: the vectors' distinct tasks, each served by its first vector.
        var routeTasks: [String] = [], routeVector: [Int] = []
        for (i, t) in vectorTasks.enumerated() where !routeTasks.contains(t) { routeTasks.append(t); routeVector.append(i) }
        let withSum = nv > 1 && (route == .sum || route == .all)
        let withKeyword = (route == .keyword || route == .all) && (nv > 1 || route == .keyword)
        let withCentroid = (route == .centroid || route == .all) && routeTasks.count > 1
        if route == .centroid && routeTasks.count < 2 {
            throw EngineError.invalidArgument("route=centroid needs vectors for two or more tasks (these are all for \(routeTasks.first ?? "one task"))")
        }
        let routeLayer = vectors.map { $0.layer }.min() ?? 0
        let trainCap = 64
        var trainFeatures: [[[Float]]] = []
        for t in routeTasks where withCentroid {
            let items = Array((tasks.first { $0.name == t }?.train ?? []).prefix(trainCap))
            onProgress("router features (\(t))", 0, 1)
            trainFeatures.append(scorer.contextFeatures(items, layer: routeLayer, context: context))
            onProgress("router features (\(t))", 1, 1)
        }
        var interrupted = context.shouldStop()
        let centroid = withCentroid && !interrupted ? try TaskRouter(layer: routeLayer, tasks: routeTasks, features: trainFeatures) : nil
        let keyword = KeywordRouter(keywords: keywords, fallback: fallback)

        // Sets: base, each vector alone, and (with two or more vectors) all of them summed.
        var sets: [SteeringSet] = [[]] + vectors.map { [($0.layer, $0.values)] }
        if withSum { sets.append(vectors.map { ($0.layer, $0.values) }) }
        let routerKinds = (withKeyword ? [RouteSelection.keyword] : []) + (withCentroid ? [.centroid] : [])
        let withPrompt = shots > 0 && tasks.allSatisfy { $0.generative ? $0.fewShotPrompts?.count == $0.problems.count : $0.fewShotItems?.count == $0.test.count }
        let rowCount = nv + (withSum ? 1 : 0) + routerKinds.count + (withPrompt ? 1 : 0)
        var base: [[ItemScore]] = [], scores = [[[ItemScore]]](repeating: [], count: rowCount)
        var choices = [[[Int?]]](repeating: [], count: routerKinds.count)
        for task in tasks where !interrupted {
            let perItem = try scoreTask(task, sets: sets, scorer: scorer, onProgress: onProgress)
            if perItem.count < task.test.count { interrupted = true }
            if perItem.isEmpty { break }   // stopped before this task's first items: no empty column
            let items = Array(task.test.prefix(perItem.count)), texts = Array(task.texts.prefix(perItem.count))
            base.append(perItem.map { $0[0] })
            for k in 0..<nv { scores[k].append(perItem.map { $0[1 + k] }) }
            if withSum { scores[nv].append(perItem.map { $0[nv + 1] }) }
            // Routed: each item gets the vector it was routed to (already scored above), or the base model.
            for (r, kind) in routerKinds.enumerated() {
                let picked: [Int?]
                switch kind {
                case .keyword: picked = texts.map { keyword.route($0) }
                default: picked = centroid.map { rt in scorer.contextFeatures(items, layer: routeLayer).map { routeVector[rt.route($0)] } } ?? items.map { _ in nil }
                }
                choices[r].append(picked)
                scores[nv + (withSum ? 1 : 0) + r].append(zip(perItem, picked).map { p, c in c.map { p[1 + $0] } ?? p[0] })
            }
            if withPrompt {
                let p = try scorePrompted(task, count: perItem.count, onProgress: onProgress)
                if p.count < perItem.count { interrupted = true }
                // Every row of this column keeps the items the prompting row finished (all, unless stopped).
                let n = p.count
                guard n > 0 else {
                    base.removeLast()
                    for r in scores.indices where scores[r].count > base.count { scores[r].removeLast() }
                    for r in choices.indices where choices[r].count > base.count { choices[r].removeLast() }
                    break
                }
                base[base.count - 1] = Array(base[base.count - 1].prefix(n))
                for r in 0..<(rowCount - 1) { scores[r][scores[r].count - 1] = Array(scores[r][scores[r].count - 1].prefix(n)) }
                for r in choices.indices { choices[r][choices[r].count - 1] = Array(choices[r][choices[r].count - 1].prefix(n)) }
                scores[rowCount - 1].append(p)
            }
        }
        let done = base.count
        let routers = routerKinds.enumerated().map { r, kind -> RouterOutcome in
            let detail: String
            switch kind {
            case .keyword:
                let lists = vectors.indices.map { i in "\(vectors[i].name): " + (keywords[i].isEmpty ? "(none)" : keywords[i].joined(separator: ", ")) }
                detail = "keywords in the question (" + lists.joined(separator: "; ") + ")"
                    + (fallback.map { "; everything else to \(vectors[$0].name)" } ?? "; everything else unsteered")
            default:
                detail = "nearest centroid of context residuals after block \(routeLayer) (\(trainFeatures.map { $0.count }.min() ?? 0) training items per task)"
            }
            return RouterOutcome(kind: kind, choices: choices[r], detail: detail)
        }
        return CompositionResult(model: model.name, tasks: tasks.prefix(done).map { $0.name }, generative: tasks.prefix(done).map { $0.generative },
                                 rows: vectors.map { $0.name } + (withSum ? ["sum"] : []) + routerKinds.map { "routed (\($0.rawValue))" }
                                     + (withPrompt ? ["\(shots)-shot prompt"] : []),
                                 rowLayers: vectors.map { $0.layer } + [Int?](repeating: nil, count: rowCount - nv), base: base, scores: scores,
                                 vectorTasks: vectorTasks, routers: routers, metricNorm: normalize,
                                 seconds: Date().timeIntervalSince(t0), interrupted: interrupted)
    }

    /// The prompting baseline (no vector) on the first `count` test items of `task`.
    func scorePrompted(_ task: ComposeTask, count: Int, onProgress: (String, Int, Int) -> Void) throws -> [ItemScore] {
        let label = "compose: \(task.name) (\(shots)-shot prompt)"
        var done = 0
        onProgress(label, 0, count)
        defer { onProgress(label, count, count) }
        if task.generative, let prompts = task.fewShotPrompts {
            return try Generator(model: model).solve(Array(task.problems.prefix(count)), prompts: Array(prompts.prefix(count)), maxTokens: maxTokens,
                                                     shouldStop: context.shouldStop) { _ in done += 1; onProgress(label, done, count) }.map { $0.itemScore }
        }
        return Scorer(model: model).scoreAll(Array((task.fewShotItems ?? []).prefix(count)), context: context, onChunk: { part in
            done += part.count; onProgress(label, done, count)
        })
    }

    /// Per test item, one score per set: multiple choice through the shared-prefix set scorer,
    /// a generation task by greedy answers under each set (an in-order prefix when stopped).
    func scoreTask(_ task: ComposeTask, sets: [SteeringSet], scorer: Scorer,
                   onProgress: (String, Int, Int) -> Void) throws -> [[ItemScore]] {
        let label = "compose: \(task.name)"
        guard task.generative else {
            var done = 0
            onProgress(label, 0, task.test.count)
            return scorer.scoreSets(task.test, sets: sets, context: context) { part in
                done += part.count; onProgress(label, done, task.test.count)
            }
        }
        var perSet: [[ItemScore]] = []
        let names = ["base"] + vectors.map { $0.name } + (sets.count > vectors.count + 1 ? ["sum"] : [])
        for (k, set) in sets.enumerated() {
            let gen = Generator(model: model)
            gen.steering = set
            var done = 0
            let l = "\(label) (\(names[k]))"
            onProgress(l, 0, task.problems.count)
            let r = try gen.solve(task.problems, prompts: task.problems.map { GSM8K.question($0.question) }, maxTokens: maxTokens,
                                  shouldStop: context.shouldStop) { _ in done += 1; onProgress(l, done, task.problems.count) }
            if r.count < task.problems.count { onProgress(l, task.problems.count, task.problems.count) }
            perSet.append(r.map { $0.itemScore })
            if r.count < task.problems.count { break }
        }
        let n = perSet.count == sets.count ? perSet.map { $0.count }.min() ?? 0 : 0
        return (0..<n).map { i in perSet.map { $0[i] } }
    }
}
