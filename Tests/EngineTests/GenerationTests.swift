@testable import Engine
import XCTest

/// Greedy generation on the tiny models of every architecture: batched, continuous decoding over
/// KV caches equals recomputing the whole sequence for every new token.
final class GenerationTests: XCTestCase {
    func naive(_ m: LanguageModel, _ prompt: [Int], _ n: Int, steering: SteeringSet = []) -> [Int] {
        GenerationTests.naive(m, prompt, n, steering: steering)
    }

    /// Greedy continuation by brute force: a full forward over prompt + generated for each token.
    static func naive(_ m: LanguageModel, _ prompt: [Int], _ n: Int, steering: SteeringSet = []) -> [Int] {
        var toks = prompt, out: [Int] = []
        for _ in 0..<n {
            let tf = m.transformer
            var hook: Transformer.ResidualHook? = nil
            if let (l, v) = steering.first { hook = Transformer.steeringHook(layer: l, values: v) }
            let h = tf.forward(toks, cache: KVCache(config: m.config), hook: hook)
            let last = Array(h[(toks.count - 1) * m.config.hidden..<toks.count * m.config.hidden])
            let t = tf.greedy(hidden: last, rows: 1)[0]
            out.append(t); toks.append(t)
        }
        return out
    }

    /// Greedy picks by the vectorised argmax equal a plain scan's: the first of equal maxima (as
    /// torch's argmax), at any place in a row of any length, NaNs passed over.
    func testArgmaxIsTheFirstLargest() {
        func scan(_ x: [Float]) -> Int {
            var best = 0, bv = -Float.infinity
            for (j, v) in x.enumerated() where v > bv { bv = v; best = j }
            return best
        }
        var r: UInt64 = 7
        for n in [1, 5, 15, 16, 17, 31, 32, 33, 100, 1000] {
            for trial in 0..<20 {
                var x = (0..<n).map { _ -> Float in r = r &* 6364136223846793005 &+ 1442695040888963407; return Float(Int64(r >> 40) % 50) }
                if trial % 4 == 1 { x[n - 1] = 99; x[n / 2] = 99 }          // a tie: the earlier one
                if trial % 4 == 2 { x[Int(r % UInt64(n))] = .nan }         // NaN is passed over
                if trial % 4 == 3 { x = [Float](repeating: -.infinity, count: n) }
                let got = x.withUnsafeBufferPointer { Kernels.argmax($0.baseAddress!, n) }
                XCTAssertEqual(got, scan(x), "n=\(n) trial \(trial)")
            }
        }
        // Through `greedy`, several rows at once (spread over threads): each row's own pick.
        let m = try? LanguageModel(name: Fixtures.root + "/tiny/" + TinyModelParityTests.architectures[0])
        if let m = m {
            let d = m.config.hidden, rows = 5
            let h = (0..<rows * d).map { Float(($0 * 37) % 23) / 11 - 1 }
            let lg = m.transformer.logits(hidden: h, rows: Array(0..<rows))
            let V = m.config.vocabSize
            XCTAssertEqual(m.transformer.greedy(hidden: h, rows: rows), (0..<rows).map { scan(Array(lg[$0 * V..<($0 + 1) * V])) })
        } else { XCTFail("tiny fixture did not load") }
    }

    /// The gated activation of a prefill step's size, split over threads, gives the very values of
    /// smaller calls (below the split size), for every activation.
    func testSplitGatedActivationIsTheSameValues() {
        let n = 300_005
        let g0 = (0..<n).map { Float(($0 * 7919) % 2001) / 250 - 4 }, z0 = (0..<n).map { Float(($0 * 104_729) % 997) / 500 - 1 }
        for act in [Activation.silu, .geluTanh, .geluExact] {
            var whole = z0, parts = z0
            g0.withUnsafeBufferPointer { g in
                whole.withUnsafeMutableBufferPointer { Kernels.gatedActivation($0.baseAddress!, gate: g.baseAddress!, n, act) }
                parts.withUnsafeMutableBufferPointer { z in
                    for i in stride(from: 0, to: n, by: 1024) {
                        Kernels.gatedActivation(z.baseAddress! + i, gate: g.baseAddress! + i, min(1024, n - i), act)
                    }
                }
            }
            XCTAssertEqual(whole, parts, "\(act)")
            XCTAssertNotEqual(whole, z0)
        }
    }

    func testBandsTileTheRangeInAlignedParts() {
        for total in [0, 1, 5, 63, 64, 65, 1000, 1001, 4864] {
            for parts in [0, 1, 2, 3, 7, 64] {
                for align in [1, 4, 16] {
                    let lock = NSLock()
                    var bands: [Range<Int>] = []
                    Kernels.forBands(total, parts: parts, align: align) { r in lock.lock(); bands.append(r); lock.unlock() }
                    bands.sort { $0.lowerBound < $1.lowerBound }
                    let what = "total \(total), parts \(parts), align \(align): \(bands)"
                    XCTAssertEqual(bands.flatMap { Array($0) }, Array(0..<total), what)
                    XCTAssertLessThanOrEqual(bands.count, max(1, parts), what)
                    XCTAssertTrue(bands.allSatisfy { !$0.isEmpty }, what)
                    XCTAssertTrue(bands.dropLast().allSatisfy { $0.count % align == 0 }, what)
                    if parts == 2 && total > align { XCTAssertEqual(bands.count, 2, "both threads get work: " + what) }
                }
            }
        }
    }

    func testBatchedDecodingEqualsRecomputation() throws {
        for fixture in TinyModelParityTests.architectures {
            let m = try LanguageModel(name: Fixtures.root + "/tiny/" + fixture)
            let prompts = [[5, 17, 42, 99, 7], [3, 250, 11], [64, 80, 12, 9, 33, 44, 55, 66, 77, 88, 21], [30]]
            let gen = Generator(model: m)
            gen.eos = []
            gen.maxBatch = 2   // prompts 3 and 4 join as earlier ones finish (continuous batching)
            var finished: [Int] = []
            let out = try gen.generate(prompts, maxTokens: 9, onFinish: { finished.append($0.index) })
            XCTAssertEqual(out.map { $0.index }, [0, 1, 2, 3], "results in prompt order")
            XCTAssertEqual(Set(finished), [0, 1, 2, 3])
            for (p, g) in zip(prompts, out) {
                XCTAssertEqual(g.tokens, naive(m, p, 9), "\(fixture): prompt \(p)")
                XCTAssertEqual(g.stop, .maxTokens)
                XCTAssertEqual(g.text, m.tokenizer.decode(g.tokens))
            }
        }
    }

    /// Prompts with a long common prefix (shots=fixed) run it once; the continuations are unchanged.
    func testSharedPrefixRunsOnceWithSameResults() throws {
        for fixture in ["llama", "gemma3", "gpt2"] {
            let m = try LanguageModel(name: Fixtures.root + "/tiny/" + fixture)
            let prefix = (0..<20).map { ($0 * 13 + 7) % m.config.vocabSize }
            let prompts = [prefix + [5, 9], prefix + [77], prefix + [3, 250, 11, 4], prefix + [5, 10]]
            XCTAssertEqual(Generator.commonPrefix(prompts), 20)
            XCTAssertEqual(Generator.commonPrefix([[1, 2], [1, 2]]), 1, "each prompt keeps a token of its own")
            let shared = Generator(model: m), alone = Generator(model: m)
            shared.eos = []; alone.eos = []
            alone.minSharedPrefix = 1000
            shared.maxBatch = 2
            let v = [Float](repeating: 0.3, count: m.config.hidden)
            shared.steering = [(1, v)]; alone.steering = [(1, v)]
            let a = try shared.generate(prompts, maxTokens: 6)
            let b = try alone.generate(prompts, maxTokens: 6)
            XCTAssertEqual(a.map { $0.tokens }, b.map { $0.tokens }, fixture)
            for (p, g) in zip(prompts, a) {
                XCTAssertEqual(g.tokens, naive(m, p, 6, steering: [(1, [Float](repeating: 0.3, count: m.config.hidden))]), fixture)
            }
        }
    }

    func testSteeringAppliesAtEveryPromptAndGeneratedPosition() throws {
        let m = try LanguageModel(name: Fixtures.root + "/tiny/llama")
        let v = (0..<m.config.hidden).map { Float(sin(Double($0))) * 2 }
        let gen = Generator(model: m)
        gen.eos = []
        gen.steering = [(1, v)]
        let p = [5, 17, 42, 99, 7]
        let steered = try gen.generate([p], maxTokens: 8)[0].tokens
        XCTAssertEqual(steered, naive(m, p, 8, steering: [(1, v)]))
        XCTAssertNotEqual(steered, naive(m, p, 8), "a large vector changes the continuation")
    }

    func testStopSequencesEOSAndLimits() throws {
        let m = try LanguageModel(name: Fixtures.root + "/tiny/qwen2")
        let p = [5, 17, 42, 99, 7]
        let free = Generator(model: m)
        free.eos = []
        let full = try free.generate([p], maxTokens: 12)[0]
        // Stop at the text of the third token: the text is cut before it and generation ends there.
        let third = m.tokenizer.decode([full.tokens[2]])
        if !third.isEmpty, let r = full.text.range(of: third) {
            let g = try free.generate([p], maxTokens: 12, stop: [third])[0]
            XCTAssertEqual(g.text, String(full.text[..<r.lowerBound]))
            XCTAssertEqual(g.stop, .stopSequence(third))
            XCTAssertLessThanOrEqual(g.tokens.count, 3 + 1)
        }
        // The first generated token as EOS ends the sequence at once, with no text.
        let eos = Generator(model: m)
        eos.eos = [full.tokens[0]]
        let e = try eos.generate([p], maxTokens: 12)[0]
        XCTAssertEqual(e.stop, .eos); XCTAssertEqual(e.tokens, []); XCTAssertEqual(e.text, "")
        // Streaming delivers exactly the final text.
        var streamed = ""
        _ = try free.generate([p], maxTokens: 12, onText: { _, d in streamed += d })
        XCTAssertEqual(streamed, full.text)
        // Errors: max_tokens ≤ 0 and a prompt past a learned position table, with the overshoot.
        XCTAssertThrowsError(try free.generate([p], maxTokens: 0))
        let gpt2 = Generator(model: try LanguageModel(name: Fixtures.root + "/tiny/gpt2"))
        XCTAssertThrowsError(try gpt2.generate([[Int](repeating: 5, count: 250)], maxTokens: 10)) { e in
            XCTAssertTrue("\(e)".contains("4 more than"), "\(e)")
        }
        // A stop request keeps the finished in-order prefix only.
        var polls = 0
        let part = try free.generate([p, p, p], maxTokens: 4, shouldStop: { polls += 1; return polls > 3 })
        XCTAssertLessThan(part.count, 3)
    }
}

/// GSM8K as lm-eval 0.4 builds, filters and scores it.
final class GSM8KTests: XCTestCase {
    /// CPython's random.Random(1234): getrandbits(32) and sample(range(7473), 5), three draws in a row.
    func testPythonRandomMatchesCPython() {
        var r = PythonRandom(seed: 1234)
        XCTAssertEqual([r.next32(), r.next32(), r.next32()], [4150886329, 3342196574, 1892932127])
        var s = PythonRandom(seed: 1234)
        XCTAssertEqual([s.sample(7473, 5), s.sample(7473, 5), s.sample(7473, 5)],
                       [[6374, 3610, 957, 61, 742], [7462, 6610, 4769, 286, 5501], [5677, 687, 806, 6279, 2905]])
    }

    /// Filter results and normalisation, computed with Python's `re` exactly as lm-eval applies them.
    func testFiltersAndExactMatchAsPython() {
        let cases: [(String, String, String, String, String)] = [
            (" The answer is 18.\n#### 18\n\n", "18", "18", "18", "18"),
            ("She pays $1,200.50 in total. #### -1,200.50", "-1,200.50", "-1,200.50", "-1200.50", "-1200.50"),
            ("no numbers here", "[invalid]", "[invalid]", "[invalid]", "[invalid]"),
            ("7 apples and 12 pears, so 19.", "[invalid]", "19.", "[invalid]", "19"),
            ("#### 3.\n", "3.", "3.", "3", "3"),
            ("Costs $5 then $10.", "[invalid]", "$10.", "[invalid]", "10"),
            ("x #### 4,5 and #### 6", "4,5", "6", "45", "6"),
            ("-3 and 4", "[invalid]", "4", "[invalid]", "4"),
        ]
        for (text, strict, flexible, ns, nf) in cases {
            XCTAssertEqual(GSM8K.strict(text), strict, text)
            XCTAssertEqual(GSM8K.flexible(text), flexible, text)
            XCTAssertEqual(GSM8K.normalise(GSM8K.strict(text)), ns, text)
            XCTAssertEqual(GSM8K.normalise(GSM8K.flexible(text)), nf, text)
        }
        let ref = "Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.\nShe makes 9 * 2 = $<<9*2=18>>18 every day at the farmer’s market.\n#### 18"
        XCTAssertEqual(GSM8K.normalise(ref), "18")
        let sc = GSM8KScore(doc: 0, prompt: "", generated: " 9 * 2 = 18.\n#### 18\n\n", answer: ref, tokens: 9)
        XCTAssertTrue(sc.correctStrict && sc.correctFlexible)
        XCTAssertTrue(sc.jsonLine.contains("\"exact_match_strict\":1"), sc.jsonLine)
    }

    /// Prompts byte-identical to the ones lm-eval built (its --log_samples, scripts/reference_gsm8k.py).
    func testPromptsAreLMEvals() throws {
        let url = URL(fileURLWithPath: Fixtures.root + "/gsm8k/smollm2-135m.jsonl")
        let rows = try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map {
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        XCTAssertGreaterThanOrEqual(rows.count, 40)
        let test = try Dataset.load("gsm8k", dataDir: Fixtures.sharedData)
        let train = try Dataset.load(Fixtures.sharedData + "/gsm8k/train.jsonl")
        let prompts = GSM8K.prompts(test: test.genItems, train: train.genItems, docs: 0..<rows.count, shots: 5)
        for (r, p) in zip(rows, prompts) { XCTAssertEqual(p, r["prompt"] as? String, "doc \(r["doc"] ?? "?")") }
        // With an offset, the sampler still advances through the earlier documents.
        let later = GSM8K.prompts(test: test.genItems, train: train.genItems, docs: 30..<rows.count, shots: 5)
        XCTAssertEqual(later, Array(prompts[30...]))
    }
}
