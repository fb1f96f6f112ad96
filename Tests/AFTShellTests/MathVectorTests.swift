@testable import AFTShell
@testable import Engine
import Foundation
@testable import Lang
import XCTest

/// The math vector and `compose math logic` from the language, on the real default model: GSM8K
/// trained as a steering task, its test split scored by generation, the prompting baseline, and a
/// GSM8K column in the interference matrix with keyword and centroid routing.
final class MathVectorTests: XCTestCase {
    func testMathVectorAndComposeWithAGSM8KColumn() throws {
        do { _ = try ModelRegistry().resolve("smollm2-135m") } catch where ProcessInfo.processInfo.environment["AFT_REQUIRE_MODELS"] == nil {
            throw XCTSkip("smollm2-135m not fetched")
        }
        let tmp = NSTemporaryDirectory() + "aft-math-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        var u = URL(fileURLWithPath: #filePath)
        for _ in 0..<4 { u.deleteLastPathComponent() }
        var out: [String] = []
        let s = Session(output: { out.append($0) })
        s.settings.out = tmp
        s.settings.data = u.path + "/shared/data"
        try s.run(source: """
            load smollm2-135m
            t = train gsm8k layer=10 epochs=1 train=4 val=3 test=4 max_tokens=24 lr=1e-2 select=loss baseline=2 as math
            """, file: "m.aft")
        let t = try XCTUnwrap(s.variables["t"]?.as(TrainResult.self))
        XCTAssertEqual(t.metricName, "exact_match")
        XCTAssertEqual(t.labels.map { $0.0 }, ["strict", "flexible"])
        XCTAssertEqual(t.report.base.count, 4); XCTAssertEqual(t.prompted?.count, 4); XCTAssertEqual(t.shots, 2)
        let text = out.joined(separator: "\n")
        XCTAssertTrue(text.contains("flexible base ") && text.contains("2-shot prompt, no vector"), text)
        let v = try XCTUnwrap(s.vectors["math"])
        XCTAssertEqual(v.metadata["task"], "gsm8k")
        XCTAssertNotNil(v.metadata["test_base_flexible"]); XCTAssertNotNil(v.metadata["test_2shot_strict"])
        XCTAssertTrue(v.metadata["selection"]?.contains("validation loss") ?? false, "\(v.metadata)")

        // The base column is the zero-shot greedy answers of exactly those test problems.
        let st = try XCTUnwrap(s.study)
        XCTAssertTrue(st.generative)
        let ds = try Dataset.load("gsm8k", dataDir: s.settings.data)
        let problems = st.splits.test.map { ds.genItems[$0] }
        let gen = Generator(model: try XCTUnwrap(s.model))
        let direct = try gen.solve(problems, prompts: problems.map { GSM8K.question($0.question) }, maxTokens: 24)
        XCTAssertEqual(t.report.base, direct.map { $0.itemScore })
        XCTAssertEqual(t.report.base.map { $0.doc }, st.splits.test)

        // compose: the GSM8K column by generation, on the math vector's held-out test items.
        try s.run(source: """
            train arc-easy layer=8 epochs=1 train=4 val=4 test=6 lr=1e-2 baseline=0 as logic
            c = compose math logic limit=3 max_tokens=24 baseline=1
            """, file: "m.aft")
        let c = try XCTUnwrap(s.variables["c"]?.as(CompositionResult.self))
        XCTAssertEqual(c.tasks, ["gsm8k", "arc-easy"]); XCTAssertEqual(c.generative, [true, false])
        XCTAssertEqual(c.rows, ["math", "logic", "sum", "routed (keyword)", "routed (centroid)", "1-shot prompt"])
        XCTAssertEqual(c.base[0].map { $0.doc }, Array(st.splits.test.prefix(3)), "the math vector's own test items")
        XCTAssertEqual(c.base[0], Array(t.report.base.prefix(3)), "base answers are the same greedy generations")
        let keyword = c.routers[0]
        for (i, p) in problems.prefix(3).enumerated() {
            let q = p.question.lowercased()
            let expect: Int? = q.contains("calculate") || q.contains("solve") ? 0 : (q.contains("why") || q.contains("because") ? 1 : nil)
            XCTAssertEqual(keyword.choices[0][i], expect, "no common vector: unmatched items are not steered")
            XCTAssertEqual(c.scores[3][0][i], expect.map { c.scores[$0][0][i] } ?? c.base[0][i])
        }
        XCTAssertTrue(out.joined(separator: "\n").contains("gsm8k (3 test items, by generation)"))
        XCTAssertEqual(c.metricName(task: 0), "exact_match (flexible)")
    }
}
