@testable import Engine
import Foundation
import XCTest

/// Composition on the real default model: scoring several steering sets with shared prefixes
/// equals separate hooked passes, the router tells tasks apart by context, and the composer's
/// rows are the scores they claim to be.
final class ComposeTests: XCTestCase {
    func randomVector(_ n: Int, seed: UInt64, scale: Double = 1) -> [Float] {
        var g = SeededRandom(seed: seed)
        return (0..<n).map { _ in Float(Double.random(in: -scale...scale, using: &g)) }
    }

    /// Every set (base, one vector, two at different layers, two at one layer, the embeddings) scored
    /// together equals its own pass with the residual hook.
    func testSetScoringEqualsSeparateHookedPasses() throws {
        let m = try Fixtures.realModel("smollm2-135m")
        let items = Array(try Dataset.load("arc-easy", dataDir: Fixtures.sharedData).items.prefix(5))
        let d = m.config.hidden
        let a = randomVector(d, seed: 1), b = randomVector(d, seed: 2), c = randomVector(d, seed: 3)
        let sets: [SteeringSet] = [[], [(10, a)], [(5, b)], [(10, a), (5, b)], [(10, a), (10, c)], [(10, a)]]
        let sc = Scorer(model: m)
        let together = sc.scoreSets(items, sets: sets, context: RunContext(workers: 2))
        XCTAssertEqual(together.count, items.count)
        for (k, set) in sets.enumerated() {
            let alone = sc.scoreAll(items, context: RunContext(workers: 2), hook: { l, x, rows in
                for (layer, v) in set where layer == l { for t in 0..<rows { for i in 0..<d { x[t * d + i] += v[i] } } }
            })
            for (i, s) in alone.enumerated() {
                XCTAssertEqual(together[i][k].doc, s.doc)
                for (p, q) in zip(together[i][k].ll, s.ll) { XCTAssertEqual(p, q, accuracy: 1e-4, "set \(k), doc \(s.doc)") }
            }
        }
        XCTAssertNotEqual(together[0][0].ll, together[0][1].ll, "a vector changes the scores")
        XCTAssertEqual(together[0][1].ll, together[0][5].ll, "identical sets share one branch")
        // Steering the embeddings (layer −1) matches the paired scorer, which supports it.
        let e = randomVector(d, seed: 4, scale: 0.05)
        let emb = sc.scoreSets(items, sets: [[(-1, e)]], context: RunContext(workers: 1)), pair = sc.scorePairs(items, layer: -1, vector: e, context: RunContext(workers: 1))
        for (x, y) in zip(emb, pair) { for (p, q) in zip(x[0].ll, y.steered.ll) { XCTAssertEqual(p, q, accuracy: 1e-4) } }
    }

    /// Standardised nearest centroid: a dimension with a huge constant offset does not decide.
    func testRouterStandardisesFeatures() throws {
        let big: Float = 1000
        let a: [[Float]] = [[big, 1, 0], [big + 1, 1.2, 0.1], [big - 1, 0.8, -0.1]]
        let b: [[Float]] = [[big + 1, -1, 0], [big - 1, -1.2, 0.1], [big, -0.8, -0.1]]
        let r = try TaskRouter(layer: 0, tasks: ["a", "b"], features: [a, b])
        XCTAssertEqual(r.route([big + 1, 0.9, 0]), 0)
        XCTAssertEqual(r.route([big - 1, -0.9, 0]), 1)
        XCTAssertThrowsError(try TaskRouter(layer: 0, tasks: ["a", "b"], features: [a, []]))
    }

    /// On the real model, context features after an early block separate HellaSwag from ARC-Easy.
    func testRouterTellsTasksApartOnTheRealModel() throws {
        let m = try Fixtures.realModel("smollm2-135m")
        let hs = try Dataset.load("hellaswag", dataDir: Fixtures.sharedData).items, arc = try Dataset.load("arc-easy", dataDir: Fixtures.sharedData).items
        let sc = Scorer(model: m)
        let r = try TaskRouter(layer: 6, tasks: ["hellaswag", "arc-easy"],
                               features: [sc.contextFeatures(Array(hs.prefix(12)), layer: 6), sc.contextFeatures(Array(arc.prefix(12)), layer: 6)])
        let testHS = sc.contextFeatures(Array(hs[100..<120]), layer: 6).map { r.route($0) }
        let testArc = sc.contextFeatures(Array(arc[100..<120]), layer: 6).map { r.route($0) }
        XCTAssertGreaterThanOrEqual(testHS.filter { $0 == 0 }.count + testArc.filter { $0 == 1 }.count, 38, "\(testHS) \(testArc)")
    }

    /// The composer's rows: each vector alone, the sum and the routed row are the scores of those sets.
    func testComposerRowsAreTheScoresTheyName() throws {
        let m = try Fixtures.realModel("smollm2-135m")
        let d = m.config.hidden
        let hs = try Dataset.load("hellaswag", dataDir: Fixtures.sharedData).items, arc = try Dataset.load("arc-easy", dataDir: Fixtures.sharedData).items
        let va = SteeringVector(name: "hs", values: randomVector(d, seed: 5, scale: 0.5), layer: 12, metadata: ["task": "hellaswag"])
        let vb = SteeringVector(name: "arc", values: randomVector(d, seed: 6, scale: 0.5), layer: 8, metadata: ["task": "arc-easy"])
        let tasks = [ComposeTask(name: "hellaswag", test: Array(hs[200..<204]), train: Array(hs.prefix(8))),
                     ComposeTask(name: "arc-easy", test: Array(arc[200..<204]), train: Array(arc.prefix(8)))]
        let comp = try Composer(model: m, vectors: [va, vb], tasks: tasks)
        comp.context.workers = 1
        let r = try comp.run()
        XCTAssertEqual(r.rows, ["hs", "arc", "sum", "routed (keyword)", "routed (centroid)"])
        XCTAssertEqual(r.rowLayers, [12, 8, nil, nil, nil])
        XCTAssertEqual(r.routers.map { $0.kind }, [.keyword, .centroid])
        XCTAssertTrue(r.routers[1].detail.contains("after block 8 (8 training items per task)"), r.routers[1].detail)
        XCTAssertTrue(r.routers[0].detail.contains("arc: why, because") && r.routers[0].detail.contains("everything else to hs"), r.routers[0].detail)
        XCTAssertFalse(r.interrupted)
        let sc = Scorer(model: m)
        for (k, t) in tasks.enumerated() {
            let sets = sc.scoreSets(t.test, sets: [[], [(12, va.values)], [(8, vb.values)], [(12, va.values), (8, vb.values)]], context: RunContext(workers: 1))
            for i in t.test.indices {
                XCTAssertEqual(r.base[k][i].ll, sets[i][0].ll)
                for row in 0..<3 { XCTAssertEqual(r.scores[row][k][i].ll, sets[i][row + 1].ll, "row \(row) task \(k) item \(i)") }
                for (j, router) in r.routers.enumerated() {
                    let chosen = router.choices[k][i].map { sets[i][1 + $0] } ?? sets[i][0]
                    XCTAssertEqual(r.scores[3 + j][k][i].ll, chosen.ll, "routed = the chosen vector's scores (or base)")
                }
                // Keyword routing: an ARC question with "why"/"because" goes to arc, everything else to hs (the common one).
                let text = t.test[i].context.lowercased()
                XCTAssertEqual(r.routers[0].choices[k][i], text.contains("why") || text.contains("because") ? 1 : 0)
            }
            XCTAssertEqual(r.delta(row: 0, task: k), r.metric(row: 0, task: k) - r.baseMetric(task: k))
        }
        XCTAssertTrue(r.routed); XCTAssertNotNil(r.routeAccuracy(router: 1, task: 0), "each task with a vector reports its routing accuracy")
        comp.route = .sum
        XCTAssertEqual(try comp.run().rows, ["hs", "arc", "sum"])

        // One vector: no sum or routed row (they would repeat the vector's row).
        let one = try Composer(model: m, vectors: [va], tasks: tasks)
        one.context.workers = 1
        let r1 = try one.run()
        XCTAssertEqual(r1.rows, ["hs"]); XCTAssertFalse(r1.routed)
        XCTAssertEqual(r1.vectorNames, ["hs"]); XCTAssertEqual(r.vectorNames, ["hs", "arc"])
        XCTAssertEqual(r1.scores[0][0].map { $0.ll }, r.scores[0][0].map { $0.ll })

        // Stopped at once: nothing half-kept, and the result says it was interrupted.
        comp.context.shouldStop = { true }
        let stopped = try comp.run()
        XCTAssertTrue(stopped.interrupted); XCTAssertTrue(stopped.tasks.isEmpty)

        // A vector for another model's width, or with no task to route to, is refused with its name.
        let wide = SteeringVector(name: "wide", values: [Float](repeating: 0, count: d + 1), layer: 3, metadata: ["task": "hellaswag"])
        XCTAssertThrowsError(try Composer(model: m, vectors: [wide], tasks: tasks)) { XCTAssertTrue("\($0)".contains("wide")) }
        let orphan = SteeringVector(name: "orphan", values: va.values, layer: 3, metadata: [:])
        XCTAssertThrowsError(try Composer(model: m, vectors: [orphan], tasks: tasks)) { XCTAssertTrue("\($0)".contains("orphan")) }
    }
}
