import Engine
import Foundation
import XCTest

/// Few-shot multiple-choice prompts against lm-evaluation-harness itself (scripts/reference_fewshot.py:
/// its CLI with --num_fewshot 5 and --log_samples, the stock arc_easy.yaml over the shared file).
final class FewShotParityTests: XCTestCase {
    func reference() throws -> [(doc: Int, context: String, ll: [Double])] {
        let text = try String(contentsOfFile: Fixtures.root + "/fewshot/smollm2-135m_arc-easy_5shot.jsonl", encoding: .utf8)
        return try text.split(separator: "\n").map { l in
            let r = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(l.utf8)) as? [String: Any])
            return (try XCTUnwrap(r["doc"] as? Int), try XCTUnwrap(r["context"] as? String), try XCTUnwrap(r["ll"] as? [Double]))
        }
    }

    /// Every prompt byte-identical to lm-eval's, including from an offset (earlier draws made and discarded).
    func testPromptsAreLMEvalsByteForByte() throws {
        let ref = try reference()
        XCTAssertEqual(ref.count, 20)
        let ds = try Dataset.load("arc-easy", dataDir: Fixtures.sharedData)
        let got = FewShot.items(Array(ds.items.prefix(ref.count)), pool: ds.items, shots: 5, sameSplit: true)
        for (g, r) in zip(got, ref) {
            XCTAssertEqual(g.doc, r.doc)
            XCTAssertEqual(g.context, r.context, "doc \(r.doc)")
            XCTAssertFalse(g.context.dropLast(ds.items[g.doc].context.count).contains(ds.items[g.doc].context), "doc \(g.doc) is not its own example")
        }
        let later = FewShot.items(Array(ds.items[7..<12]), pool: ds.items, shots: 5, sameSplit: true, skip: 7)
        XCTAssertEqual(later.map { $0.context }, ref[7..<12].map { $0.context })
        // Zero shots leave the items as they are; examples from another pool never come from the items.
        XCTAssertEqual(FewShot.items(Array(ds.items.prefix(3)), pool: ds.items, shots: 0, sameSplit: true), Array(ds.items.prefix(3)))
    }

    /// The 5-shot scores agree with lm-eval's on the real model (same prompts, same log-likelihoods).
    func testFiveShotScoresMatchLMEval() throws {
        let m = try Fixtures.realModel("smollm2-135m")
        let ref = Array(try reference().prefix(8))
        let ds = try Dataset.load("arc-easy", dataDir: Fixtures.sharedData)
        let got = Scorer(model: m).scoreAll(FewShot.items(Array(ds.items.prefix(ref.count)), pool: ds.items, shots: 5, sameSplit: true))
        var diffs: [Double] = []
        for (g, r) in zip(got, ref) {
            XCTAssertEqual(g.ll.count, r.ll.count)
            diffs += zip(g.ll, r.ll).map { abs($0 - $1) }
            XCTAssertEqual(g.pred, r.ll.indices.max { r.ll[$0] < r.ll[$1] }, "doc \(r.doc)")
        }
        diffs.sort()
        XCTAssertLessThanOrEqual(diffs[diffs.count / 2], 0.01, "median |Δll| \(diffs)")
    }

    /// GSM8K verdicts carried as scores: acc is strict-match, acc_norm flexible-extract, in all four combinations.
    func testVerdictScoresCarryBothVerdicts() {
        for strict in [false, true] {
            for flexible in [false, true] {
                let s = GSM8KScore.verdictScore(doc: 1, strict: strict, flexible: flexible)
                XCTAssertEqual(s.correct, strict); XCTAssertEqual(s.correctNorm, flexible)
            }
        }
        let g = GSM8KScore(doc: 4, prompt: "p", generated: " so 3 + 4 = 7 apples.\n#### 8", answer: "x\n#### 7", tokens: 3)
        XCTAssertFalse(g.itemScore.correct, "strict takes #### 8")
        XCTAssertFalse(g.itemScore.correctNorm, "flexible takes the last number, 8")
        let h = GSM8KScore(doc: 4, prompt: "p", generated: " 3 + 4 = 7", answer: "x\n#### 7", tokens: 3)
        XCTAssertFalse(h.itemScore.correct); XCTAssertTrue(h.itemScore.correctNorm)
        XCTAssertEqual(EvalSummary([g.itemScore, h.itemScore]).accNorm, 0.5)
    }

    /// The seed's keyword router: first vector with a keyword in the text, else the common one, else none.
    func testKeywordRouter() {
        XCTAssertEqual(KeywordRouter.defaultKeywords(name: "math", task: "gsm8k"), ["calculate", "solve"])
        XCTAssertEqual(KeywordRouter.defaultKeywords(name: "m2", task: "gsm8k"), ["calculate", "solve"], "by the task's role")
        XCTAssertEqual(KeywordRouter.defaultKeywords(name: "logic", task: nil), ["why", "because"])
        XCTAssertTrue(KeywordRouter.isCommon(name: "hs", task: "hellaswag"))
        XCTAssertFalse(KeywordRouter.isCommon(name: "math", task: "hellaswag"))
        let r = KeywordRouter(keywords: [["calculate", "Solve"], ["why", "because"], []], fallback: 2)
        XCTAssertEqual(r.route("Solve for x: 2x = 4"), 0)
        XCTAssertEqual(r.route("Why does ice float? Because…"), 1)
        XCTAssertEqual(r.route("She picks up the bat and"), 2)
        XCTAssertEqual(r.route("Why solve it?"), 0, "the first vector in compose order wins")
        XCTAssertNil(KeywordRouter(keywords: [["calculate"]], fallback: nil).route("a story"))
    }
}
