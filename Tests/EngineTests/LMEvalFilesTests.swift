@testable import Engine
import Foundation
import XCTest

/// `eval … lmeval=DIR` writes what lm-eval 0.4 writes with --log_samples: checked against the files
/// lm-eval itself wrote for the same model, task and documents (Fixtures/lmeval-files, reduced by
/// scripts/reference_lmeval_files.py to skeletons, hashes and metrics): the same keys and value
/// types, the same document, prompt and target hashes (so the same documents and byte-identical
/// prompts), the same per-item metrics and the same results entry (issue: ecosystem).
final class LMEvalFilesTests: XCTestCase {
    func skeleton(_ v: Any) -> Any {
        switch v {
        case let d as [String: Any]: return d.mapValues { skeleton($0) }
        case let a as [Any]: return a.isEmpty ? [] as [Any] : [skeleton(a[0])]
        case let n as NSNumber:
            // JSONSerialization reads 0.0 back as an integer: numbers are compared as numbers.
            return String(cString: n.objCType) == "c" ? "bool" : "number"
        case is String: return "str"
        default: return "NoneType"
        }
    }

    /// A skeleton as text with sorted keys; the reference's "int"/"float" are both numbers.
    func canonical(_ v: Any) -> String {
        switch v {
        case let d as [String: Any]: return "{" + d.keys.sorted().map { "\($0):\(canonical(d[$0]!))" }.joined(separator: ",") + "}"
        case let a as [Any]: return "[" + a.map { canonical($0) }.joined(separator: ",") + "]"
        case let t as String: return t == "int" || t == "float" ? "number" : t
        default: return "\(v)"
        }
    }

    func lines(_ path: String) throws -> [[String: Any]] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map {
            try XCTUnwrap(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
    }

    func check(_ task: String, written: (String, String), reference ref: [String: Any], resultsKeys: [String]) throws {
        let samples = try lines(written.1)
        let want = try XCTUnwrap(ref["docs"] as? [[String: Any]])
        XCTAssertEqual(samples.count, want.count)
        let wantSkeleton = try XCTUnwrap(ref["sample_skeleton"] as? [String: Any])
        for (ours, theirs) in zip(samples, want) {
            var bare = ours; bare["doc"] = nil
            // Types: JSONSerialization reads 0.0 as an integer NSNumber; compare floats' skeletons by key.
            let s = skeleton(bare) as! [String: Any]
            XCTAssertEqual(Set(s.keys), Set(wantSkeleton.keys), "\(task): sample keys")
            XCTAssertEqual(canonical(s["arguments"]!), canonical(wantSkeleton["arguments"]!), "\(task): arguments")
            XCTAssertEqual(canonical(s["resps"]!), canonical(wantSkeleton["resps"]!), "\(task): resps")
            for k in ["doc_id", "filter", "doc_hash", "prompt_hash", "target_hash"] {
                XCTAssertEqual("\(ours[k]!)", "\(theirs[k]!)", "\(task) doc \(theirs["doc_id"]!): \(k)")
            }
            for (m, v) in try XCTUnwrap(theirs["metrics"] as? [String: Double]) {
                XCTAssertEqual(ours[m] as? Double, v, "\(task) doc \(theirs["doc_id"]!): \(m)")
            }
            if task == "gsm8k" {
                XCTAssertEqual(ours["filtered_resps"] as? [String], theirs["filtered_resps"] as? [String], "the same extracted answer")
            } else {
                // Log-likelihoods agree with transformers to 1e-3 nats; the greedy flags exactly.
                let a = try XCTUnwrap(ours["filtered_resps"] as? [[String]]), b = try XCTUnwrap(theirs["filtered_resps"] as? [[String]])
                for (x, y) in zip(a, b) {
                    XCTAssertEqual(Double(x[0])!, Double(y[0])!, accuracy: 1e-3)
                    XCTAssertEqual(x[1], y[1], "is_greedy")
                }
            }
        }
        let results = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: written.0))) as? [String: Any])
        let entry = try XCTUnwrap((results["results"] as? [String: Any])?[LMEvalOutput.task(task).name] as? [String: Any])
        for (k, v) in try XCTUnwrap(ref["results_entry"] as? [String: Any]) {
            XCTAssertEqual("\(entry[k] ?? "missing")", "\(v)", "\(task): results entry \(k)")
        }
        XCTAssertEqual((results["n-shot"] as? [String: Int])?[LMEvalOutput.task(task).name], ref["n-shot"] as? Int)
        // Every top-level key lm-eval writes (its environment and tokenizer records included), and no other.
        XCTAssertEqual(results.keys.sorted(), resultsKeys.sorted())
        XCTAssertEqual(results["tokenizer_eos_token"] as? [String], ["<|im_end|>", "2"])
        XCTAssertEqual(results["max_length"] as? Int, 8192)
    }

    func testFilesMatchWhatLMEvalWrote() throws {
        let ref = try Fixtures.json("lmeval-files/smollm2-135m.json")
        let m = try Fixtures.realModel("smollm2-135m")
        let tmp = NSTemporaryDirectory() + "aft-lmfiles-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: tmp) }

        let arc = try Dataset.load("arc-easy", dataDir: Fixtures.sharedData)
        let items = Array(arc.items.prefix(3))
        let scores = Scorer(model: m).scoreAll(items)
        let (mcLines, mcMetrics) = LMEvalOutput.multipleChoice(arc, items: items, scores: scores)
        let mc = try LMEvalOutput.write(to: tmp, model: m.name, modelPath: m.path, task: "arc-easy", shots: 0, total: arc.items.count,
                                        samples: mcLines, metrics: mcMetrics, seconds: 1, tokenizer: .init(m))
        try check("arc-easy", written: mc, reference: try XCTUnwrap(ref["arc_easy"] as? [String: Any]),
                  resultsKeys: try XCTUnwrap(ref["results_keys"] as? [String]))

        let gsm = try Dataset.load("gsm8k", dataDir: Fixtures.sharedData)
        let train = try GSM8K.trainSplit(besides: gsm.path)
        let prompts = GSM8K.prompts(test: gsm.genItems, train: train.genItems, docs: 0..<3, shots: 5)
        let solved = try Generator(model: m).solve(Array(gsm.genItems.prefix(3)), prompts: prompts, maxTokens: 24)
        let (gLines, gMetrics) = LMEvalOutput.gsm8k(gsm, scores: solved, maxTokens: 24, stop: GSM8K.stopSequences)
        let g = try LMEvalOutput.write(to: tmp, model: m.name, modelPath: m.path, task: "gsm8k", shots: 5, total: gsm.genItems.count,
                                       samples: gLines, metrics: gMetrics, seconds: 1, tokenizer: .init(m))
        try check("gsm8k", written: g, reference: try XCTUnwrap(ref["gsm8k"] as? [String: Any]),
                  resultsKeys: try XCTUnwrap(ref["results_keys"] as? [String]))
    }

    /// A HellaSwag document is logged as lm-eval's process_docs leaves it: the row, then the
    /// `query`, `choices` and `gold` it adds (lm-eval's preprocess: tags dropped, double spaces closed).
    func testHellaSwagDocCarriesLMEvalsAddedFields() throws {
        let p = NSTemporaryDirectory() + "aft-hs-\(UUID().uuidString).jsonl"
        defer { try? FileManager.default.removeItem(atPath: p) }
        try #"{"ind": 4, "activity_label": "Cooking", "ctx": "Cooking: a man [header] cuts  onions.", "endings": ["he cries [step] .", " it ends. "], "label": "1"}"#
            .write(toFile: p, atomically: true, encoding: .utf8)
        let ds = try Dataset.load(p)
        let d = LMEvalOutput.doc(ds, 0)
        XCTAssertEqual(d.dumps(), #"{"ind": 4, "activity_label": "Cooking", "ctx": "Cooking: a man [header] cuts  onions.", "endings": ["he cries [step] .", " it ends. "], "label": "1", "query": "Cooking: a man cuts onions.", "choices": ["he cries .", "it ends."], "gold": 1}"#)
    }

    /// Python's json.dumps, reproduced: key order kept, indent=2, ensure_ascii=False, floats as repr.
    func testPythonJSONPrintsAsPythonDoes() throws {
        let v = try XCTUnwrap(PythonJSON.parse(Data(#"{"b": [1, 2.5, {"x": null}], "a": "é\n\"q\"", "c": true, "d": {}, "e": 1e-05, "f": 3.0}"#.utf8)))
        XCTAssertEqual(v.dumps(), #"{"b": [1, 2.5, {"x": null}], "a": "é\n\"q\"", "c": true, "d": {}, "e": 1e-05, "f": 3.0}"#)
        XCTAssertEqual(v.dumps(indent: 2), "{\n  \"b\": [\n    1,\n    2.5,\n    {\n      \"x\": null\n    }\n  ],\n  \"a\": \"é\\n\\\"q\\\"\",\n  \"c\": true,\n  \"d\": {},\n  \"e\": 1e-05,\n  \"f\": 3.0\n}")
        XCTAssertEqual(LMEvalOutput.stderr([1, 0, 1]), .double(0.33333333333333337))
        XCTAssertEqual(LMEvalOutput.stderr([1]), .string("N/A"))
    }
}
