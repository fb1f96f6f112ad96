import Engine
import XCTest

/// Logits of the three real GGUF models against transformers (scripts/make_fixtures.py logits):
/// prompts of ≥ 128 tokens, sampled positions and vocab columns plus each row's argmax.
final class RealModelLogitsTests: XCTestCase {
    func check(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let m = try Fixtures.realModel(name)
        let fx = try Fixtures.json("logits/\(name).json")
        let cols = try XCTUnwrap(fx["columns"] as? [Int])
        let prompts = try XCTUnwrap(fx["prompts"] as? [[String: Any]])
        XCTAssertEqual(prompts.count, 3)
        let V = m.config.vocabSize
        for p in prompts {
            let text = try XCTUnwrap(p["text"] as? String)
            let ids = try XCTUnwrap(p["ids"] as? [Int])
            XCTAssertGreaterThanOrEqual(ids.count, 128, "prompt too short for the parity criterion", file: file, line: line)
            XCTAssertEqual(m.tokenizer.encode(text, addSpecial: true), ids, "\(name): token ids", file: file, line: line)
            let lg = m.transformer.logits(tokens: ids)
            for r in try XCTUnwrap(p["rows"] as? [[String: Any]]) {
                let t = try XCTUnwrap(r["pos"] as? Int)
                let maxAbs = try XCTUnwrap(r["maxabs"] as? Double)
                let vals = try XCTUnwrap(r["values"] as? [Double])
                let tol = 1e-3 * maxAbs
                var worst = 0.0
                for (c, v) in zip(cols, vals) { worst = max(worst, abs(Double(lg[t * V + c]) - v)) }
                let am = try XCTUnwrap(r["argmax"] as? Int)
                worst = max(worst, abs(Double(lg[t * V + am]) - (try XCTUnwrap(r["argmax_logit"] as? Double))))
                XCTAssertLessThanOrEqual(worst, tol, "\(name) pos \(t): max |Δlogit| \(worst) > \(tol)", file: file, line: line)
            }
        }
    }

    func testSmolLM2() throws { try check("smollm2-135m") }
    func testGemma3() throws { try check("gemma3-270m") }
    func testQwenCoder() throws { try check("qwen2.5-coder-0.5b") }
}
