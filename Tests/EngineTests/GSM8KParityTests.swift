@testable import Engine
import XCTest

/// GSM8K end to end against lm-evaluation-harness 0.4 + transformers in f32 on the CPU
/// (scripts/reference_gsm8k.py: its own --log_samples on the first 40 test problems): prompts
/// identical, generations identical on ≥ 95 % of problems, strict and flexible verdicts on ≥ 97.5 %.
/// Where a generation differs, the first diverging token and aft's logits for both tokens are printed
/// (greedy f32 decoding can split at a near-tie).
final class GSM8KParityTests: XCTestCase {
    func check(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let path = Fixtures.root + "/gsm8k/\(name).jsonl"
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("no lm-eval fixture for \(name)") }
        let m = try Fixtures.realModel(name)
        let ref = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map {
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        let test = try Dataset.load("gsm8k", dataDir: Fixtures.sharedData)
        let train = try Dataset.load(Fixtures.sharedData + "/gsm8k/train.jsonl")
        let prompts = GSM8K.prompts(test: test.genItems, train: train.genItems, docs: 0..<ref.count, shots: 5)
        for (r, p) in zip(ref, prompts) { XCTAssertEqual(p, r["prompt"] as? String, "prompt of doc \(r["doc"] ?? "?")", file: file, line: line) }
        let ids = prompts.map { m.tokenizer.encode($0, addSpecial: m.config.addBos) }
        let gens = try Generator(model: m).generate(ids, maxTokens: GSM8K.maxTokens, stop: GSM8K.stopSequences)
        XCTAssertEqual(gens.count, ref.count)
        var sameText = 0, sameStrict = 0, sameFlexible = 0
        for (g, r) in zip(gens, ref) {
            let want = r["generated"] as? String ?? ""
            let sc = GSM8KScore(doc: g.index, prompt: prompts[g.index], generated: g.text,
                                answer: test.genItems[g.index].answer, tokens: g.tokens.count)
            if g.text == want { sameText += 1 } else { print(divergence(m, ids[g.index], g.tokens, want, doc: g.index)) }
            if sc.strict == r["strict"] as? String && (sc.correctStrict ? 1 : 0) == r["exact_match_strict"] as? Int { sameStrict += 1 }
            if sc.flexible == r["flexible"] as? String && (sc.correctFlexible ? 1 : 0) == r["exact_match_flexible"] as? Int { sameFlexible += 1 }
            XCTAssertEqual(sc.target, r["target"] as? String, "doc \(g.index): normalised reference", file: file, line: line)
        }
        let n = Double(ref.count)
        print("\(name): generations identical \(sameText)/\(ref.count), strict \(sameStrict), flexible \(sameFlexible)")
        XCTAssertGreaterThanOrEqual(Double(sameText) / n, 0.95, "\(name): identical generations", file: file, line: line)
        XCTAssertGreaterThanOrEqual(Double(sameStrict) / n, 0.975, "\(name): strict verdicts", file: file, line: line)
        XCTAssertGreaterThanOrEqual(Double(sameFlexible) / n, 0.975, "\(name): flexible verdicts", file: file, line: line)
    }

    /// Where aft's tokens part from lm-eval's text: the token index, both tokens, and aft's logits for each.
    func divergence(_ m: LanguageModel, _ prompt: [Int], _ got: [Int], _ want: String, doc: Int) -> String {
        let theirs = m.tokenizer.encode(want)
        var k = 0
        while k < min(got.count, theirs.count) && got[k] == theirs[k] { k += 1 }
        guard k < got.count, k < theirs.count else { return "doc \(doc): texts differ after token \(k) (one stops earlier)" }
        let h = m.transformer.forward(prompt + got[0..<k], cache: KVCache(config: m.config))
        let d = m.config.hidden, last = Array(h[(prompt.count + k - 1) * d..<(prompt.count + k) * d])
        let lg = m.transformer.logits(hidden: last, rows: [0])
        return String(format: "doc %d: first diverging token %d: aft %d %@ (logit %.5f), lm-eval %d %@ (aft's logit %.5f)", doc, k,
                      got[k], m.tokenizer.decode([got[k]]).debugDescription, lg[got[k]],
                      theirs[k], m.tokenizer.decode([theirs[k]]).debugDescription, lg[theirs[k]])
    }

    func testSmolLM2() throws { try check("smollm2-135m") }
    func testQwenCoder() throws { try check("qwen2.5-coder-0.5b") }
}
