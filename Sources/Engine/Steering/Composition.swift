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

/// One task a composition is measured on: its test items, and training items for the router.
public struct ComposeTask {
    public let name: String
    public let test: [MCItem]
    public let train: [MCItem]
    public init(name: String, test: [MCItem], train: [MCItem]) { self.name = name; self.test = test; self.train = train }
}

/// The interference matrix of task vectors: every vector alone, all summed, and routed, on every task.
public struct CompositionResult {
    public let model: String
    public let tasks: [String]
    /// Row names: each vector, then "sum" (two or more vectors) and "routed" (two or more tasks to route between).
    public let rows: [String]
    /// Layer of each vector row (nil for sum and routed).
    public let rowLayers: [Int?]
    /// Base scores per task [task][item] and steered scores per row [row][task][item] (same items).
    public let base: [[ItemScore]]
    public let scores: [[[ItemScore]]]
    /// Per task and item, the router's choice (an index into `routeTasks`; all 0 when not routed).
    public let routes: [[Int]]
    public let routeTasks: [String]
    public let routeLayer: Int
    public let routerTrainItems: Int
    public let metricNorm: Bool
    public let seconds: Double
    public let interrupted: Bool

    public var metricName: String { metricNorm ? "acc_norm" : "acc" }
    /// Whether items were routed (two or more tasks had vectors).
    public var routed: Bool { routeTasks.count > 1 }
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

    /// Fraction of a task's items routed to that task's own vector (nil when no vector was trained on it).
    public func routeAccuracy(task: Int) -> Double? {
        guard routed, let own = routeTasks.firstIndex(of: tasks[task]), !routes[task].isEmpty else { return nil }
        return Double(routes[task].filter { $0 == own }.count) / Double(routes[task].count)
    }
}

/// Measures how task vectors interfere: each alone, all summed (each at its layer), and routed per item.
public final class Composer {
    public let model: LanguageModel
    public let vectors: [SteeringVector]
    public let tasks: [ComposeTask]
    public var normalize = true
    public var workers = ProcessInfo.processInfo.activeProcessorCount
    public var shouldStop: () -> Bool = { false }

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
    }

    /// Scores every task's test items under base, each vector, and the sum; routes each item by its context.
    /// `onProgress(label, done, total)` per task.
    public func run(onProgress: (String, Int, Int) -> Void = { _, _, _ in }) throws -> CompositionResult {
        let t0 = Date()
        let scorer = Scorer(model: model)
        // Router classes: the vectors' distinct tasks, each served by its first vector.
        var routeTasks: [String] = [], routeVector: [Int] = []
        for (i, v) in vectors.enumerated() {
            guard let t = v.metadata["task"], !routeTasks.contains(t) else { continue }
            routeTasks.append(t); routeVector.append(i)
        }
        let routeLayer = vectors.map { $0.layer }.min() ?? 0, routed = routeTasks.count > 1
        let trainCap = 64
        var trainFeatures: [[[Float]]] = []
        // A router is only needed between two or more tasks.
        for t in routeTasks where routed {
            let items = Array((tasks.first { $0.name == t }?.train ?? []).prefix(trainCap))
            onProgress("router features (\(t))", 0, 1)
            trainFeatures.append(scorer.contextFeatures(items, layer: routeLayer, shouldStop: shouldStop))
            onProgress("router features (\(t))", 1, 1)
        }
        var interrupted = shouldStop()
        let router = routed && !interrupted ? try TaskRouter(layer: routeLayer, tasks: routeTasks, features: trainFeatures) : nil

        // Sets: base, each vector alone, and (with two or more vectors) all of them summed.
        let nv = vectors.count, withSum = nv > 1
        var sets: [SteeringSet] = [[]] + vectors.map { [($0.layer, $0.values)] }
        if withSum { sets.append(vectors.map { ($0.layer, $0.values) }) }
        let rowCount = nv + (withSum ? 1 : 0) + (routed ? 1 : 0)
        var base: [[ItemScore]] = [], scores = [[[ItemScore]]](repeating: [], count: rowCount), routes: [[Int]] = []
        for task in tasks where !interrupted {
            var done = 0
            let label = "compose: \(task.name)"
            onProgress(label, 0, task.test.count)
            let perItem = scorer.scoreSets(task.test, sets: sets, workers: workers, shouldStop: shouldStop) { part in
                done += part.count; onProgress(label, done, task.test.count)
            }
            if perItem.count < task.test.count { interrupted = true }
            if perItem.isEmpty { break }   // stopped before this task's first items: no empty column
            let items = Array(task.test.prefix(perItem.count))
            let r = router.map { rt in scorer.contextFeatures(items, layer: routeLayer).map { rt.route($0) } } ?? items.map { _ in 0 }
            base.append(perItem.map { $0[0] })
            for k in 0..<nv { scores[k].append(perItem.map { $0[1 + k] }) }
            if withSum { scores[nv].append(perItem.map { $0[nv + 1] }) }
            // Routed: each item gets the vector of the task it was routed to (already scored above).
            if routed { scores[rowCount - 1].append(zip(perItem, r).map { $0.0[1 + routeVector[$0.1]] }) }
            routes.append(r)
        }
        let done = base.count
        return CompositionResult(model: model.name, tasks: tasks.prefix(done).map { $0.name },
                                 rows: vectors.map { $0.name } + (withSum ? ["sum"] : []) + (routed ? ["routed"] : []),
                                 rowLayers: vectors.map { $0.layer } + [Int?](repeating: nil, count: rowCount - nv), base: base, scores: scores, routes: routes,
                                 routeTasks: routeTasks, routeLayer: routeLayer, routerTrainItems: trainFeatures.map { $0.count }.min() ?? 0, metricNorm: normalize,
                                 seconds: Date().timeIntervalSince(t0), interrupted: interrupted)
    }
}
