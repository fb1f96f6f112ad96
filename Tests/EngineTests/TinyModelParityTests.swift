import Engine
import XCTest

/// Random-weight Hugging Face models of every architecture (scripts/make_fixtures.py tiny) against transformers.
final class TinyModelParityTests: XCTestCase {
    func check(_ arch: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let dir = Fixtures.root + "/tiny/" + arch
        let exp = try Fixtures.json("tiny/\(arch)/expected.json")
        let text = try XCTUnwrap(exp["text"] as? String)
        let ids = try XCTUnwrap(exp["ids"] as? [Int])
        let rows = try XCTUnwrap(exp["logits"] as? [[Double]])
        let m = try LanguageModel(name: dir)
        XCTAssertEqual(m.config.arch.rawValue, arch, file: file, line: line)
        XCTAssertEqual(m.tokenizer.encode(text, addSpecial: true), ids, "token ids differ from transformers", file: file, line: line)
        let lg = m.transformer.logits(tokens: ids)
        let V = m.config.vocabSize
        var worst = 0.0, maxAbs = 0.0
        for (t, row) in rows.enumerated() {
            XCTAssertEqual(row.count, V)
            for j in 0..<V {
                worst = max(worst, abs(Double(lg[t * V + j]) - row[j]))
                maxAbs = max(maxAbs, abs(row[j]))
            }
        }
        XCTAssertGreaterThan(maxAbs, 0.1, "degenerate fixture", file: file, line: line)
        XCTAssertLessThanOrEqual(worst, 1e-3 * maxAbs, "\(arch): max |Δlogit| \(worst) vs max |logit| \(maxAbs)", file: file, line: line)
    }

    func testLlama() throws { try check("llama") }
    func testQwen2ShardedBF16() throws { try check("qwen2") }
    func testGemma3SlidingWindow() throws { try check("gemma3") }
    func testGPTNeoXFloat16() throws { try check("gpt_neox") }

    /// The cached-context path (prefix once, then continuations as separate segments) equals a full forward.
    func testSegmentedContinuationsMatchFullForward() throws {
        let m = try LanguageModel(name: Fixtures.root + "/tiny/gemma3")
        let tf = m.transformer, d = m.config.hidden
        let ctx = [5, 17, 42, 99, 7, 3, 250, 11, 64, 80]
        let a = [33, 44, 55], b = [66, 77]
        let cache = KVCache(config: m.config)
        _ = tf.forward(ctx, cache: cache)
        let toks = a + b, pos = [10, 11, 12, 10, 11], seg = [0, 0, 0, 1, 1]
        let h = tf.forward(toks, cache: cache, positions: pos, segments: seg, keepInCache: false)
        XCTAssertEqual(cache.length, ctx.count)
        for (cont, offset) in [(a, 0), (b, 3)] {
            let full = tf.forward(ctx + cont, cache: KVCache(config: m.config))
            for k in 0..<cont.count {
                for j in 0..<d {
                    XCTAssertEqual(h[(offset + k) * d + j], full[(ctx.count + k) * d + j], accuracy: 1e-4)
                }
            }
        }
    }
}
