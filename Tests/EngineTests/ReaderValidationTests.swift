@testable import Engine
import Foundation
import XCTest

/// Readers validate before they trust, and numbers that break down say where (issue: reliability).
final class ReaderValidationTests: XCTestCase {
    var dir = ""
    override func setUp() {
        dir = NSTemporaryDirectory() + "aft-readers-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// The committed fuzz corpus, beside the tests' checkout.
    static var seeds: String {
        var u = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { u.deleteLastPathComponent() }
        return u.path + "/scripts/fuzz-seeds"
    }

    func testSHA256KnownAnswersAndStreaming() throws {
        func hex(_ s: String) -> String { var h = SHA256(); h.update(Data(s.utf8)); return h.hexDigest() }
        XCTAssertEqual(hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        // The same bytes fed in uneven pieces (crossing block boundaries) give the same digest.
        let bytes = Data((0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 37) })
        var whole = SHA256(); whole.update(bytes)
        var pieces = SHA256()
        var i = 0
        for n in [1, 63, 64, 65, 7, 300, 500] { pieces.update(bytes[i..<min(bytes.count, i + n)]); i = min(bytes.count, i + n) }
        XCTAssertEqual(i, 1000)
        XCTAssertEqual(pieces.hexDigest(), whole.hexDigest())
        // A file's digest is cached by version: changing the file changes it.
        let p = dir + "/w.gguf"
        try Data("one".utf8).write(to: URL(fileURLWithPath: p))
        let a = try ModelDigest.sha256(ofFile: p)
        XCTAssertEqual(a, hex("one"))
        try Data("two!".utf8).write(to: URL(fileURLWithPath: p))
        XCTAssertEqual(try ModelDigest.sha256(ofFile: p), hex("two!"))
    }

    /// A real model's digest is the one its registry entry (and the Hub) publishes.
    func testModelDigestMatchesRegistry() throws {
        let m = try Fixtures.realModel("smollm2-135m")
        let want = try XCTUnwrap(ModelRegistry.ggufModels.first { $0.name == "smollm2-135m" }?.sha256)
        XCTAssertEqual(try m.sha256(), want)
    }

    /// Scaled RoPE (yarn, linear, …) is refused with the file, the key and the kind, in both formats.
    func testRopeScalingIsRefused() throws {
        XCTAssertThrowsError(try ModelConfig(hfConfigAt: Self.seeds + "/config/llama-yarn.json")) { e in
            XCTAssertTrue("\(e)".contains("llama-yarn.json") && "\(e)".contains("'rope_scaling.rope_type' is 'yarn'"), "\(e)")
        }
        var c = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Self.seeds + "/config/qwen2.json"))) as! [String: Any]
        c["rope_scaling"] = ["type": "linear", "factor": 2.0]
        try JSONSerialization.data(withJSONObject: c).write(to: URL(fileURLWithPath: dir + "/config.json"))
        XCTAssertThrowsError(try ModelConfig(hfConfigAt: dir + "/config.json")) { e in XCTAssertTrue("\(e)".contains("'linear'"), "\(e)") }
        c["rope_scaling"] = ["rope_type": "default"]
        try JSONSerialization.data(withJSONObject: c).write(to: URL(fileURLWithPath: dir + "/config.json"))
        XCTAssertNoThrow(try ModelConfig(hfConfigAt: dir + "/config.json"), "the default (unscaled) kind is what aft runs")
        // GGUF: `ARCH.rope.scaling.type`.
        var w = GGUFWriter()
        w.add("general.architecture", string: "llama")
        for (k, v) in [("block_count", 1), ("embedding_length", 8), ("attention.head_count", 2), ("feed_forward_length", 16)] {
            w.add("llama." + k, u32: UInt32(v))
        }
        w.add("llama.rope.scaling.type", string: "yarn")
        w.add("tokenizer.ggml.tokens", strings: ["a", "b"])
        let p = dir + "/yarn.gguf"
        _ = FileManager.default.createFile(atPath: p, contents: Data(w.bytes()))
        XCTAssertThrowsError(try ModelConfig(gguf: GGUFFile(path: p))) { e in
            XCTAssertTrue("\(e)".contains("yarn.gguf") && "\(e)".contains("'rope.scaling.type' is 'yarn'"), "\(e)")
        }
    }

    /// A config field that is present must be valid: wrong values are refused with the key, never
    /// replaced by a default, and counts far beyond any model are refused before anything is allocated.
    func testConfigValuesArePresentAndValidOrAbsent() throws {
        let base = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Self.seeds + "/config/llama.json"))) as! [String: Any]
        let cases: [(String, Any, String)] = [
            ("num_hidden_layers", 1_000_000_000_000, "'num_hidden_layers' must be a positive integer of at most"),
            ("num_attention_heads", 0, "'num_attention_heads' must be a positive integer"),
            ("rope_theta", "x", "'rope_theta' must be a positive number"),
            ("rope_theta", -5, "'rope_theta' must be a positive number"),
            ("max_position_embeddings", 0, "'max_position_embeddings' must be a positive integer"),
            ("max_position_embeddings", 1.5, "'max_position_embeddings' must be a positive integer"),
            ("rms_norm_eps", [1], "'rms_norm_eps' must be a positive number"),
            ("bos_token_id", 999_999, "BOS token id 999999 is outside the vocabulary"),
            ("vocab_size", -1, "'vocab_size' must be a positive integer"),
        ]
        for (key, value, want) in cases {
            var c = base
            c[key] = value
            try JSONSerialization.data(withJSONObject: c).write(to: URL(fileURLWithPath: dir + "/config.json"))
            XCTAssertThrowsError(try ModelConfig(hfConfigAt: dir + "/config.json"), "\(key)=\(value)") { e in
                XCTAssertTrue("\(e)".contains(want) && "\(e)".contains("config.json"), "\(key)=\(value): \(e)")
            }
        }
        var c = base
        c["max_position_embeddings"] = NSNull()
        try JSONSerialization.data(withJSONObject: c).write(to: URL(fileURLWithPath: dir + "/config.json"))
        XCTAssertNil(try ModelConfig(hfConfigAt: dir + "/config.json").maxPositions, "null is absent")
    }

    /// GGUF special-token ids outside the vocabulary are refused, not dropped.
    func testGGUFSpecialTokenIdsMustNameTokens() throws {
        var w = GGUFWriter()
        w.add("general.architecture", string: "llama")
        w.add("tokenizer.ggml.model", string: "gpt2")
        w.add("tokenizer.ggml.tokens", strings: ["a", "b"])
        w.add("tokenizer.ggml.eos_token_id", u32: 7)
        let p = dir + "/eos.gguf"
        _ = FileManager.default.createFile(atPath: p, contents: Data(w.bytes()))
        XCTAssertThrowsError(try Tokenizer(gguf: GGUFFile(path: p))) { e in
            XCTAssertTrue("\(e)".contains("'tokenizer.ggml.eos_token_id' is 7: outside the vocabulary of 2 tokens"), "\(e)")
        }
    }

    func safetensors(_ header: [String: Any], data: Int) throws -> String {
        var h = try JSONSerialization.data(withJSONObject: header, options: .sortedKeys)
        while h.count % 8 != 0 { h.append(0x20) }
        var n = UInt64(h.count).littleEndian
        let p = dir + "/t-\(UUID().uuidString).safetensors"
        try (Data(bytes: &n, count: 8) + h + Data(count: data)).write(to: URL(fileURLWithPath: p))
        return p
    }

    /// Each safetensors fault gets its own message: overlap, size/shape disagreement, negative dimension, truncation, metadata.
    func testSafetensorsFaultsAreNamed() throws {
        let cases: [([String: Any], Int, String)] = [
            (["a": ["dtype": "F32", "shape": [2], "data_offsets": [0, 8]], "b": ["dtype": "F32", "shape": [2], "data_offsets": [4, 12]]], 12, "overlap"),
            (["a": ["dtype": "F32", "shape": [3], "data_offsets": [0, 8]]], 8, "needs 12 bytes"),
            (["a": ["dtype": "F32", "shape": [-2, -2], "data_offsets": [0, 16]]], 16, "negative dimension"),
            (["a": ["dtype": "F32", "shape": [4], "data_offsets": [0, 16]]], 8, "runs past the end"),
            (["a": ["dtype": "F32", "shape": [1 << 40, 1 << 40], "data_offsets": [0, 4]]], 4, "impossibly large"),
            (["a": ["dtype": "F32", "shape": [1], "data_offsets": [8, 4]]], 8, "not a start and an end"),
            (["__metadata__": ["layer": 3], "a": ["dtype": "F32", "shape": [1], "data_offsets": [0, 4]]], 4, "strings to strings"),
        ]
        for (header, size, want) in cases {
            let p = try safetensors(header, data: size)
            XCTAssertThrowsError(try SafetensorsFile(path: p), want) { e in
                XCTAssertTrue("\(e)".contains(want) && "\(e)".contains(p), "wanted '\(want)': \(e)")
            }
        }
    }

    /// A vector file from another format version is refused; one of this version loads with its provenance.
    func testVectorFormatVersionIsChecked() throws {
        let v = SteeringVector(name: "v", values: [1, -2, 3], layer: 2, metadata: ["model_sha256": String(repeating: "a", count: 64)])
        try v.saveSafetensors(to: dir + "/v.safetensors")
        let back = try SteeringVector.loadSafetensors(dir + "/v.safetensors")
        XCTAssertEqual(back.values, [1, -2, 3]); XCTAssertEqual(back.metadata["format"], SteeringVector.format)
        let p = try safetensors(["__metadata__": ["format": "aft-steering-vector/9", "layer": "1"],
                                 "steering.vector": ["dtype": "F32", "shape": [2], "data_offsets": [0, 8]]], data: 8)
        XCTAssertThrowsError(try SteeringVector.loadSafetensors(p)) { e in XCTAssertTrue("\(e)".contains("aft-steering-vector/9"), "\(e)") }
    }

    /// A NaN in the residual stream is traced to the block where it first appears.
    func testFirstNonFiniteNamesTheBlock() throws {
        let m = try LanguageModel(name: Self.seeds + "/gguf/llama-f32.gguf")
        let toks = m.tokenizer.encode("the cat")
        XCTAssertNil(m.transformer.firstNonFinite(tokens: toks), "the fixture model is finite")
        var nan = [Float](repeating: 0, count: m.config.hidden)
        nan[3] = .nan
        let at1 = try XCTUnwrap(m.transformer.firstNonFinite(tokens: toks, steering: [(1, nan)]))
        XCTAssertEqual(at1.layer, 1); XCTAssertEqual(at1.position, 0)
        XCTAssertTrue(at1.description.contains("output of block 1"), at1.description)
        let at0 = try XCTUnwrap(m.transformer.firstNonFinite(tokens: toks, steering: [(0, nan)]))
        XCTAssertEqual(at0.layer, 0)
    }

    /// A training step whose loss or gradient is not finite stops the run, naming the item and
    /// where its forward pass broke down, and the run keeps the best finite epoch before it.
    func testNonFiniteTrainingStopsAndSaysWhere() throws {
        try FileManager.default.createDirectory(atPath: dir + "/arc_easy", withIntermediateDirectories: true)
        let lines = (0..<24).map { i in
            #"{"question": "Which is right for \#(i)?", "choices": {"text": ["a cat", "the dog", "he runs", "12"], "label": ["A", "B", "C", "D"]}, "answerKey": "\#(["A", "B", "C", "D"][i % 4])"}"#
        }
        try lines.joined(separator: "\n").write(toFile: dir + "/arc_easy/arc_easy_test.jsonl", atomically: true, encoding: .utf8)
        let m = try LanguageModel(name: Self.seeds + "/gguf/llama-f32.gguf")
        var c = TrainConfig()
        c.epochs = 4; c.lr = 1e38; c.clip = 0; c.batch = 4; c.patience = 10   // Adam steps of ~1e38 overflow Float by the 4th step
        let s = try SteeringStudy(model: m, task: "arc-easy", dataDir: dir, train: 8, val: 8, test: 0, seed: 3, config: c)
        try s.prepare(layers: [0]) { _, _ in }
        let (runs, best) = try s.trainSeeds(layer: 0, baseSeed: 1)
        let why = try XCTUnwrap(runs[0].nonFinite, "the run says it stopped")
        XCTAssertTrue(why.contains("item doc") && why.contains("layer 0"), why)
        XCTAssertTrue(best.vector.allSatisfy { $0.isFinite }, "the kept vector is a finite epoch's")
        XCTAssertTrue(best.history.dropFirst().allSatisfy { $0.trainLoss.isFinite })
    }

    /// The committed corpus of every fuzz target loads or is refused with an error, never a crash
    /// (the fuzzing itself is scripts/fuzz; this replays its seeds through the same readers).
    func testFuzzSeedsLoadOrAreRefused() throws {
        let fm = FileManager.default
        for f in try fm.contentsOfDirectory(atPath: Self.seeds + "/gguf") {
            XCTAssertNoThrow(try LanguageModel(name: Self.seeds + "/gguf/" + f), f)
        }
        for f in try fm.contentsOfDirectory(atPath: Self.seeds + "/config") where f != "llama-yarn.json" {
            XCTAssertNoThrow(try ModelConfig(hfConfigAt: Self.seeds + "/config/" + f), f)
        }
    }
}
