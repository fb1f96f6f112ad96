import CKernels
import XCTest
@testable import Engine

/// The FLOPs a generation reports (`Generator.work`) against a count made here from the config
/// alone: every row a sequence runs (its prompt, then each generated token but the last), once.
final class ArithmeticWorkTests: XCTestCase {
    /// FLOPs of sequences that each run rows at `positions` (a shared prefix's rows listed once),
    /// `picks` rows of which pick a token: the last block's o and MLP run only for those.
    static func expected(_ m: LanguageModel, gated: Bool, positions: [Int], picks: Int) -> ArithmeticWork {
        let c = m.config, L = Double(c.layers), R = Double(positions.count), K = Double(picks)
        let qkv = Double(c.hidden * (c.qDim + 2 * c.kvDim))
        let rest = Double(c.qDim * c.hidden + c.ffn * c.hidden * (gated ? 3 : 2))
        var keys = 0.0
        for l in 0..<c.layers {
            let w = c.layerIsSliding[l] ? c.slidingWindow : nil
            for p in positions { keys += Double(min(w ?? Int.max, p + 1)) }
        }
        return ArithmeticWork(linear: 2 * (L * qkv * R + rest * ((L - 1) * R + K)),
                              attention: 4 * Double(c.heads * c.headDim) * keys,
                              head: 2 * Double(c.hidden * c.vocabSize) * K)
    }

    func testGenerationCountsEveryRowOnceWithChunksAndContinuousBatching() throws {
        for (fixture, gated) in [("llama", true), ("gemma3", true), ("gpt2", false), ("phi", false), ("gpt_neox", false)] {
            let m = try LanguageModel(name: Fixtures.root + "/tiny/" + fixture)
            let prompts = [[5, 17, 42, 99, 7, 8, 9, 10, 11, 12], [3, 250, 11], [64, 80, 12, 9, 33, 44, 55, 66, 77, 88, 21], [30]]
            let n = 7
            let gen = Generator(model: m)
            gen.eos = []
            gen.maxBatch = 2       // later prompts join as earlier ones finish
            gen.prefillChunk = 4   // long prompts go in over several steps, beside decoding rows
            let out = try gen.generate(prompts, maxTokens: n)
            XCTAssertEqual(out.map { $0.tokens.count }, [n, n, n, n])
            let positions = prompts.flatMap { Array(0..<($0.count + n - 1)) }
            let want = Self.expected(m, gated: gated, positions: positions, picks: n * prompts.count)
            XCTAssertEqual(gen.work.linear, want.linear, accuracy: want.linear * 1e-12, fixture)
            XCTAssertEqual(gen.work.attention, want.attention, accuracy: want.attention * 1e-12, fixture)
            XCTAssertEqual(gen.work.head, want.head, accuracy: want.head * 1e-12, fixture)
            XCTAssertGreaterThan(want.attention, 0)
        }
    }

    /// A shared prefix (shots=fixed) runs once, so its rows count once; a second call starts over.
    func testSharedPrefixCountsOnceAndEachCallStartsOver() throws {
        let m = try LanguageModel(name: Fixtures.root + "/tiny/llama")
        let prefix = (0..<20).map { ($0 * 13 + 7) % m.config.vocabSize }
        let prompts = [prefix + [5, 9], prefix + [77], prefix + [3, 250, 11, 4]]
        let n = 5
        let gen = Generator(model: m)
        gen.eos = []
        _ = try gen.generate(prompts, maxTokens: n)
        _ = try gen.generate(prompts, maxTokens: n)
        let positions = Array(0..<20) + prompts.flatMap { Array(20..<($0.count + n - 1)) }
        let want = Self.expected(m, gated: true, positions: positions, picks: n * prompts.count)
        XCTAssertEqual(gen.work.total, want.total, accuracy: want.total * 1e-12)
        XCTAssertEqual(gen.work.linear, want.linear, accuracy: want.linear * 1e-12)
    }

    func testSummaryNamesTheShares() {
        let w = ArithmeticWork(linear: 8e12, attention: 1.5e12, head: 0.5e12)
        XCTAssertEqual(w.total, 10e12)
        XCTAssertEqual(w.summary, "10.00 TFLOP (linear 80 %, attention 15 %, head 5 %)")
        XCTAssertEqual(ArithmeticWork(linear: 349.74e12).summary, "349.7 TFLOP (linear 100 %, attention 0 %, head 0 %)")
        XCTAssertEqual(ArithmeticWork(linear: 0.8531e12, head: 0.0001e12).summary, "853.2 GFLOP (linear 100 %, attention 0 %, head 0 %)")
        XCTAssertEqual(ArithmeticWork(attention: 2.5e6).summary, "2.500 MFLOP (linear 0 %, attention 100 %, head 0 %)")
    }

    /// The peak kernels report the FLOPs they did (12 chains of 16 lanes, 2 FLOPs a lane for an
    /// FMA, 4 for a bf16 pair product), and the measured peak is a positive rate where the CPU
    /// has the instructions (nil otherwise).
    func testPeakKernelsCountTheirWork() throws {
        guard BF16.cpuFlags.contains("avx512f") else {
            XCTAssertNil(ComputePeak.gflops(.f32, seconds: 0.01))
            throw XCTSkip("this CPU lacks AVX-512F")
        }
        var sink: Float = .nan
        XCTAssertEqual(aft_f32_fma_peak(1000, &sink), 1000 * 12 * 16 * 2)
        XCTAssertTrue(sink.isFinite && sink > 0, "the chains' sum comes back")
        let f32 = try XCTUnwrap(ComputePeak.gflops(.f32, threads: 1, seconds: 0.01))
        XCTAssertGreaterThan(f32, 1)
        if BF16.cpuFlags.contains("avx512_bf16") {
            sink = .nan
            XCTAssertEqual(aft_bf16_dot_peak(1000, &sink), 1000 * 12 * 32 * 2)
            XCTAssertTrue(sink.isFinite && sink > 0)
            XCTAssertGreaterThan(try XCTUnwrap(ComputePeak.gflops(.bf16, threads: 1, seconds: 0.01)), 1)
        } else {
            XCTAssertNil(ComputePeak.gflops(.bf16, seconds: 0.01))
        }
    }
}
