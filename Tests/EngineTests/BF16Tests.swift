@testable import Engine
import Foundation
import XCTest

/// `precision=bf16`: rounding to bf16, the oneDNN GEMM against an exact product of the rounded
/// inputs, and whole models close to (but not the same as) f32, on the fixtures and the real models.
final class BF16Tests: XCTestCase {
    func requireBF16() throws {
        guard BF16.support.available else { throw XCTSkip("bf16 GEMMs not available: \(BF16.support.why)") }
    }

    func testRoundingIsToNearestEven() {
        let one: Float = 1
        let cases: [(Float, UInt16)] = [
            (1, 0x3F80), (-2, 0xC000), (0, 0x0000), (-0.0, 0x8000),
            (one + 0x1p-8, 0x3F80),                 // halfway between 1 and 1 + 2⁻⁷: ties to the even 1
            (one + 3 * 0x1p-8, 0x3F82),             // halfway between 1 + 2⁻⁷ and 1 + 2⁻⁶: ties to the even 1 + 2⁻⁶
            (one + 0x1p-8 + 0x1p-20, 0x3F81),       // just above halfway: up
            (.infinity, 0x7F80), (-.infinity, 0xFF80),
            (.greatestFiniteMagnitude, 0x7F80),     // rounds past bf16's largest finite value
            (Float(bitPattern: 0x0000_0001), 0x0000), // the smallest subnormal rounds to zero
        ]
        for (x, want) in cases {
            XCTAssertEqual([x].withUnsafeBufferPointer { BF16.from($0.baseAddress!, count: 1) }[0], want, "\(x)")
        }
        let nan = [Float.nan, Float(bitPattern: 0x7F80_0001)].withUnsafeBufferPointer { BF16.from($0.baseAddress!, count: 2) }
        for b in nan { XCTAssertTrue(Float(bitPattern: UInt32(b) << 16).isNaN, String(b, radix: 16)) }
    }

    /// Long arrays go 16 at a time through AVX-512 lanes where the CPU has them; every lane, and
    /// the scalar tail after the last whole 16, rounds exactly as one value on its own does (the
    /// test above pins that): random bit patterns (NaNs, infinities and subnormals among them),
    /// ties, and the cases above at every lane position.
    func testRoundingIsTheSameInEveryLane() {
        var r: UInt64 = 12345
        var bits: [UInt32] = (0..<4099).map { _ in
            r = r &* 6364136223846793005 &+ 1442695040888963407
            return UInt32(truncatingIfNeeded: r >> 29)
        }
        let special: [UInt32] = [0x3F80_8000, 0x3F81_8000, 0x3F80_8001, 0x7F80_0000, 0xFF80_0000, 0x7F7F_FFFF,
                                 0x0000_0001, 0x8000_8000, 0x7F80_0001, 0xFFC0_0000, 0x7FFF_FFFF, 0x0080_8000]
        for (i, b) in special.enumerated() { for lane in stride(from: i, to: 64, by: special.count) { bits[lane] = b } }
        let x = bits.map { Float(bitPattern: $0) }
        let all = x.withUnsafeBufferPointer { BF16.from($0.baseAddress!, count: x.count) }
        for (i, v) in x.enumerated() {
            let one = [v].withUnsafeBufferPointer { BF16.from($0.baseAddress!, count: 1) }[0]
            if all[i] != one { XCTFail("element \(i), bits \(String(bits[i], radix: 16)): \(String(all[i], radix: 16)) alone \(String(one, radix: 16))"); return }
        }
    }

    /// Random values with a fixed seed, in [-1, 1).
    func randoms(_ n: Int, seed: UInt64) -> [Float] {
        var r = seed
        return (0..<n).map { _ in r = r &* 6364136223846793005 &+ 1442695040888963407; return Float(Int64(r >> 33) % 2000 - 1000) / 1000 }
    }

    func rounded(_ x: [Float]) -> [Double] {
        x.withUnsafeBufferPointer { BF16.from($0.baseAddress!, count: x.count) }.map { Double(Float(bitPattern: UInt32($0) << 16)) }
    }

    /// The GEMM equals the product of the bf16-rounded inputs computed in f64, up to f32 accumulation,
    /// for one row (decoding), a few rows, many rows, padded row strides, and both weight layouts.
    func testGEMMIsTheProductOfTheRoundedInputs() throws {
        try requireBF16()
        // Up to BLAS.fewRows rows of a forward product go through our own kernel (every row
        // count from 1 to 5 has its own code, and 8 and 16 rows go four at a time; K of 200 ends
        // in a part step, K of 33 and 20 are mostly one); more rows through oneDNN: small products
        // in one call, large ones split over threads by rows (many rows) or by columns of W (few
        // rows), each slice a call of its own.
        XCTAssertGreaterThanOrEqual(BLAS.fewRows, 16)
        let shapes = [(1, 72, 200), (2, 72, 200), (3, 72, 200), (4, 9, 33), (5, 130, 20), (16, 64, 100), (17, 72, 200),
                      (130, 72, 200), (8, 640, 256), (1, 3000, 384), (200, 96, 130)]
        for (m, n, k) in shapes {
            for transposed in [true, false] {
                let lda = k + 5, ldc = n + 3
                let a = randoms(m * lda, seed: UInt64(m)), wf = randoms(n * k, seed: 99)
                let w = wf.withUnsafeBufferPointer { BF16.from($0.baseAddress!, count: wf.count) }
                var c = [Float](repeating: .nan, count: m * ldc)
                a.withUnsafeBufferPointer { ap in w.withUnsafeBufferPointer { wp in c.withUnsafeMutableBufferPointer { cp in
                    BF16.gemm(ap.baseAddress!, lda: lda, wp.baseAddress!, ldw: transposed ? k : n, transposed: transposed,
                              cp.baseAddress!, ldc: ldc, m: m, n: n, k: k)
                } } }
                let ar = rounded(a), wr = rounded(wf)
                var worst = 0.0
                for i in 0..<m {
                    for j in 0..<n {
                        var exact = 0.0, scale = 0.0
                        for p in 0..<k {
                            // transposed: W is [n, k]; otherwise the same numbers read as [k, n].
                            let wv = transposed ? wr[j * k + p] : wr[p * n + j]
                            exact += ar[i * lda + p] * wv; scale += abs(ar[i * lda + p] * wv)
                        }
                        worst = max(worst, abs(Double(c[i * ldc + j]) - exact) / scale)
                    }
                    // Padding columns of C are not written.
                    for j in n..<ldc { XCTAssertTrue(c[i * ldc + j].isNaN, "m=\(m) row \(i) column \(j) was written") }
                }
                XCTAssertLessThan(worst, 1e-5, "m=\(m) transposed=\(transposed): error relative to Σ|a·w|")
            }
        }
    }

    /// Logits of a model loaded in bf16 against the same model in f32: close, and not the f32 numbers
    /// themselves (which would mean the bf16 path never ran). The weights take half the memory.
    func compareToF32(_ f: LanguageModel, _ b: LanguageModel, tokens: [Int], label: String) {
        XCTAssertEqual(b.weightMode, .bf16, label)
        for toks in [tokens, Array(tokens.prefix(3))] {
            let lf = f.transformer.logits(tokens: toks), lb = b.transformer.logits(tokens: toks)
            XCTAssertEqual(lf.count, lb.count)
            var num = 0.0, den = 0.0, same = 0, argmaxAgree = 0
            let V = f.config.vocabSize
            for (x, y) in zip(lf, lb) { num += Double(x - y) * Double(x - y); den += Double(x) * Double(x); if x == y { same += 1 } }
            for t in 0..<toks.count {
                let rf = lf[t * V..<(t + 1) * V], rb = lb[t * V..<(t + 1) * V]
                if rf.firstIndex(of: rf.max()!) == rb.firstIndex(of: rb.max()!) { argmaxAgree += 1 }
            }
            let rel = (num / den).squareRoot()
            print("bf16 \(label) \(toks.count) tokens: relative logit error \(rel), argmax agrees on \(argmaxAgree)/\(toks.count)")
            XCTAssertLessThan(rel, 0.05, "\(label): bf16 logits too far from f32")
            XCTAssertGreaterThan(rel, 1e-5, "\(label): bf16 logits equal f32's: the bf16 GEMMs did not run")
            XCTAssertLessThan(same, lf.count / 2, label)
            XCTAssertGreaterThanOrEqual(Double(argmaxAgree), 0.8 * Double(toks.count), label)
        }
    }

    func testTinyFixturesInBF16AreCloseToF32() throws {
        try requireBF16()
        for arch in ["llama", "qwen2", "gemma3", "gpt2", "phi"] {
            let dir = Fixtures.root + "/tiny/" + arch
            let f = try LanguageModel(name: dir, weights: .mode(.f32)), b = try LanguageModel(name: dir, weights: .mode(.bf16))
            XCTAssertLessThan(b.transformer.residentWeightBytes, f.transformer.residentWeightBytes * 6 / 10, arch)
            XCTAssertLessThan(abs(Double(b.transformer.residentWeightBytes) / Double(b.footprint.bf16Bytes) - 1), 0.01, arch)
            compareToF32(f, b, tokens: [5, 17, 42, 99, 7, 3, 250, 11, 64, 80, 12, 9, 33, 44, 55, 66, 77, 88, 21, 30], label: arch)
        }
    }

    /// On a real model: logits, packed scores, and the steering gradient (which flows back through
    /// bf16 GEMMs of the blocks and the head) stay close to f32's.
    func testRealModelInBF16IsCloseToF32() throws {
        try requireBF16()
        let f = try Fixtures.realModel("smollm2-135m")
        let b = try LanguageModel(name: "smollm2-135m", weights: .mode(.bf16))
        // Each bf16 matrix (rounded a panel at a time from the file's blocks, Q/K rows unpermuted) is
        // exactly the f32 matrix rounded to bf16.
        let fb = f.transformer.blocks[3], bb = b.transformer.blocks[3]
        for (x, y, what) in [(f.transformer.embed, b.transformer.embed, "embedding"), (fb.q.w, bb.q.w, "q"), (fb.k.w, bb.k.w, "k"), (fb.down.w, bb.down.w, "down")] {
            XCTAssertTrue(y.isBF16, what)
            let want = x.floats().withUnsafeBufferPointer { BF16.from($0.baseAddress!, count: $0.count) }
            let got = y.floats().withUnsafeBufferPointer { BF16.from($0.baseAddress!, count: $0.count) }
            XCTAssertEqual(want, got, "\(what): bf16 weights are not the f32 weights rounded")
        }
        let long = f.tokenizer.encode("The committee met on Tuesday to discuss the budget, and after a long debate about the roads, the schools and the new library, they agreed to", addSpecial: true)
        compareToF32(f, b, tokens: long, label: "smollm2-135m")
        let items = [MCItem(doc: 0, context: "Question: Which is a planet?\nAnswer:", choices: ["Mars", "the Moon", "a comet"], gold: 0),
                     MCItem(doc: 1, context: "The chef sliced the onions and", choices: ["cried a little.", "flew to Paris by bicycle."], gold: 0)]
        let sf = Scorer(model: f).scoreBatch(items), sb = Scorer(model: b).scoreBatch(items)
        for (x, y) in zip(sf, sb) {
            XCTAssertEqual(x.pred, y.pred)
            for (p, q) in zip(x.ll, y.ll) { XCTAssertEqual(p, q, accuracy: 0.05 * abs(p) + 0.05) }
        }
        let layer = 15
        let seq = PackedSequence(context: Array(long.prefix(12)), continuations: [Array(long[12..<15]), Array(long[15..<17])])
        let v = (0..<f.config.hidden).map { Float($0 % 7) / 50 - 0.06 }
        let ef = f.transformer.steer(seq, residual: f.transformer.residuals(seq, through: layer)[layer], layer: layer, v: v, gold: 1, choiceChars: [3, 4], loss: .choice)
        let eb = b.transformer.steer(seq, residual: b.transformer.residuals(seq, through: layer)[layer], layer: layer, v: v, gold: 1, choiceChars: [3, 4], loss: .choice)
        XCTAssertEqual(ef.loss, eb.loss, accuracy: 0.05 * abs(ef.loss) + 0.01)
        let dot = zip(ef.grad, eb.grad).map { Double($0) * Double($1) }.reduce(0, +)
        let nf = ef.grad.map { Double($0) * Double($0) }.reduce(0, +).squareRoot(), nb = eb.grad.map { Double($0) * Double($0) }.reduce(0, +).squareRoot()
        print("bf16 steering gradient cosine \(dot / (nf * nb)), norms \(nf) \(nb)")
        XCTAssertGreaterThan(dot / (nf * nb), 0.98)
        XCTAssertNotEqual(ef.grad, eb.grad)
    }
}
