@testable import Engine
import Foundation
import XCTest

/// Token ids identical to transformers' tokenizers for every dataset text
/// (fixtures: FNV-1a digests of the id lists, scripts/make_fixtures.py tokens).
final class TokenizerParityTests: XCTestCase {
    /// The same texts, in the same order, as make_fixtures.py's text_list().
    static let texts: [String] = {
        var out: [String] = []
        func rows(_ rel: String) -> [[String: Any]] {
            guard let s = try? String(contentsOfFile: Fixtures.sharedData + "/" + rel, encoding: .utf8) else { return [] }
            return s.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        }
        for r in rows("hellaswag/hellaswag_val.jsonl") {
            let ctx = r["ctx"] as! String
            out.append(ctx); out += (r["endings"] as! [String]).map { ctx + " " + $0 }
        }
        for f in ["arc_challenge/arc_challenge_test.jsonl", "arc_easy/arc_easy_test.jsonl"] {
            for r in rows(f) {
                let q = "Question: \(r["question"] as! String)\nAnswer:"
                out.append(q); out += ((r["choices"] as! [String: Any])["text"] as! [String]).map { q + " " + $0 }
            }
        }
        for f in ["train", "test", "test_socratic"] {
            for r in rows("gsm8k/\(f).jsonl") { out += [r["question"] as! String, r["answer"] as! String] }
        }
        return out
    }()

    static func fnv1a(_ ids: [Int]) -> UInt32 {
        var h: UInt32 = 0x811C_9DC5
        for id in ids { for k in 0..<4 { h ^= UInt32((UInt32(truncatingIfNeeded: id) >> (8 * k)) & 0xFF); h = h &* 0x0100_0193 } }
        return h
    }

    func check(_ name: String, _ tok: Tokenizer, file: StaticString = #filePath, line: UInt = #line) throws {
        let d = try Data(contentsOf: URL(fileURLWithPath: Fixtures.root + "/tokens/\(name).bin"))
        let want: [UInt32] = d.withUnsafeBytes { b in (0..<(d.count / 4)).map { b.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self) } }
        let texts = TokenizerParityTests.texts
        XCTAssertEqual(Int(want[0]), texts.count, "text list differs from the fixture's", file: file, line: line)
        guard Int(want[0]) == texts.count else { return }
        var got = [UInt32](repeating: 0, count: texts.count)
        let chunk = 512
        got.withUnsafeMutableBufferPointer { g in
            DispatchQueue.concurrentPerform(iterations: (texts.count + chunk - 1) / chunk) { c in
                for i in c * chunk..<min(texts.count, (c + 1) * chunk) { g[i] = TokenizerParityTests.fnv1a(tok.encode(texts[i], addSpecial: true)) }
            }
        }
        let bad = texts.indices.filter { got[$0] != want[$0 + 1] }
        XCTAssertEqual(bad.count, 0, "\(name): \(bad.count) of \(texts.count) texts tokenise differently; first: "
                       + bad.prefix(3).map { "#\($0) \(texts[$0].debugDescription.prefix(120)) → \(tok.encode(texts[$0], addSpecial: true).prefix(40))" }.joined(separator: "; "),
                       file: file, line: line)
    }

    func ggufTokenizer(_ model: String) throws -> Tokenizer {
        guard case .gguf(let p) = try ModelRegistry().resolve(model) else { throw XCTSkip("not a GGUF") }
        return try Tokenizer(gguf: GGUFFile(path: p))
    }

    func realTokenizer(_ model: String) throws -> Tokenizer {
        do { return try ggufTokenizer(model) }
        catch EngineError.modelNotFound where ProcessInfo.processInfo.environment["AFT_REQUIRE_MODELS"] == nil {
            throw XCTSkip("model \(model) not fetched")
        }
    }

    func testSmolLM2() throws { try check("smollm2-135m", realTokenizer("smollm2-135m")) }
    func testGemma3() throws { try check("gemma3-270m", realTokenizer("gemma3-270m")) }
    func testQwenCoder() throws { try check("qwen2.5-coder-0.5b", realTokenizer("qwen2.5-coder-0.5b")) }
    func testPythiaTokenizerJSON() throws {
        try check("pythia-160m", Tokenizer(directory: Fixtures.sharedData + "/../model-configs/pythia-160m"))
    }
    func testQwenVocabAndMerges() throws {
        try check("qwen-0.5b", Tokenizer(directory: Fixtures.sharedData + "/../model-configs/qwen-0.5b"))
    }

    /// Regex pre-tokenizer semantics on edge cases (expected splits from the regexes' leftmost-first alternation).
    func testPreTokenizerEdgeCases() {
        func split(_ p: PreTokenizer, _ s: String) -> [String] {
            let sc = Array(s.unicodeScalars)
            return p.split(sc).map { r in var v = String.UnicodeScalarView(); v.append(contentsOf: sc[r]); return String(v) }
        }
        XCTAssertEqual(split(.gpt2, "Hello  world's 123abc!!\n\n x"), ["Hello", " ", " world", "'s", " 123", "abc", "!!", "\n\n", " x"])
        XCTAssertEqual(split(.gpt2, "end   "), ["end", "   "])
        XCTAssertEqual(split(.qwen2, "Hello  WORLD'S 123abc!!\n\n x"), ["Hello", " ", " WORLD", "'S", " ", "1", "2", "3", "abc", "!!\n\n", " x"])
        XCTAssertEqual(split(.qwen2, "a \n\n b"), ["a", " \n\n", " b"])
        XCTAssertEqual(split(.qwen2, "(x) é東"), ["(x", ")", " é東"])
    }

    func testDecodeRoundTrips() throws {
        let t = try Tokenizer(directory: Fixtures.sharedData + "/../model-configs/pythia-160m")
        for s in ["Hello  world", "naïve café 東京 🙂\n\ttab", "  leading spaces"] { XCTAssertEqual(t.decode(t.encode(s)), s) }
    }
}

/// Swift String equality is canonical equivalence; token lookups must compare exact bytes.
final class ByteKeyTests: XCTestCase {
    func testCanonicallyEquivalentTokensStayDistinct() {
        XCTAssertEqual(";", "\u{037E}")                       // Swift says equal…
        XCTAssertNotEqual(ByteKey(";"), ByteKey("\u{037E}"))  // …the tokenizer must not.
        XCTAssertNotEqual(ByteKey("e\u{301}"), ByteKey("\u{E9}"))
        var d: [ByteKey: Int] = [:]
        d[ByteKey(";")] = 1; d[ByteKey("\u{037E}")] = 2
        XCTAssertEqual(d.count, 2)
    }
}
