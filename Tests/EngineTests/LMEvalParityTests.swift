import Engine
import Foundation
import XCTest

/// Multiple-choice scores against lm-evaluation-harness's HFLM over transformers
/// (scripts/reference_lmeval.py): the acceptance criterion, on the real GGUF models.
final class LMEvalParityTests: XCTestCase {
    /// Items per task; the acceptance criterion uses 200 (AFT_PARITY_ITEMS lowers it for quick runs).
    var limit: Int { Int(ProcessInfo.processInfo.environment["AFT_PARITY_ITEMS"] ?? "") ?? 200 }

    func check(_ model: String, _ task: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let m = try Fixtures.realModel(model)
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
        print("parity \(model) \(task): n=\(got.count) pred \(agree) pred_norm \(agreeNorm) median|Δll| \(median) max \(diffs.last!)")
        XCTAssertGreaterThanOrEqual(Double(agree) / n, 0.995, "\(model) \(task): pred agreement", file: file, line: line)
        XCTAssertGreaterThanOrEqual(Double(agreeNorm) / n, 0.995, "\(model) \(task): pred_norm agreement", file: file, line: line)
        XCTAssertLessThanOrEqual(median, 0.01, "\(model) \(task): median |Δll|", file: file, line: line)
    }

    func testSmolLM2HellaSwag() throws { try check("smollm2-135m", "hellaswag") }
    func testSmolLM2ARCChallenge() throws { try check("smollm2-135m", "arc-challenge") }
    func testGemma3HellaSwag() throws { try check("gemma3-270m", "hellaswag") }
    func testGemma3ARCChallenge() throws { try check("gemma3-270m", "arc-challenge") }
    func testQwenCoderHellaSwag() throws { try check("qwen2.5-coder-0.5b", "hellaswag") }
    func testQwenCoderARCChallenge() throws { try check("qwen2.5-coder-0.5b", "arc-challenge") }

    /// The log line format and acc/acc_norm definitions on a hand-made item.
    func testItemScoreDefinitions() {
        let s = ItemScore(doc: 3, gold: 1, ll: [-10, -12, -30], choiceChars: [5, 20, 100])
        XCTAssertEqual(s.pred, 0)
        XCTAssertEqual(s.predNorm, 2)          // -30/100 is the highest per-character score
        XCTAssertFalse(s.correct); XCTAssertFalse(s.correctNorm)
        XCTAssertEqual(s.jsonLine, "{\"doc\": 3, \"gold\": 1, \"ll\": [-10.000000, -12.000000, -30.000000], \"pred\": 0, \"pred_norm\": 2}")
    }
}
