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
    var tiny: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().path + "/EngineTests/Fixtures/tiny/llama"
    }

    override func setUpWithError() throws {
        tmp = NSTemporaryDirectory() + "aft-grid-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: tmp + "/data/arc_easy", withIntermediateDirectories: true)
        var arc = ""
        for i in 0..<40 {
            let row: [String: Any] = ["id": "q\(i)", "question": "Which thing number \(i) is heavier?",
                                      "choices": ["text": ["a stone \(i)", "a feather", "a leaf"], "label": ["A", "B", "C"]], "answerKey": ["A", "B", "C"][i % 3]]
            arc += String(decoding: try JSONSerialization.data(withJSONObject: row), as: UTF8.self) + "\n"
        }
        try arc.write(toFile: tmp + "/data/arc_easy/arc_easy_test.jsonl", atomically: true, encoding: .utf8)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: tmp) }

    func session() -> (Session, () -> String) {
        var out: [String] = []
        let s = Session(output: { out.append($0) })
        return (s, { out.joined(separator: "\n") })
    }

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
        fails("grid arc-easy budget=soon", "not a duration")
        fails("grid arc-easy epochs=0,2", "whole number in 1..1000")
        fails("grid arc-easy lr=-1", "must be in (0, 10]")
        XCTAssertEqual(Session.seconds("1h30m"), 5400)
        XCTAssertNil(Session.seconds("30"))
    }
}
