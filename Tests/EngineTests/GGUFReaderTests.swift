@testable import Engine
import XCTest

/// Builds small GGUF files in memory to test the reader's parsing and its errors on corrupt input.
struct GGUFWriter {
    var kv: [(String, UInt32, [UInt8])] = []
    var tensors: [(String, [Int], UInt32, [UInt8])] = []   // name, ggml ne (innermost first), type, data
    var alignment = 32

    static func str(_ s: String) -> [UInt8] { le(UInt64(s.utf8.count)) + Array(s.utf8) }
    static func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }

    mutating func add(_ key: String, u32 v: UInt32) { kv.append((key, 4, GGUFWriter.le(v))) }
    mutating func add(_ key: String, string v: String) { kv.append((key, 8, GGUFWriter.str(v))) }
    mutating func add(_ key: String, strings v: [String]) {
        kv.append((key, 9, GGUFWriter.le(UInt32(8)) + GGUFWriter.le(UInt64(v.count)) + v.flatMap { GGUFWriter.str($0) }))
    }
    mutating func tensor(_ name: String, ne: [Int], f32 values: [Float]) {
        tensors.append((name, ne, 0, values.flatMap { GGUFWriter.le($0.bitPattern) }))
    }

    func bytes(version: UInt32 = 3, magic: UInt32 = 0x4655_4747, typeOverride: UInt32? = nil, offsetShift: UInt64 = 0) -> [UInt8] {
        var b = GGUFWriter.le(magic) + GGUFWriter.le(version) + GGUFWriter.le(UInt64(tensors.count)) + GGUFWriter.le(UInt64(kv.count))
        for (k, t, v) in kv { b += GGUFWriter.str(k) + GGUFWriter.le(t) + v }
        var off: UInt64 = 0
        var data: [UInt8] = []
        for (name, ne, t, d) in tensors {
            b += GGUFWriter.str(name) + GGUFWriter.le(UInt32(ne.count)) + ne.flatMap { GGUFWriter.le(UInt64($0)) }
            b += GGUFWriter.le(typeOverride ?? t) + GGUFWriter.le(off + offsetShift)
            data += d
            while data.count % alignment != 0 { data.append(0) }
            off = UInt64(data.count)
        }
        while b.count % alignment != 0 { b.append(0) }
        return b + data
    }
}

final class GGUFReaderTests: XCTestCase {
    var dir: String!
    override func setUp() { dir = NSTemporaryDirectory() + "aft-gguf-\(UUID().uuidString)"; try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func write(_ b: [UInt8], _ name: String = "m.gguf") -> String {
        let p = dir + "/" + name
        _ = FileManager.default.createFile(atPath: p, contents: Data(b))
        return p
    }

    func sample() -> GGUFWriter {
        var w = GGUFWriter()
        w.add("general.architecture", string: "llama")
        w.add("llama.block_count", u32: 1)
        w.add("tokenizer.ggml.tokens", strings: ["a", "b", "c"])
        w.tensor("token_embd.weight", ne: [4, 3], f32: (0..<12).map { Float($0) * 0.5 })
        w.tensor("output_norm.weight", ne: [8], f32: [1, 2, 3, 4, 5, 6, 7, 8])   // 32 bytes: no trailing padding
        return w
    }

    func testParsesMetadataAndTensors() throws {
        let g = try GGUFFile(path: write(sample().bytes()))
        XCTAssertEqual(g.version, 3)
        XCTAssertEqual(g.metadata["general.architecture"]?.string, "llama")
        XCTAssertEqual(g.metadata["llama.block_count"]?.int, 1)
        XCTAssertEqual(g.stringArray("tokenizer.ggml.tokens") ?? [], ["a", "b", "c"])
        XCTAssertEqual(g.tensors["token_embd.weight"]?.shape, [3, 4], "shape is reported outermost-first")
        XCTAssertEqual(try g.floats("token_embd.weight")[5], 2.5)
        XCTAssertEqual(try g.floats("output_norm.weight"), [1, 2, 3, 4, 5, 6, 7, 8])
    }

    func expectError(_ bytes: [UInt8], _ check: (EngineError) -> Bool, file: StaticString = #filePath, line: UInt = #line) {
        let p = write(bytes)
        do { _ = try GGUFFile(path: p); XCTFail("expected an error", file: file, line: line) }
        catch let e as EngineError {
            XCTAssertTrue(check(e), "unexpected error: \(e)", file: file, line: line)
            XCTAssertTrue(e.description.contains(p), "error should name the file: \(e)", file: file, line: line)
        } catch { XCTFail("not an EngineError: \(error)", file: file, line: line) }
    }

    func testBadMagic() {
        expectError(sample().bytes(magic: 0x1234_5678)) { if case .badMagic = $0 { return true }; return false }
    }

    func testTruncatedHeaderAtEveryLength() {
        let full = sample().bytes()
        // Cutting the file anywhere inside the header or data must give an error, never a crash.
        for n in stride(from: 1, to: full.count, by: 3) {
            let p = write(Array(full.prefix(n)), "t\(n).gguf")
            XCTAssertThrowsError(try GGUFFile(path: p), "prefix of \(n) bytes")
        }
    }

    func testTensorOffsetOutsideFile() {
        expectError(sample().bytes(offsetShift: 1 << 20)) { e in
            if case .truncated(_, let what, _, _) = e { return what.contains("token_embd.weight") }; return false
        }
    }

    func testUnknownDType() {
        expectError(sample().bytes(typeOverride: 99)) { e in
            if case .unsupportedDType(_, let t, _) = e { return t == "token_embd.weight" }; return false
        }
    }

    func testAbsurdCounts() {
        var b = sample().bytes()
        b.replaceSubrange(8..<16, with: GGUFWriter.le(UInt64.max))
        expectError(b) { if case .malformed = $0 { return true }; return false }
    }

    func testEmptyAndMissingFiles() {
        expectError([]) { if case .truncated = $0 { return true }; return false }
        XCTAssertThrowsError(try GGUFFile(path: dir + "/nope.gguf")) { e in
            guard case EngineError.fileNotFound = e else { return XCTFail("\(e)") }
        }
    }

    func testMissingTensorAndShapeMismatchAreNamed() throws {
        // A llama config whose tensors do not exist: the error names the first missing tensor.
        var w = GGUFWriter()
        w.add("general.architecture", string: "llama")
        w.add("llama.block_count", u32: 1)
        w.add("tokenizer.ggml.tokens", strings: ["a", "b", "c"])
        w.tensor("token_embd.weight", ne: [4, 3], f32: (0..<12).map { Float($0) * 0.5 })
        w.tensor("output_norm.weight", ne: [4], f32: [1, 2, 3, 4])
        w.add("llama.embedding_length", u32: 4)
        w.add("llama.attention.head_count", u32: 2)
        w.add("llama.feed_forward_length", u32: 8)
        let g = try GGUFFile(path: write(w.bytes()))
        let c = try ModelConfig(gguf: g)
        XCTAssertThrowsError(try Transformer(config: c, weights: GGUFWeights(file: g))) { e in
            XCTAssertTrue("\(e)".contains("blk.0") || "\(e)".contains("model.layers.0"), "\(e)")
        }
        // Embedding declared with the wrong vocab size.
        var c2 = c
        c2.vocabSize = 5
        XCTAssertThrowsError(try Transformer(config: c2, weights: GGUFWeights(file: g))) { e in
            guard case EngineError.shapeMismatch(_, let t, let exp, let found) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(t, "token_embd.weight"); XCTAssertEqual(exp, [5, 4]); XCTAssertEqual(found, [3, 4])
        }
    }

    /// A key given twice, or tensors for more blocks than block_count, is refused, not read as a smaller model.
    func testDuplicateKeysAndExtraBlocksAreRefused() throws {
        var w = GGUFWriter()
        w.add("general.architecture", string: "llama")
        w.add("llama.block_count", u32: 1)
        w.add("llama.block_count", u32: 3)
        XCTAssertThrowsError(try GGUFFile(path: write(w.bytes(), "dup.gguf"))) { e in
            XCTAssertTrue("\(e)".contains("'llama.block_count' appears twice"), "\(e)")
        }
        var v = GGUFWriter()
        v.add("general.architecture", string: "llama")
        v.add("llama.block_count", u32: 1)
        v.add("tokenizer.ggml.tokens", strings: ["a", "b", "c"])
        v.add("llama.embedding_length", u32: 4)
        v.add("llama.attention.head_count", u32: 2)
        v.add("llama.feed_forward_length", u32: 8)
        v.tensor("token_embd.weight", ne: [4, 3], f32: (0..<12).map { Float($0) * 0.5 })
        v.tensor("blk.2.attn_norm.weight", ne: [4], f32: [1, 2, 3, 4])
        let g = try GGUFFile(path: write(v.bytes(), "extra.gguf"))
        XCTAssertThrowsError(try Transformer(config: try ModelConfig(gguf: g), weights: GGUFWeights(file: g))) { e in
            XCTAssertTrue("\(e)".contains("tensors for layer 2 but its config says 1 layers"), "\(e)")
        }
    }

    /// A vector file with a non-finite value or a matrix instead of a row is refused with the tensor and index.
    func testVectorFilesAreVerifiedOnLoad() throws {
        let good = SteeringVector(name: "v", values: [1, 2, 3], layer: 2, metadata: ["task": "arc-easy"])
        try good.saveSafetensors(to: dir + "/v.safetensors")
        XCTAssertEqual(try SteeringVector.loadSafetensors(dir + "/v.safetensors").values, [1, 2, 3])
        let bad = SteeringVector(name: "v", values: [1, .nan, 3], layer: 2, metadata: [:])
        try bad.saveSafetensors(to: dir + "/nan.safetensors")
        XCTAssertThrowsError(try SteeringVector.loadSafetensors(dir + "/nan.safetensors")) { e in
            XCTAssertTrue("\(e)".contains("non-finite value") && "\(e)".contains("index 1"), "\(e)")
        }
    }

    func testUnpermuteInvertsLlamaCppPermute() {
        // llama.cpp: w.reshape(heads, 2, hd/2, cols).swapaxes(1, 2)
        let heads = 2, hd = 4, cols = 3
        let orig = (0..<(heads * hd * cols)).map { Float($0) }
        var perm = [Float](repeating: 0, count: orig.count)
        for h in 0..<heads { for s in 0..<2 { for j in 0..<hd / 2 { for c in 0..<cols {
            perm[(h * hd + 2 * j + s) * cols + c] = orig[(h * hd + s * hd / 2 + j) * cols + c]
        } } } }
        XCTAssertEqual(unpermuteRows(perm, rows: heads * hd, cols: cols, heads: heads), orig)
    }
}
