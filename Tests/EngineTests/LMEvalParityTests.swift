@testable import Engine
import Foundation
import XCTest

/// Multiple-choice scores against lm-evaluation-harness's HFLM over transformers
/// (scripts/reference_lmeval.py): the acceptance criterion, on the real GGUF models.
final class LMEvalParityTests: XCTestCase {
    /// Items per task; the acceptance criterion uses 200 (AFT_PARITY_ITEMS lowers it for quick runs).
    var limit: Int { Int(ProcessInfo.processInfo.environment["AFT_PARITY_ITEMS"] ?? "") ?? 200 }

    /// Agreement with the reference: `minAgree` of pred and of pred_norm, median |Δll| at most `maxMedian`.
    func check(_ model: String, _ task: String, precision: Precision = .f32, minAgree: Double = 0.995, maxMedian: Double = 0.01,
               file: StaticString = #filePath, line: UInt = #line) throws {
        let m = precision == .f32 ? try Fixtures.realModel(model) : try Fixtures.realModel(model, weights: .bf16)
        let refPath = Fixtures.root + "/lmeval/\(model)_\(task).jsonl"
        let refLines = try String(contentsOfFile: refPath, encoding: .utf8).split(separator: "\n").prefix(limit)
        let ds = try Dataset.load(task, dataDir: Fixtures.sharedData)
        let items = Array(ds.items.prefix(refLines.count))
        let got = Scorer(model: m).scoreAll(items)
        XCTAssertEqual(got.count, refLines.count, file: file, line: line)
        var diffs: [Double] = [], agree = 0, agreeNorm = 0
        for (g, l) in zip(got, refLines) {
            let r = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(l.utf8)) as? [String: Any])
            let ll = try XCTUnwrap(r["ll"] as? [Double])
            XCTAssertEqual(r["gold"] as? Int, g.gold, "doc \(g.doc): gold label", file: file, line: line)
            XCTAssertEqual(ll.count, g.ll.count, file: file, line: line)
            diffs += zip(ll, g.ll).map { abs($0 - $1) }
            if (r["pred"] as? Int) == g.pred { agree += 1 }
            if (r["pred_norm"] as? Int) == g.predNorm { agreeNorm += 1 }
        }
        diffs.sort()
        let median = diffs[diffs.count / 2], n = Double(got.count)
        print("parity \(precision.rawValue) \(model) \(task): n=\(got.count) pred \(agree) pred_norm \(agreeNorm) median|Δll| \(median) max \(diffs.last!)")
        XCTAssertGreaterThanOrEqual(Double(agree) / n, minAgree, "\(model) \(task): pred agreement", file: file, line: line)
        XCTAssertGreaterThanOrEqual(Double(agreeNorm) / n, minAgree, "\(model) \(task): pred_norm agreement", file: file, line: line)
        XCTAssertLessThanOrEqual(median, maxMedian, "\(model) \(task): median |Δll|", file: file, line: line)
        if precision == .bf16 { XCTAssertGreaterThan(median, 0, "bf16 scores equal f32's exactly: the bf16 GEMMs did not run", file: file, line: line) }
    }

    /// `precision=bf16` against the same transformers f32 reference: what bf16 costs in fidelity
    /// (the README's table quotes these lines).
    func checkBF16(_ model: String, _ task: String, file: StaticString = #filePath, line: UInt = #line) throws {
        guard BF16.support.available else { throw XCTSkip("bf16 GEMMs not available: \(BF16.support.why)") }
        try check(model, task, precision: .bf16, minAgree: 0.97, maxMedian: 0.08, file: file, line: line)
    }

    func testSmolLM2HellaSwag() throws { try check("smollm2-135m", "hellaswag") }
    func testSmolLM2ARCChallenge() throws { try check("smollm2-135m", "arc-challenge") }
    func testGemma3HellaSwag() throws { try check("gemma3-270m", "hellaswag") }
    func testGemma3ARCChallenge() throws { try check("gemma3-270m", "arc-challenge") }
    func testQwenCoderHellaSwag() throws { try check("qwen2.5-coder-0.5b", "hellaswag") }
    func testQwenCoderARCChallenge() throws { try check("qwen2.5-coder-0.5b", "arc-challenge") }
    func testSmolLM2BF16() throws { try checkBF16("smollm2-135m", "hellaswag"); try checkBF16("smollm2-135m", "arc-challenge") }
    func testGemma3BF16() throws { try checkBF16("gemma3-270m", "hellaswag"); try checkBF16("gemma3-270m", "arc-challenge") }
    func testQwenCoderBF16() throws { try checkBF16("qwen2.5-coder-0.5b", "hellaswag"); try checkBF16("qwen2.5-coder-0.5b", "arc-challenge") }

    /// The log line format and acc/acc_norm definitions on a hand-made item.
    func testItemScoreDefinitions() {
        let s = ItemScore(doc: 3, gold: 1, ll: [-10, -12, -30], choiceChars: [5, 20, 100])
        XCTAssertEqual(s.pred, 0)
        XCTAssertEqual(s.predNorm, 2)          // -30/100 is the highest per-character score
        XCTAssertFalse(s.correct); XCTAssertFalse(s.correctNorm)
        XCTAssertEqual(s.jsonLine, "{\"doc\": 3, \"gold\": 1, \"ll\": [-10.000000, -12.000000, -30.000000], \"pred\": 0, \"pred_norm\": 2}")
    }
}
