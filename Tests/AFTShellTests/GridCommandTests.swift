@testable import AFTShell
@testable import Engine
import Foundation
@testable import Lang
import XCTest

/// `grid` from the language on the tiny llama: every cell equals a training to that cap, the plan
/// is sized before training, a budget refuses or shrinks it, a rerun resumes, and bad layer shares
/// are clear errors.
final class GridCommandTests: XCTestCase {
    var tmp = ""
    var tiny: String { TinySessionFixture.llama }

    override func setUpWithError() throws {
        tmp = NSTemporaryDirectory() + "aft-grid-\(UUID().uuidString)"
        try TinySessionFixture.writeARC(into: tmp + "/data")
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: tmp) }

    func session() -> (Session, () -> String) { TinySessionFixture.session() }

    let setup = { (tiny: String, tmp: String) in "load \(tiny)\nset data=\(tmp)/data out=\(tmp)/out threads=1\n" }

    func testCellsEqualTrainingsToTheirCapAndRerunResumes() throws {
        let (s, out) = session()
        try s.run(source: setup(tiny, tmp) + "g = grid arc-easy layers 0%,100% lr=1e-2,5e-2 epochs=1,3 patience=5 train=12 val=10 test=10 budget=1h")
        let g = try XCTUnwrap(s.variables["g"]?.as(GridResult.self))
        XCTAssertEqual(g.layers, [0, 2])
        XCTAssertEqual(g.lrs, [1e-2, 5e-2])
        XCTAssertEqual(g.jobs.count, 4, "one training per (layer, lr)")
        XCTAssertTrue(out().contains("8 cells (2 layers × 2 lr × 2 epoch caps), 4 trainings to 3 epochs"), out())
        XCTAssertTrue(out().contains("calibrated here:"), out())
        // A cell at cap 1 is what training with epochs=1 gives: the same metric, best epoch and seed.
        let st = try XCTUnwrap(s.study)
        for job in g.jobs {
            var c = st.config
            c.lr = job.lr; c.epochs = 1
            let r = try st.trainer().train(layer: job.layer, train: st.trainIdx, val: st.valIdx, config: c, seed: job.seeds[0].seed)
            let cell = job.cell(cap: 1, select: c.select)
            XCTAssertEqual(cell.valMetric, r.bestVal, "layer \(job.layer) lr \(job.lr)")
            XCTAssertEqual(cell.bestEpoch, r.bestEpoch)
        }
        // The best cell is the maximum over every cell, and its vector is the session's.
        let all = g.jobs.flatMap { j in g.epochs.map { j.cell(cap: $0, select: st.config.select).valMetric } }
        XCTAssertEqual(g.best.valMetric, all.max())
        XCTAssertEqual(s.vectors["arc-easy-grid"]?.layer, g.best.layer)
        XCTAssertEqual(g.report.base.count, 10)
        XCTAssertEqual(g.charts(what: nil).map { $0.name }, ["grid-layer-lr", "grid-epochs"])
        // A rerun reads every job back.
        let (s2, out2) = session()
        try s2.run(source: setup(tiny, tmp) + "g = grid arc-easy layers 0%,100% lr=1e-2,5e-2 epochs=1,3 patience=5 train=12 val=10 test=10")
        XCTAssertEqual(out2().components(separatedBy: "(resumed from run directory)").count - 1, 4, out2())
        XCTAssertEqual(s2.variables["g"]?.as(GridResult.self)?.best, g.best)
    }

    /// Shards 1/2 and 2/2, then the merge run: the merge trains nothing, and every cell, the best
    /// cell and its test report equal one process's run of the same script. A cell whose lock a
    /// live process holds is left to it; a dead holder's lock is taken over.
    func testShardsThenMergeEqualOneProcess() throws {
        let script = "g = grid arc-easy layers 0%,50%,100% lr=1e-2,5e-2 epochs=1,2 train=12 val=10 test=10\neval arc-easy limit=3"
        let (one, _) = session()
        try one.run(source: "load \(tiny)\nset data=\(tmp)/data out=\(tmp)/single threads=1\n" + script)
        let single = try XCTUnwrap(one.variables["g"]?.as(GridResult.self))

        let shared = "load \(tiny)\nset data=\(tmp)/data out=\(tmp)/shared threads=1\n"
        let (s1, out1) = session()
        s1.shard = (1, 2)
        try s1.run(source: shared + script)
        XCTAssertTrue(out1().contains("shard 1/2: 3 of 6 trainings finished"), out1())
        XCTAssertTrue(out1().contains("skipping line 4 ('eval')"), out1())
        XCTAssertNil(s1.variables["g"], "a shard stores no merged result")
        // Shard 2: one of its jobs is held by a live process (pid 1), one lock is stale (a dead pid).
        let all = (FileManager.default.enumerator(atPath: tmp + "/shared")?.allObjects as? [String]) ?? []
        let runDir = tmp + "/shared/" + (try XCTUnwrap(all.first { ($0 as NSString).lastPathComponent.hasPrefix("grid-") }))
        let host = ProcessInfo.processInfo.hostName
        try "\(host) 1\n".write(toFile: runDir + "/job-L00-lr0.05.lock", atomically: true, encoding: .utf8)
        try "\(host) 999999\n".write(toFile: runDir + "/job-L02-lr0.05.lock", atomically: true, encoding: .utf8)
        let (s2, out2) = session()
        s2.shard = (2, 2)
        try s2.run(source: shared + script)
        XCTAssertTrue(out2().contains("shard 2/2: 5 of 6 trainings finished"), out2())
        XCTAssertFalse(FileManager.default.fileExists(atPath: runDir + "/job-L00-lr0.05.json"), "the held job is not trained")
        XCTAssertTrue(FileManager.default.fileExists(atPath: runDir + "/job-L02-lr0.05.json"), "the stale lock is taken over")
        try FileManager.default.removeItem(atPath: runDir + "/job-L00-lr0.05.lock")   // its holder "finishes" without a result
        // The merge run: trains only the one job left, then everything else of the script.
        let (m, outM) = session()
        try m.run(source: shared + script)
        XCTAssertEqual(outM().components(separatedBy: "(resumed from run directory)").count - 1, 5, outM())
        let merged = try XCTUnwrap(m.variables["g"]?.as(GridResult.self))
        XCTAssertEqual(merged.best, single.best)
        for j in single.jobs {
            let k = try XCTUnwrap(merged.jobs.first { $0.layer == j.layer && $0.lr == j.lr })
            XCTAssertEqual(k.seeds.map { $0.valMetric }, j.seeds.map { $0.valMetric }, "layer \(j.layer) lr \(j.lr)")
        }
        XCTAssertEqual(merged.report.steered, single.report.steered)
        XCTAssertNotNil(m.variables["_"]?.as(EvalResult.self), "the merge run runs the rest of the script")
    }

    func testBudgetRefusesOrShrinks() throws {
        let (s, out) = session()
        XCTAssertThrowsError(try s.run(source: setup(tiny, tmp) + "grid arc-easy layers 0..2 lr=1e-2,5e-2 epochs=50,100 train=12 val=10 test=10 budget=2s")) { e in
            let t = "\(e)"
            XCTAssertTrue(t.contains("over budget=2 s") && (t.contains("the largest grid that fits drops") || t.contains("not even one cell fits")), t)
        }
        let written = (FileManager.default.enumerator(atPath: tmp + "/out")?.allObjects as? [String]) ?? []
        XCTAssertFalse(written.contains { $0.contains("job-") }, "nothing trained: \(written)")
        let plan = GridPlan(layers: [0, 1, 2, 3], lrs: [1e-2, 5e-2], epochs: [50, 100], epochSeconds: 0.01, workers: 1, seeds: 1)
        XCTAssertEqual(plan.estimatedSeconds, 8 * 100 * 0.01, accuracy: 1e-9)
        let shrunk = try XCTUnwrap(plan.shrunk(toFit: 2.5))
        XCTAssertLessThanOrEqual(shrunk.plan.estimatedSeconds, 2.5)
        XCTAssertEqual(shrunk.dropped.first, "epochs=100", "the largest cap goes first")
        XCTAssertNil(plan.shrunk(toFit: 0.1), "one cell needs 50 epochs × 0.01 s")
        _ = out
    }

    /// A residual cache that would sit in memory but cannot fit is refused before any work, saying what would fit.
    func testCacheThatCannotFitIsRefusedFirst() throws {
        let (s, out) = session()
        s.availableMemory = { 100_000 }   // 100 kB "available": the tiny sweep's cache (hundreds of kB) does not fit
        for cmd in ["sweep arc-easy layers 0..2 epochs=1 train=12 val=10 test=10", "grid arc-easy layers 0..2 lr=1e-2 epochs=1 train=12 val=10 test=10"] {
            XCTAssertThrowsError(try s.run(source: setup(tiny, tmp) + cmd)) { e in
                let t = "\(e)"
                XCTAssertTrue(t.contains("residual cache needs") && t.contains("is available: set cache_gb=") && t.contains("spill=always"), t)
            }
        }
        let written = (FileManager.default.enumerator(atPath: tmp + "/out")?.allObjects as? [String]) ?? []
        XCTAssertFalse(written.contains { $0.hasSuffix(".safetensors") || $0.contains("job-") }, "nothing trained: \(written)")
        // spill=always puts the cache on disk: the same sweep runs.
        XCTAssertNoThrow(try s.run(source: setup(tiny, tmp) + "set spill=always\nsweep arc-easy layers 0..2 epochs=1 train=12 val=10 test=10"))
        _ = out
    }

    func testLayerSharesAndErrors() throws {
        XCTAssertEqual(try LayerPercent.layers("10%..90%", of: 30, at: nil), Array(3...26))
        XCTAssertEqual(try LayerPercent.layers("50%", of: 24, at: nil), [12])
        let (s, _) = session()
        try s.run(source: setup(tiny, tmp))
        func fails(_ src: String, _ want: String, file: StaticString = #filePath, line: UInt = #line) {
            XCTAssertThrowsError(try s.run(source: src), file: file, line: line) { XCTAssertTrue("\($0)".contains(want), "\($0)", file: file, line: line) }
        }
        fails("grid arc-easy layers=10%..120%", "within 0%..100%")
        fails("grid arc-easy layers=90%..10%", "inverted range")
        fails("grid arc-easy layers 2..0", "inverted range")
        fails("grid arc-easy budget=soon", "not a duration")
        fails("grid arc-easy epochs=0,2", "whole number in 1..1000")
        fails("grid arc-easy epochs=1e300", "whole number in 1..1000")
        fails("grid arc-easy epochs=2.5", "whole number in 1..1000")
        fails("grid arc-easy lr=-1", "must be in (0, 10]")
        XCTAssertEqual(Session.seconds("1h30m"), 5400)
        XCTAssertNil(Session.seconds("30"))
    }
}
