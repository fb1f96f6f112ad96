@testable import Engine
import XCTest

/// Random-weight Hugging Face models of every architecture (scripts/make_fixtures.py tiny: weights
/// of std 0.08, random biases and norm scales) against transformers: logits, lm-eval
/// log-likelihoods of ARC-Easy choices on both scoring paths, and dL/dv against torch autograd.
final class TinyModelParityTests: XCTestCase {
    static let architectures = ["llama", "qwen2", "gemma3", "gpt_neox", "gpt_neox_sequential", "phi", "gpt2"]

    func model(_ fixture: String) throws -> (LanguageModel, [String: Any]) {
        (try LanguageModel(name: Fixtures.root + "/tiny/" + fixture), try Fixtures.json("tiny/\(fixture)/expected.json"))
    }

    func check(_ fixture: String, arch: String? = nil, file: StaticString = #filePath, line: UInt = #line) throws {
        let (m, exp) = try model(fixture)
        let text = try XCTUnwrap(exp["text"] as? String)
        let ids = try XCTUnwrap(exp["ids"] as? [Int])
        let rows = try XCTUnwrap(exp["logits"] as? [[Double]])
        XCTAssertEqual(m.config.arch.name, arch ?? fixture, file: file, line: line)
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
        XCTAssertGreaterThan(maxAbs, 1, "degenerate fixture", file: file, line: line)
        XCTAssertLessThanOrEqual(worst, 1e-4 * maxAbs, "\(fixture): max |Δlogit| \(worst) vs max |logit| \(maxAbs)", file: file, line: line)

        // lm-eval log-likelihoods of every choice, on the cached path (`score`) and the packed path (`scoreBatch`).
        let items = try XCTUnwrap(exp["arc_easy"] as? [[String: Any]])
        let sc = Scorer(model: m)
        var mcItems: [MCItem] = [], want: [[Double]] = []
        for (i, it) in items.enumerated() {
            let choices = try XCTUnwrap(it["choices"] as? [String])
            mcItems.append(MCItem(doc: i, context: try XCTUnwrap(it["context"] as? String), choices: choices, gold: 0))
            want.append(try XCTUnwrap(it["ll"] as? [Double]))
        }
        let packed = sc.scoreBatch(mcItems)
        var worstLL = 0.0
        for (i, item) in mcItems.enumerated() {
            for (a, b) in [(sc.score(item).ll, want[i]), (packed[i].ll, want[i])] {
                XCTAssertEqual(a.count, b.count)
                for (x, y) in zip(a, b) { worstLL = max(worstLL, abs(x - y)) }
            }
        }
        XCTAssertLessThanOrEqual(worstLL, 1e-4, "\(fixture): max |Δ log-likelihood| \(worstLL) nats", file: file, line: line)

        // dL/dv after block 1 (choice loss, length-normalised) against torch autograd through a forward hook.
        let st = try XCTUnwrap(exp["steer"] as? [String: Any])
        let layer = try XCTUnwrap(st["layer"] as? Int), gold = try XCTUnwrap(st["gold"] as? Int)
        let v = try XCTUnwrap(st["v"] as? [Double]).map { Float($0) }
        let seq = sc.packed(mcItems[0])
        let res = m.transformer.residuals(seq, through: layer)[layer]
        let ev = m.transformer.steer(seq, residual: res, layer: layer, v: v, gold: gold, choiceChars: mcItems[0].choiceChars)
        XCTAssertEqual(ev.loss, try XCTUnwrap(st["loss"] as? Double), accuracy: 1e-5, "\(fixture): loss", file: file, line: line)
        let g = try XCTUnwrap(st["grad"] as? [Double])
        let diff = zip(ev.grad, g).reduce(0.0) { $0 + pow(Double($1.0) - $1.1, 2) }.squareRoot()
        let norm = g.reduce(0.0) { $0 + $1 * $1 }.squareRoot()
        XCTAssertGreaterThan(norm, 1e-3, "degenerate gradient", file: file, line: line)
        XCTAssertLessThanOrEqual(diff / norm, 1e-4, "\(fixture): ‖Δgrad‖/‖grad‖ = \(diff / norm)", file: file, line: line)
    }

    func testLlama() throws { try check("llama") }
    func testQwen2ShardedBF16() throws { try check("qwen2") }
    func testGemma3SlidingWindow() throws { try check("gemma3") }
    /// Partial rotary (25 %) read from transformers 5's `rope_parameters`, parallel residual, f16 weights.
    func testGPTNeoXParallelFloat16() throws { try check("gpt_neox") }
    func testGPTNeoXSequential() throws { try check("gpt_neox_sequential", arch: "gpt_neox") }
    /// Parallel attention and MLP on one shared LayerNorm, 50 % partial rotary, gelu_new, LM-head bias.
    func testPhi() throws { try check("phi") }
    /// Learned absolute positions, Conv1D weights, fused concatenated QKV, tied head.
    func testGPT2() throws { try check("gpt2") }

    /// The block's features come from the registry's data, config-dependent choices applied.
    func testFeaturesFromConfig() throws {
        let neox = try model("gpt_neox").0.config, seq = try model("gpt_neox_sequential").0.config
        XCTAssertEqual(neox.features.residual, .parallel(sharedNorm: false))
        XCTAssertEqual(seq.features.residual, .sequential)
        XCTAssertEqual(neox.rotaryDim, 4, "rotary_pct 0.25 of head size 16")
        let gemma = try model("gemma3").0.config
        XCTAssertEqual(gemma.layerIsSliding, [true, true, false, true, true, false])
        XCTAssertEqual(gemma.features.mlp, .gated(.geluTanh))
    }

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

    /// Token-by-token decoding through the KV cache (one block function for both) equals the
    /// packed pass over the whole sequence, on every architecture (learned positions and sliding windows included).
    func testKVDecodeEqualsPackedPass() throws {
        for fixture in TinyModelParityTests.architectures {
            let m = try LanguageModel(name: Fixtures.root + "/tiny/" + fixture)
            let tf = m.transformer, d = m.config.hidden
            let toks = (0..<14).map { ($0 * 37 + 5) % m.config.vocabSize }
            let seq = PackedSequence(context: toks, continuations: [])
            var x = tf.embed(seq)
            for l in 0..<m.config.layers { x = tf.blockForward(l, x, seq, record: false).0 }
            let packed = tf.normed(tf.finalNorm, x, rows: toks.count, d: d)
            let cache = KVCache(config: m.config)
            var stepped: [Float] = tf.forward(Array(toks[0..<5]), cache: cache)
            for t in toks[5...] { stepped += tf.forward([t], cache: cache) }
            XCTAssertEqual(cache.length, toks.count)
            var worst: Float = 0
            for i in packed.indices { worst = max(worst, abs(packed[i] - stepped[i])) }
            XCTAssertLessThan(worst, 1e-4, "\(fixture): decode vs packed max |Δ| \(worst)")
        }
    }
}
