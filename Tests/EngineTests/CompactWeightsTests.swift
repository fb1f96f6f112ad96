@testable import Engine
import Foundation
import XCTest

/// `weights=compact` keeps each matrix as the file stores it and dequantises it just before each
/// GEMM: logits, scores and steering gradients must be bit-identical to `weights=f32`, on every real
/// model (Q4_1, Q4_K/Q6_K, Gemma's mix) and on a bf16 safetensors model; and it must be smaller.
final class CompactWeightsTests: XCTestCase {
    /// Positions where two arrays differ in any bit (NaN compared by bits too).
    func differing(_ a: [Float], _ b: [Float]) -> Int {
        guard a.count == b.count else { return max(a.count, b.count) }
        return zip(a, b).filter { $0.bitPattern != $1.bitPattern }.count
    }

    func compare(_ f: LanguageModel, _ c: LanguageModel, _ label: String) {
        XCTAssertEqual(f.weightMode, .f32)
        XCTAssertEqual(c.weightMode, .compact)
        let tf = f.transformer, tc = c.transformer
        // A long sequence (GEMM path) and a short one (the few-rows path of decoding).
        let long = f.tokenizer.encode("The committee met on Tuesday to discuss the budget, and after a long debate about the roads, the schools and the new library, they agreed to", addSpecial: true)
        XCTAssertGreaterThan(long.count, BLAS.fewRows, label)
        for tokens in [long, Array(long.prefix(5))] {
            XCTAssertEqual(differing(tf.logits(tokens: tokens), tc.logits(tokens: tokens)), 0, "\(label): logits of \(tokens.count) tokens differ")
        }
        // Packed multiple-choice scoring (vocabulary panels of the head) and a steered score.
        let items = [MCItem(doc: 0, context: "Question: Which is a planet?\nAnswer:", choices: ["Mars", "the Moon", "a comet"], gold: 0),
                     MCItem(doc: 1, context: "The chef sliced the onions and", choices: ["cried a little.", "flew to Paris by bicycle."], gold: 0)]
        let sf = Scorer(model: f).scoreBatch(items), sc = Scorer(model: c).scoreBatch(items)
        XCTAssertEqual(sf.map { $0.ll }, sc.map { $0.ll }, "\(label): scores differ")
        XCTAssertEqual(sf.map { $0.greedy }, sc.map { $0.greedy }, label)
        // The steering objective's gradient through the blocks above the layer and the head.
        let layer = f.config.layers / 2
        let seq = PackedSequence(context: Array(long.prefix(12)), continuations: [Array(long[12..<15]), Array(long[15..<17])])
        var r: UInt64 = 7
        let v = (0..<f.config.hidden).map { _ -> Float in r = r &* 6364136223846793005 &+ 1442695040888963407; return Float(Int64(r >> 40) % 1000) / 4000 }
        let ef = tf.steer(seq, residual: tf.residuals(seq, through: layer)[layer], layer: layer, v: v, gold: 1, choiceChars: [3, 4], loss: .choice)
        let ec = tc.steer(seq, residual: tc.residuals(seq, through: layer)[layer], layer: layer, v: v, gold: 1, choiceChars: [3, 4], loss: .choice)
        XCTAssertEqual(ef.loss.bitPattern, ec.loss.bitPattern, "\(label): loss differs")
        XCTAssertEqual(differing(ef.grad, ec.grad), 0, "\(label): gradient differs")
    }

    func testCompactIsBitIdenticalToF32OnTheRealModels() throws {
        for name in ["smollm2-135m", "gemma3-270m", "qwen2.5-coder-0.5b"] {
            let f: LanguageModel, c: LanguageModel
            do {
                f = try LanguageModel(name: name, weights: .mode(.f32))
                c = try LanguageModel(name: name, weights: .mode(.compact))
            } catch EngineError.modelNotFound where ProcessInfo.processInfo.environment["AFT_REQUIRE_MODELS"] == nil {
                throw XCTSkip("\(name) not fetched (run scripts/setup)")
            }
            // As stored, the quantised files are several times smaller than f32.
            XCTAssertLessThan(c.transformer.residentWeightBytes * 3, f.transformer.residentWeightBytes, name)
            // The estimate made before loading is what loading then holds (within 1 %).
            for (m, want) in [(f, f.footprint.f32Bytes), (c, c.footprint.compactBytes)] {
                XCTAssertLessThan(abs(Double(m.transformer.residentWeightBytes) / Double(want) - 1), 0.01, "\(name) \(m.weightMode): \(m.transformer.residentWeightBytes) vs \(want)")
            }
            compare(f, c, name)
        }
    }

    /// A bf16 safetensors copy of the tiny llama fixture: compact keeps the bf16 bytes.
    func testCompactKeepsBF16SafetensorsAndMatchesF32() throws {
        let src = Fixtures.root + "/tiny/llama"
        let dir = NSTemporaryDirectory() + "aft-bf16-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for f in ["config.json", "tokenizer.json"] { try FileManager.default.copyItem(atPath: src + "/" + f, toPath: dir + "/" + f) }
        let st = try SafetensorsFile(path: src + "/model.safetensors")
        var header: [String: Any] = [:], body = Data()
        for name in st.entries.keys.sorted() {
            let t = try st.tensor(name)
            let start = body.count
            for x in t.data { let b = UInt16(truncatingIfNeeded: x.bitPattern >> 16); body.append(UInt8(b & 0xff)); body.append(UInt8(b >> 8)) }
            header[name] = ["dtype": "BF16", "shape": t.shape, "data_offsets": [start, body.count]]
        }
        var h = try JSONSerialization.data(withJSONObject: header)
        while (h.count + 8) % 8 != 0 { h.append(0x20) }
        var file = Data()
        withUnsafeBytes(of: UInt64(h.count).littleEndian) { file.append(contentsOf: $0) }
        file.append(h); file.append(body)
        try file.write(to: URL(fileURLWithPath: dir + "/model.safetensors"))
        let f = try LanguageModel(name: dir, weights: .mode(.f32)), c = try LanguageModel(name: dir, weights: .mode(.compact))
        XCTAssertEqual(c.footprint.compactBytes * 2, c.footprint.f32Bytes)
        XCTAssertLessThan(c.transformer.residentWeightBytes, f.transformer.residentWeightBytes * 6 / 10)
        let tokens = [5, 17, 42, 99, 7, 3, 250, 11, 64, 80, 12, 9, 33, 44, 55, 66, 77, 88, 21, 30]
        XCTAssertEqual(differing(f.transformer.logits(tokens: tokens), c.transformer.logits(tokens: tokens)), 0)
    }

    func testAutoPicksF32WhenItFitsAndExplainsWhy() {
        let fp = WeightFootprint(f32Bytes: 2_000_000_000, compactBytes: 400_000_000)
        XCTAssertEqual(fp.automatic(budget: 2_400_000_000).0, .f32)
        let (mode, why) = fp.automatic(budget: 2_399_999_999)
        XCTAssertEqual(mode, .compact)
        XCTAssertTrue(why.contains("2.40 GB") && why.contains("0.40 GB"), why)
    }

    func testALoadThatCannotFitSaysSoBeforeLoading() throws {
        do { _ = try ModelRegistry().resolve("smollm2-135m") } catch where ProcessInfo.processInfo.environment["AFT_REQUIRE_MODELS"] == nil {
            throw XCTSkip("smollm2-135m not fetched")
        }
        // 150 MB "available": f32 (about 0.6 GB) does not fit, compact (about 0.1 GB) would.
        XCTAssertThrowsError(try LanguageModel(name: "smollm2-135m", weights: .mode(.f32), available: 150_000_000)) { e in
            let s = "\(e)"
            XCTAssertTrue(s.hasPrefix("not enough memory: smollm2-135m needs 0."), s)
            XCTAssertTrue(s.contains("weights=compact keeps them as stored"), s)
        }
        // bf16 (about 0.27 GB) does not fit either; compact in f32 precision would.
        XCTAssertThrowsError(try LanguageModel(name: "smollm2-135m", weights: .mode(.bf16), available: 150_000_000)) { e in
            XCTAssertTrue("\(e)".contains("for its bf16 weights alone") && "\(e)".contains("precision=f32 with weights=compact keeps them as stored"), "\(e)")
        }
        XCTAssertThrowsError(try LanguageModel(name: "smollm2-135m", weights: .mode(.compact), available: 10_000_000)) { e in
            XCTAssertTrue("\(e)".contains("a smaller or more quantised model would fit"), "\(e)")
        }
        let m = try LanguageModel(name: "smollm2-135m", weights: .auto(budget: 150_000_000))
        XCTAssertEqual(m.weightMode, .compact)
        XCTAssertTrue(m.weightReason.contains("exceed the memory budget (0.15 GB)"), m.weightReason)
    }
}

extension CompactWeightsTests {
    /// A head too large to dequantise whole is summed over vocabulary panels: the same gradient up to rounding.
    func testPanelledHeadBackwardMatchesF32() throws {
        let f = try Fixtures.realModel("smollm2-135m")
        let c = try LanguageModel(name: "smollm2-135m", weights: .mode(.compact))
        let saved = Transformer.wholeScratchLimit
        Transformer.wholeScratchLimit = 1 << 20
        defer { Transformer.wholeScratchLimit = saved }
        let toks = f.tokenizer.encode("The committee met on Tuesday to discuss the budget and the roads", addSpecial: true)
        let seq = PackedSequence(context: Array(toks.prefix(8)), continuations: [Array(toks[8..<10]), Array(toks[10...])])
        let layer = 10
        let v = (0..<f.config.hidden).map { Float($0 % 7) / 50 - 0.06 }
        let ef = f.transformer.steer(seq, residual: f.transformer.residuals(seq, through: layer)[layer], layer: layer, v: v, gold: 1, choiceChars: [3, 4], loss: .choice)
        let ec = c.transformer.steer(seq, residual: c.transformer.residuals(seq, through: layer)[layer], layer: layer, v: v, gold: 1, choiceChars: [3, 4], loss: .choice)
        XCTAssertEqual(ef.loss, ec.loss, "the forward pass does not change")
        let num = zip(ef.grad, ec.grad).map { Double($0 - $1) * Double($0 - $1) }.reduce(0, +).squareRoot()
        let den = ef.grad.map { Double($0) * Double($0) }.reduce(0, +).squareRoot()
        XCTAssertGreaterThan(den, 0)
        XCTAssertTrue(ec.grad.allSatisfy { $0.isFinite })
        XCTAssertLessThan(num / den, 1e-5, "relative gradient difference \(num / den)")
    }
}

extension CompactWeightsTests {
    /// Workers dequantising the same matrix at once share one scratch and all read the right values.
    func testConcurrentUsersShareOneDequantisedCopy() {
        var bytes: [UInt8] = []
        var r: UInt32 = 12345
        for _ in 0..<(64 * 4) {   // 64 rows of 4 Q8_0 blocks: f16 scale 0.01, then 32 random int8 codes
            bytes += [0x1f, 0x21]
            for _ in 0..<32 { r = r &* 1664525 &+ 1013904223; bytes.append(UInt8(truncatingIfNeeded: r >> 24)) }
        }
        let m = WeightMatrix(packed: bytes, type: .q8_0, rows: 64, cols: 128)
        let want = m.floats()
        XCTAssertEqual(want.count, 64 * 128)
        XCTAssertTrue(want.contains { $0 != 0 })
        /// What the users saw, collected under a lock.
        final class Seen: @unchecked Sendable {
            let lock = NSLock(); var values: [[Float]] = []; var addresses = Set<Int>()
            func add(_ p: UnsafePointer<Float>, _ n: Int) {
                lock.lock(); values.append(Array(UnsafeBufferPointer(start: p, count: n))); addresses.insert(Int(bitPattern: p)); lock.unlock()
            }
        }
        let seen = Seen()
        let inside = DispatchGroup(), release = DispatchSemaphore(value: 0), done = DispatchGroup()
        for _ in 0..<4 { inside.enter(); done.enter() }
        for _ in 0..<4 {
            Thread.detachNewThread {
                m.withFloats { p in
                    seen.add(p, 64 * 128)
                    inside.leave()
                    release.wait()   // stay inside until all four are in: they overlap
                }
                done.leave()
            }
        }
        inside.wait()
        for _ in 0..<4 { release.signal() }
        done.wait()
        XCTAssertEqual(seen.values.count, 4)
        XCTAssertTrue(seen.values.allSatisfy { $0 == want })
        XCTAssertEqual(seen.addresses.count, 1, "four overlapping users of one matrix share one scratch")
    }
}
