@testable import AFTShell
@testable import Engine
import Foundation
@testable import Lang
import XCTest

/// `extract`, `eval caa/…`, `sweep … method=mean|pca`, train's extracted row and `explain` from the
/// language, on the tiny llama and a small CAA data directory written here: each runs end to end,
/// its numbers agree with the engine computed directly, the notebook carries it, and wrong uses
/// say what is wrong.
final class ExtractCommandTests: XCTestCase {
    var tmp = ""
    var tiny: String { TinySessionFixture.llama }

    override func setUpWithError() throws {
        tmp = NSTemporaryDirectory() + "aft-extract-\(UUID().uuidString)"
        let fm = FileManager.default
        try fm.createDirectory(atPath: tmp + "/data/caa/generate/honesty", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: tmp + "/data/caa/test/honesty", withIntermediateDirectories: true)
        func rows(_ n: Int, _ salt: Int) -> [[String: String]] {
            (0..<n).map { i in
                let a = (i + salt) % 2 == 0
                return ["question": "Question \(i + salt): is the statement number \(i * 7 % 11) true?\n (A) Yes, it is\n (B) No, it is not",
                        "answer_matching_behavior": a ? "(A)" : "(B)", "answer_not_matching_behavior": a ? "(B)" : "(A)"]
            }
        }
        try JSONSerialization.data(withJSONObject: rows(40, 0)).write(to: URL(fileURLWithPath: tmp + "/data/caa/generate/honesty/generate_dataset.json"))
        try JSONSerialization.data(withJSONObject: rows(10, 1)).write(to: URL(fileURLWithPath: tmp + "/data/caa/test/honesty/test_dataset_ab.json"))
        try TinySessionFixture.writeARC(into: tmp + "/data", choices: 4, rotate: false)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: tmp) }

    func session() -> (Session, () -> String) { TinySessionFixture.session() }

    func testExtractEvalSweepTrainExplainAndReport() throws {
        let (s, out) = session()
        try s.run(source: """
        load \(tiny)
        set data=\(tmp)/data out=\(tmp)/out threads=1
        extract caa/honesty layer=1 limit=30 as h
        extract caa/honesty layers 0,2 method=pca as hp
        b = eval caa/honesty with h,hp scale=-2,0,2 log=\(tmp)/b.jsonl
        sw = sweep caa/honesty layers 0,1,2 method=mean train=20 val=10 test=10
        t = train arc-easy layer=1 epochs=1 train=10 val=8 test=12 baseline=0 as sci
        e = explain h top=3
        extract arc-easy layer=1 train=10 val=8 test=12 as sx
        c = compose sci sx limit=6 baseline=0 route=sum
        report \(tmp)/nb
        """)
        let m = try XCTUnwrap(s.model)
        // The vector equals the engine's mean difference over the same 30 pairs.
        let ds = try CAA.load("honesty", file: .generate, dataDir: tmp + "/data")
        let act = try ContrastActivations(model: m, items: ds.items.prefix(30).map { ContrastItem($0, model: m) }, layers: [1], context: RunContext())
        let h = try XCTUnwrap(s.vectors["h"])
        XCTAssertEqual(h.values, act.vector(layer: 1, method: .mean))
        XCTAssertEqual(h.layer, 1)
        XCTAssertEqual(h.metadata["method"], "mean")
        XCTAssertEqual(h.metadata["pairs"], "30")
        XCTAssertEqual(h.metadata["task"], "caa/honesty")
        XCTAssertEqual(h.metadata["kind"], "extracted")
        // Several layers: one vector steering both, unit norm at each (pca).
        let hp = try XCTUnwrap(s.vectors["hp"])
        XCTAssertEqual(hp.layers, [0, 2])
        for (_, v) in hp.steering { XCTAssertEqual(Double(v.reduce(0) { $0 + $1 * $1 }), 1, accuracy: 1e-4) }

        // The behaviour curve: scale 0 is the base model; the points are the engine's scores.
        let b = try XCTUnwrap(s.variables["b"]?.as(BehaviourResult.self))
        XCTAssertEqual(b.scales, [-2, 0, 2])
        XCTAssertEqual(b.rows.map { $0.name }, ["h", "hp"])
        XCTAssertEqual(b.base.count, 10)
        XCTAssertEqual(b.rows[0].scores[1], b.base)
        let test = try CAA.load("honesty", file: .test, dataDir: tmp + "/data").items
        let want = Scorer(model: m).scoreAll(test, hook: Transformer.steeringHook(scaled(h.steering, by: 2)))
        XCTAssertEqual(b.rows[0].scores[2], want)
        XCTAssertEqual(ProbabilitySummary(b.rows[0].scores[2].map(CAA.goldProbability)).mean,
                       want.map(CAA.goldProbability).reduce(0, +) / 10, accuracy: 1e-12)
        let log = try String(contentsOfFile: tmp + "/b.jsonl", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(log.count, 10)
        XCTAssertTrue(log[0].contains("\"p_matching_base\"") && log[0].contains("\"hp\""), String(log[0]))
        XCTAssertEqual(b.charts(what: nil).first?.series.count, 2)

        // The extraction sweep: three layers on validation, and the best layer's vector kept.
        let sw = try XCTUnwrap(s.variables["sw"]?.as(BehaviourSweepResult.self))
        XCTAssertEqual(sw.layers.map { $0.layer }, [0, 1, 2])
        XCTAssertEqual(sw.base.count, 10)
        let best = try XCTUnwrap(sw.bestLayer)
        XCTAssertNotNil(s.vectors["honesty-mean-L\(best)"])

        // train: the extracted row, scored on the same test items as base and steered.
        let t = try XCTUnwrap(s.variables["t"]?.as(TrainResult.self))
        let ex = try XCTUnwrap(t.extracted)
        XCTAssertEqual(ex.scores.count, t.report.base.count)
        XCTAssertEqual(ex.pairs, 10 * 3)
        XCTAssertTrue(out().contains("extracted: mean difference of 30 pairs at layer 1"), out())
        XCTAssertNotNil(s.vectors["sci"]?.metadata["test_extracted_acc"])

        // explain: the logit lens' top tokens, and cosines with every other vector (itself 1).
        let e = try XCTUnwrap(s.variables["e"]?.as(ExplainResult.self))
        XCTAssertEqual(e.promoted.count, 3)
        let lens = m.transformer.logitLens(h.values)
        XCTAssertEqual(e.promoted.map { $0.token }, topIndices(lens, 3))
        XCTAssertEqual(e.names.first, "h")
        XCTAssertEqual(e.cosines[0][0], 1, accuracy: 1e-9)
        XCTAssertEqual(Set(e.names), Set(s.vectors.keys).subtracting(["sx"]), "every vector there when explain ran")
        XCTAssertEqual(e.charts(what: nil).first?.heatmap?.rowLabels, zip(e.names, e.layers).map { "\($0) (L\($1))" })
        XCTAssertEqual(e.layers.first, 1)

        // An extracted vector composes like a trained one: same task, same split, so the same test items.
        let sx = try XCTUnwrap(s.vectors["sx"])
        XCTAssertEqual(sx.metadata["train"], "10")
        XCTAssertEqual(sx.metadata["split_seed"], s.vectors["sci"]?.metadata["split_seed"])
        let c = try XCTUnwrap(s.variables["c"]?.as(CompositionResult.self))
        XCTAssertEqual(c.tasks, ["arc-easy"])
        XCTAssertTrue(c.rows.contains("sx") && c.rows.contains("sci"), "\(c.rows)")

        // The notebook carries every result.
        let nb = try String(contentsOfFile: tmp + "/nb/notebook.md", encoding: .utf8)
        for want in ["extract caa/honesty", "p(answer matching the behaviour)", "method=mean", "extracted (mean diff", "| promotes |"] {
            XCTAssertTrue(nb.contains(want), "notebook lacks \(want)")
        }
    }

    func testWrongUsesSayWhatIsWrong() throws {
        let (s, _) = session()
        try s.run(source: "load \(tiny)\nset data=\(tmp)/data out=\(tmp)/out threads=1\nextract caa/honesty layer=1 limit=4 as h")
        func fails(_ src: String, _ want: String, file: StaticString = #filePath, line: UInt = #line) {
            XCTAssertThrowsError(try s.run(source: src), file: file, line: line) { XCTAssertTrue("\($0)".contains(want), "\($0)", file: file, line: line) }
        }
        fails("extract caa/honesty", "needs layer=N")
        fails("extract caa/honesty layer=1 layers 0,1", "not both")
        fails("extract caa/honesty layer=99", "out of range")
        fails("extract caa/nosuch layer=1", "caa/honesty")
        fails("eval arc-easy with h scale=2", "'scale' applies to CAA")
        fails("eval arc-easy with h,h", "one vector here")
        fails("eval caa/honesty scale=1", "give one with 'with NAME'")
        fails("eval caa/honesty with nope", "no vector 'nope'")
        fails("eval caa/honesty shots=5", "does not apply to caa/honesty")
        fails("explain nope", "no vector 'nope'")
        fails("sweep caa/honesty method=median", "must be one of train, mean, pca")
    }
}
