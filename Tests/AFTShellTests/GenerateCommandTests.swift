import Engine
@testable import Lang
import XCTest

/// `generate` and `eval gsm8k` from the language, on the default model.
final class GenerateCommandTests: XCTestCase {
    var tmp = ""
    override func setUp() { tmp = NSTemporaryDirectory() + "aft-gen-\(UUID().uuidString)" }
    override func tearDown() { try? FileManager.default.removeItem(atPath: tmp) }

    func session() throws -> (Session, () -> [String]) {
        do { _ = try ModelRegistry().resolve("smollm2-135m") } catch where ProcessInfo.processInfo.environment["AFT_REQUIRE_MODELS"] == nil {
            throw XCTSkip("smollm2-135m not fetched")
        }
        var u = URL(fileURLWithPath: #filePath)
        for _ in 0..<4 { u.deleteLastPathComponent() }
        final class Box { var lines: [String] = [] }
        let box = Box()
        let s = Session(output: { box.lines.append($0) })
        s.settings.out = tmp + "/runs"
        s.settings.data = u.path + "/shared/data"
        try s.run(source: "load smollm2-135m", file: "t.aft")
        return (s, { box.lines })
    }

    func testGenerateStreamsAndStoresTheContinuation() throws {
        let (s, _) = try session()
        var streamed = ""
        s.stream = { streamed += $0 }
        try s.run(source: "g = generate \"The capital of France is\" max_tokens=3", file: "t.aft")
        let g = try XCTUnwrap(s.variables["g"]?.as(GenerationResult.self))
        XCTAssertTrue(g.text.hasPrefix(" Paris"), g.text)   // as transformers generates it (shared/README.md)
        XCTAssertEqual(g.tokens, 3)
        XCTAssertEqual(streamed, g.text + "\n")
    }

    func testEvalGSM8KWritesLMEvalStyleLogAndBothMetrics() throws {
        let (s, out) = try session()
        let log = tmp + "/g.jsonl"
        try s.run(source: "r = eval gsm8k limit=2 max_tokens=24 log=\(log)", file: "t.aft")
        let r = try XCTUnwrap(s.variables["r"]?.as(GSM8KResult.self))
        XCTAssertEqual(r.n, 2)
        XCTAssertTrue(out().joined().contains("exact_match flexible-extract"))
        // The arithmetic it reports: one head product per token picked (each generated token, plus
        // an EOS that ended a problem), and the compute line with its rate.
        let w = try XCTUnwrap(r.work), c = try XCTUnwrap(s.model).config
        let picks = w.head / (2 * Double(c.hidden * c.vocabSize))
        XCTAssertEqual(picks, picks.rounded())
        XCTAssertTrue(picks >= Double(r.generatedTokens) && picks <= Double(r.generatedTokens + r.n), "\(picks) picks, \(r.generatedTokens) tokens")
        XCTAssertGreaterThan(w.linear, w.attention)
        XCTAssertTrue(out().joined().contains("compute: \(w.summary), "), out().joined())
        XCTAssertEqual((r.json["flop"] as? [String: Double])?["total"], w.total)
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 2)
        let first = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        XCTAssertEqual(Set(first.keys), ["doc", "prompt", "generated", "strict", "flexible", "target", "exact_match_strict", "exact_match_flexible"])
        XCTAssertEqual(first["target"] as? String, "18")
        XCTAssertTrue((first["prompt"] as? String ?? "").hasSuffix("Question: Janet’s ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins for her friends every day with four. She sells the remainder at the farmers' market daily for $2 per fresh duck egg. How much in dollars does she make every day at the farmers' market?\nAnswer:"))
    }

    /// A vector for a layer the model does not have is refused, naming the layer range, and an
    /// existing log is left as it was; generation-only arguments on a multiple-choice task are refused.
    func testBadVectorAndMisplacedArgumentsAreRefusedWithoutLosingTheLog() throws {
        let (s, _) = try session()
        let d = try XCTUnwrap(s.model).config.hidden
        s.vectors["far"] = SteeringVector(name: "far", values: [Float](repeating: 0.1, count: d), layer: 999, metadata: [:])
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        let log = tmp + "/old.jsonl"
        try "precious\n".write(toFile: log, atomically: true, encoding: .utf8)
        for cmd in ["eval hellaswag limit=2 log=\(log) with far", "eval gsm8k limit=1 log=\(log) with far", "generate \"x\" with far"] {
            XCTAssertThrowsError(try s.run(source: cmd, file: "t.aft"), cmd) { e in
                XCTAssertTrue("\(e)".contains("layer 999") && "\(e)".contains("layers 0..29"), "\(e)")
            }
        }
        XCTAssertEqual(try String(contentsOfFile: log, encoding: .utf8), "precious\n")
        XCTAssertThrowsError(try s.run(source: "eval hellaswag limit=2 max_tokens=3", file: "t.aft")) { e in
            XCTAssertTrue("\(e)".contains("applies to generation tasks"), "\(e)")
        }
        XCTAssertThrowsError(try s.run(source: "eval hellaswag limit=2 shots=fixed", file: "t.aft")) { e in
            XCTAssertTrue("\(e)".contains("shots=fixed applies to gsm8k"), "\(e)")
        }
    }
}
