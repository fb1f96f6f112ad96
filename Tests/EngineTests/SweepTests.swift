@testable import Engine
import Foundation
import XCTest

/// Sweeps on the real default model: the on-disk residual cache gives the same layer curve as the
/// in-memory one and as layer groups; an interrupted sweep resumes without retraining finished layers.
final class SweepTests: XCTestCase {
    var out = ""
    override func setUp() { out = NSTemporaryDirectory() + "aft-sweep-\(UUID().uuidString)" }
    override func tearDown() { try? FileManager.default.removeItem(atPath: out) }

    func study(_ m: LanguageModel, spill: SpillPolicy) throws -> SteeringStudy {
        var c = TrainConfig()
        c.epochs = 1
        let s = try SteeringStudy(model: m, task: "arc-easy", dataDir: Fixtures.sharedData, train: 4, val: 4, test: 0, seed: 3, config: c)
        s.context.workers = 1   // one order of floating-point sums, so runs can be compared exactly
        s.spill = spill
        return s
    }

    func testDiskCacheAndLayerGroupsGiveTheSameCurveAsMemory() throws {
        let m = try Fixtures.realModel("smollm2-135m")
        let layers = [3, 12, 25]
        let mem = try study(m, spill: .auto)
        let a = try mem.sweep(layers: layers, outDir: out + "/a", cacheBudget: 1 << 34, screenItems: 0, onLayer: { _, _ in }, onProgress: { _, _, _ in })
        XCTAssertEqual(a.cachePasses, 1); XCTAssertFalse(a.cacheOnDisk)
        XCTAssertEqual(a.cacheBytes, mem.cacheBytes(layers: 3))
        // The base line came out of the caching pass (finished through the head): it must agree with
        // scoring the validation items at v = 0 from the cache.
        let direct = try mem.trainer().evaluate(mem.valIdx, layer: 3, v: [Float](repeating: 0, count: m.config.hidden), config: mem.config)
        XCTAssertEqual(a.baseMetric, EvalSummary(direct.scores).accNorm)
        let plain = Scorer(model: m).scoreAll(mem.valIdx.map { mem.items[$0] }, context: RunContext(workers: 1))
        for (x, y) in zip(direct.scores, plain) {
            for (p, q) in zip(x.ll, y.ll) { XCTAssertEqual(p, q, accuracy: 0.02, "doc \(x.doc): steering at v = 0 is the base model") }
        }

        // Over budget: auto spills to a scratch file in the run directory, computed once, unlinked at once.
        let disk = try study(m, spill: .auto)
        let b = try disk.sweep(layers: layers, outDir: out + "/b", cacheBudget: disk.cacheBytes(layers: 1), screenItems: 0, onLayer: { _, _ in }, onProgress: { _, _, _ in })
        XCTAssertTrue(b.cacheOnDisk); XCTAssertEqual(b.cachePasses, 1); XCTAssertEqual(b.cacheBytes, a.cacheBytes)
        XCTAssertTrue(disk.cache?.onDisk == true)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: b.runDir).filter { $0.hasSuffix(".f16") }
        XCTAssertEqual(leftovers, [], "the scratch file is unlinked as soon as it is mapped")

        // spill=never: layer groups that fit the budget, each recomputing residuals.
        let groups = try study(m, spill: .never)
        let c = try groups.sweep(layers: layers, outDir: out + "/c", cacheBudget: groups.cacheBytes(layers: 1), screenItems: 0, onLayer: { _, _ in }, onProgress: { _, _, _ in })
        XCTAssertFalse(c.cacheOnDisk); XCTAssertEqual(c.cachePasses, 3)

        // Two layers at a time (one per core, single-threaded BLAS) trains the same vectors.
        let par = try study(m, spill: .auto)
        par.context.workers = 2
        var seen: [Int] = []
        let d = try par.sweep(layers: layers, outDir: out + "/d", cacheBudget: 1 << 34, screenItems: 0, onLayer: { l, _ in seen.append(l.layer) },
                              onProgress: { _, _, _ in })
        XCTAssertEqual(seen.sorted(), layers)
        XCTAssertEqual(d.layers.map { $0.layer }, layers, "the curve is in layer order whatever the finishing order")
        for (p, q) in zip(a.layers, d.layers) {
            XCTAssertEqual(p.valMetric, q.valMetric, "layer \(p.layer)")
            XCTAssertEqual(p.vectorNorm, q.vectorNorm, accuracy: 1e-4 * p.vectorNorm + 1e-9, "layer \(p.layer)")
        }
        for (x, y) in [(a, b), (a, c)] {
            XCTAssertEqual(x.layers.map { $0.layer }, layers)
            XCTAssertEqual(x.baseMetric, y.baseMetric)
            for (p, q) in zip(x.layers, y.layers) {
                XCTAssertEqual(p.valMetric, q.valMetric, "layer \(p.layer)")
                XCTAssertEqual(p.bestEpoch, q.bestEpoch, "layer \(p.layer)")
                XCTAssertEqual(p.vectorNorm, q.vectorNorm, accuracy: 1e-9 + 1e-6 * p.vectorNorm, "layer \(p.layer)")
                XCTAssertEqual(p.normRatio, q.normRatio, accuracy: 1e-9 + 1e-6 * p.normRatio, "layer \(p.layer)")
            }
        }
        // The cached residual is the forward pass's residual (f16-rounded), in memory and on disk alike.
        let seq = mem.seqs[0]
        var x = m.transformer.embed(seq)
        for l in 0...12 { x = m.transformer.blockForward(l, x, seq, record: false).0 }
        for cache in [mem.cache!, groups.cache!] where cache.layers.contains(12) {
            let r = cache.residual(0, layer: 12)
            XCTAssertEqual(r.count, x.count)
            for j in stride(from: 0, to: x.count, by: 97) { XCTAssertEqual(r[j], x[j], accuracy: 2e-3 * max(1, abs(x[j]))) }
        }
    }

    func testInterruptedSweepResumesWithoutRetrainingFinishedLayers() throws {
        let m = try Fixtures.realModel("smollm2-135m")
        let layers = [4, 9, 14]
        let first = try study(m, spill: .auto)
        var stop = false
        first.context.shouldStop = { stop }
        var finished: [Int] = []
        let r1 = try first.sweep(layers: layers, outDir: out, cacheBudget: 1 << 34, screenItems: 0,
                                 onLayer: { l, _ in finished.append(l.layer); stop = true },   // Ctrl-C after the first layer
                                 onProgress: { _, _, _ in })
        XCTAssertTrue(r1.interrupted)
        XCTAssertEqual(finished, [4])
        XCTAssertEqual(r1.layers.map { $0.layer }, [4])
        let saved = String(format: "%@/layer-%02d.json", r1.runDir, 4)
        let before = try Data(contentsOf: URL(fileURLWithPath: saved))
        XCTAssertFalse(FileManager.default.fileExists(atPath: String(format: "%@/layer-%02d.json", r1.runDir, 9)))

        // Same arguments again: layer 4 comes from the run directory, 9 and 14 are trained.
        let second = try study(m, spill: .auto)
        var events: [(Int, Bool)] = []
        let r2 = try second.sweep(layers: layers, outDir: out, cacheBudget: 1 << 34, screenItems: 0,
                                  onLayer: { l, resumed in events.append((l.layer, resumed)) }, onProgress: { _, _, _ in })
        XCTAssertEqual(r2.runDir, r1.runDir)
        XCTAssertFalse(r2.interrupted)
        XCTAssertEqual(events.map { $0.0 }, [9, 14, 4])
        XCTAssertEqual(events.map { $0.1 }, [false, false, true])
        XCTAssertEqual(r2.layers.map { $0.layer }, layers)
        XCTAssertEqual(r2.layers[0], r1.layers[0], "the resumed layer is read back, not retrained")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: saved)), before, "a finished layer's file is not rewritten")
        XCTAssertEqual(r2.cacheBytes, second.cacheBytes(layers: 2), "only the unfinished layers are cached")

        // Resume verifies what it reads: a layer file naming another layer, or a missing vector file,
        // is not trusted; that layer is trained again (and said so), the others are read back.
        let nine = String(format: "%@/layer-%02d.json", r1.runDir, 9)
        try String(contentsOfFile: nine, encoding: .utf8).replacingOccurrences(of: "\"layer\" : 9", with: "\"layer\" : 7")
            .write(toFile: nine, atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(atPath: String(format: "%@/layer-%02d.safetensors", r1.runDir, 14))
        var notes: [String] = [], retrained: [Int] = []
        let third = try study(m, spill: .auto)
        let r3 = try third.sweep(layers: layers, outDir: out, cacheBudget: 1 << 34, screenItems: 0,
                                 onLayer: { l, resumed in if !resumed { retrained.append(l.layer) } }, onProgress: { _, _, _ in },
                                 onNote: { notes.append($0) })
        XCTAssertEqual(retrained, [9, 14], "\(notes)")
        XCTAssertTrue(notes.contains { $0.contains("layer-9 file is for layer 7") } && notes.contains { $0.contains("layer-14 vector file is missing") }, "\(notes)")
        XCTAssertEqual(r3.layers.map { $0.layer }, layers)
        XCTAssertEqual(r3.layers[1].epochValMetric, r2.layers[1].epochValMetric, "retrained with the same seed: the same curve")
        // A changed hyperparameter is a different run directory: nothing is wrongly reused.
        var c = TrainConfig(); c.epochs = 1; c.lr = 2e-3
        let other = try SteeringStudy(model: m, task: "arc-easy", dataDir: Fixtures.sharedData, train: 4, val: 4, test: 0, seed: 3, config: c)
        XCTAssertNotEqual(other.runKey, second.runKey)
    }
}

extension SweepTests {
    /// Base and steered test scores computed together (shared blocks below the steered layer) equal
    /// the two separate passes, the steered one with the residual hook.
    func testPairedScoringEqualsSeparatePasses() throws {
        let m = try Fixtures.realModel("smollm2-135m")
        let ds = try Dataset.load("arc-easy", dataDir: Fixtures.sharedData)
        let items = Array(ds.items.prefix(6))
        var g = SeededRandom(seed: 4)
        let v = (0..<m.config.hidden).map { _ in Float(Double.random(in: -1...1, using: &g)) }
        let layer = 10
        let sc = Scorer(model: m)
        let pairs = sc.scorePairs(items, layer: layer, vector: v, context: RunContext(workers: 2))
        let base = sc.scoreAll(items, context: RunContext(workers: 2))
        let steered = sc.scoreAll(items, context: RunContext(workers: 2), hook: { l, x, rows in
            guard l == layer else { return }
            for t in 0..<rows { for i in 0..<v.count { x[t * v.count + i] += v[i] } }
        })
        XCTAssertEqual(pairs.count, items.count)
        for (k, p) in pairs.enumerated() {
            XCTAssertEqual(p.base.doc, base[k].doc)
            for (a, b) in zip(p.base.ll, base[k].ll) { XCTAssertEqual(a, b, accuracy: 1e-4) }
            for (a, b) in zip(p.steered.ll, steered[k].ll) { XCTAssertEqual(a, b, accuracy: 1e-4) }
        }
        XCTAssertNotEqual(pairs[0].base.ll, pairs[0].steered.ll, "the vector changes the scores")
    }
}
