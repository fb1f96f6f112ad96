@testable import Engine
import XCTest

/// Generation's f32 GEMMs over weights packed once (`PackedF32`), its chunked prefill, and its
/// decoding-attention kernels.
final class PackedGenerationTests: XCTestCase {
    /// A random matrix [rows, cols] with values in [-1, 1).
    func random(_ rows: Int, _ cols: Int, seed: UInt64) -> [Float] {
        var g = GradientCheckTests.LCG(s: seed)
        return (0..<rows * cols).map { _ in g.next() }
    }

    /// x · Wᵀ by the packed copy equals the f64 product, for row counts from a decoding step to a
    /// prompt chunk, one to three column slices (uneven ones too), and an output row stride wider than W.
    func testPackedProductIsTheProduct() throws {
        for (n, k) in [(300, 70), (129, 256), (64, 33)] {
            let w = random(n, k, seed: UInt64(n * k))
            for parts in [1, 2, 3] {
                let p = try XCTUnwrap(w.withUnsafeBufferPointer { PackedF32($0.baseAddress!, rows: n, cols: k, parts: parts) })
                XCTAssertEqual(p.bytes >= n * k * 4, true)
                for m in [1, 3, 17, 130] {
                    let x = random(m, k, seed: UInt64(m + parts))
                    let ldc = n + 5
                    var c = [Float](repeating: .nan, count: m * ldc)
                    let ok = x.withUnsafeBufferPointer { xb in c.withUnsafeMutableBufferPointer { p.multiply(xb.baseAddress!, m: m, $0.baseAddress!, ldc: ldc) } }
                    XCTAssertTrue(ok)
                    var worst = 0.0
                    for i in 0..<m {
                        for j in 0..<n {
                            var s = 0.0
                            for t in 0..<k { s += Double(x[i * k + t]) * Double(w[j * k + t]) }
                            worst = max(worst, abs(Double(c[i * ldc + j]) - s))
                        }
                        for j in n..<ldc { XCTAssertTrue(c[i * ldc + j].isNaN, "column \(j) past the product was written") }
                    }
                    XCTAssertLessThan(worst, 2e-5 * Double(k), "n \(n) k \(k) parts \(parts) m \(m)")
                }
            }
        }
    }

    /// Only dense f32 matrices get a packed copy; compact and bf16 ones are never copied.
    func testOnlyDenseF32WeightsArePacked() throws {
        let dir = Fixtures.root + "/tiny/llama"
        let f = try LanguageModel(name: dir, weights: .mode(.f32))
        XCTAssertTrue(f.transformer.packForGeneration())
        XCTAssertNotNil(f.transformer.blocks[0].q.w.prepared.packed)
        XCTAssertEqual(f.transformer.blocks[0].q.w.packF32Bytes, 0, "packed once")
        // k and v as one packed matrix, not each on its own.
        XCTAssertTrue(f.transformer.blocks.allSatisfy { $0.kvPacked.value != nil })
        XCTAssertNil(f.transformer.blocks[0].k.w.prepared.packed)
        XCTAssertTrue(f.transformer.packForGeneration(), "a second call finds everything packed")
        let compact = try Fixtures.realModel("smollm2-135m", weights: .compact)
        XCTAssertTrue(compact.transformer.blocks[0].up.w.isPacked)
        XCTAssertFalse(compact.transformer.packForGeneration(), "compact weights stay as stored")
        XCTAssertNil(compact.transformer.blocks[0].up.w.prepared.packed)
        XCTAssertNil(compact.transformer.blocks[0].kvPacked.value)
        if BF16.support.available {
            let b = try Fixtures.realModel("smollm2-135m", weights: .bf16)
            XCTAssertFalse(b.transformer.packForGeneration(), "bf16 weights are multiplied as bf16")
            XCTAssertNil(b.transformer.blocks[0].up.w.prepared.packed)
        }
    }

    /// The forward over packed weights is the f32 forward up to rounding, and really ran packed.
    func testPackedForwardIsCloseToF32() throws {
        for fixture in TinyModelParityTests.architectures {
            let m = try LanguageModel(name: Fixtures.root + "/tiny/" + fixture)
            let tf = m.transformer
            XCTAssertTrue(tf.packForGeneration(), fixture)
            let gen = Generator(model: m)
            let tokens = [5, 17, 42, 99, 7, 3, 250, 11, 64, 80, 12, 9, 33, 44, 55, 66, 77, 88, 21, 30]
            func run(_ packed: Bool) -> [Float] {
                let cache = KVCache(config: m.config), pos = Array(0..<tokens.count)
                let h = gen.forward(tokens, positions: pos, spans: [CacheSpan(cache: cache, positions: pos, segments: [Int](repeating: 0, count: pos.count))], packed: packed)
                return tf.logits(hidden: h, rows: Array(0..<tokens.count), packed: packed)
            }
            let before = PackedF32.products
            let a = run(true)
            // A product per block for q, for k and v together, o, the MLP's two or three, and the head.
            let perBlock = m.transformer.blocks[0].gate == nil ? 5 : 6
            XCTAssertEqual(PackedF32.products - before, perBlock * m.config.layers + 1, "\(fixture): every linear layer and the head ran packed")
            let b = run(false)
            XCTAssertEqual(a.count, tokens.count * m.config.vocabSize, fixture)
            let scale = b.map { abs($0) }.max() ?? 1
            let diff = zip(a, b).map { abs($0 - $1) }.max() ?? 0
            XCTAssertLessThan(diff, 1e-4 * max(scale, 1), fixture)
        }
    }

    /// Prompts that go in a few tokens a step (several steps per prompt, decoding rows alongside)
    /// give the continuations a full recomputation gives, packed and not.
    func testChunkedPrefillEqualsRecomputation() throws {
        for fixture in TinyModelParityTests.architectures {
            let m = try LanguageModel(name: Fixtures.root + "/tiny/" + fixture)
            let prompts = [[5, 17, 42, 99, 7, 8, 9], [3, 250, 11], [64, 80, 12, 9, 33, 44, 55, 66, 77, 88, 21], [30]]
            for packed in [false, true] {
                let gen = Generator(model: m)
                gen.eos = []; gen.prefillChunk = 3; gen.maxBatch = 3; gen.packWeights = packed
                let out = try gen.generate(prompts, maxTokens: 7)
                XCTAssertEqual(out.map { $0.index }, [0, 1, 2, 3])
                for (p, g) in zip(prompts, out) {
                    XCTAssertEqual(g.tokens, GenerationTests.naive(m, p, 7), "\(fixture) packed \(packed): prompt \(p)")
                    XCTAssertEqual(g.promptTokens, p.count)
                }
            }
        }
    }

    /// Sequences live at once are bounded by their caches' bytes.
    func testBatchIsBoundedByCacheMemory() throws {
        let m = try LanguageModel(name: Fixtures.root + "/tiny/llama")
        let gen = Generator(model: m)
        let perRow = KVCache.bytesPerRow(m.config)
        XCTAssertEqual(perRow, 2 * m.config.layers * m.config.kvDim * 4)
        gen.maxBatch = 64
        gen.cacheBudgetBytes = 10 * 30 * perRow   // ten sequences of 20 prompt + 10 new tokens
        XCTAssertEqual(gen.batchLimit([[Int](repeating: 1, count: 20), [1, 2]], maxTokens: 10), 10)
        gen.cacheBudgetBytes = 1
        XCTAssertEqual(gen.batchLimit([[1, 2]], maxTokens: 10), 1, "always at least one")
        gen.cacheBudgetBytes = 1 << 40
        XCTAssertEqual(gen.batchLimit([[1, 2]], maxTokens: 10), 64)
    }
}
