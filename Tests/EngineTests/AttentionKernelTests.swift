import CKernels
@testable import Engine
import XCTest

/// The AVX-512 attention kernels against f64 sums: decoding's (one query row, every head over its
/// key/value head's cache) and prompts' (one head, a block of query rows, each stopping at its span).
final class AttentionKernelTests: XCTestCase {
    var r: UInt64 = 11
    func rnd() -> Float { r = r &* 6364136223846793005 &+ 1442695040888963407; return Float(Int64(r >> 33) % 2000 - 1000) / 1000 }

    /// The decoding-attention kernels against f64 sums: every query head's scores over its
    /// key/value head's keys, and its probability-weighted sum of values, for head widths that
    /// are not a multiple of 16 (the masked last step) or that take bands of 16, 8, 4 + 2 vectors
    /// (256, 128, 96), groups of query heads mixed in one pass or in two and three (7, 13), and key
    /// counts across and off the 16-key blocks.
    func testDecodingAttentionKernelsAreTheSums() throws {
        guard BF16.cpuFlags.contains("avx512f") else { throw XCTSkip("no AVX-512 here: decoding attention runs on sgemm") }
        for (H, G, hd) in [(6, 3, 20), (4, 1, 64), (14, 7, 64), (2, 2, 7), (9, 3, 64), (2, 1, 256), (4, 2, 128),
                           (8, 8, 96), (13, 13, 16)] {
            // Row-major [n, kvDim] (padded rows) and head-major (each head's rows together, as the KV cache keeps them).
            for n in [1, 3, 5, 16, 17, 64, 67, 130] { for headMajor in [false, true] {
                let kvH = H / G, ldk = headMajor ? hd : kvH * hd + 3, ldg = headMajor ? n * hd + 5 : hd
                let lds = n + 5, ldo = hd, size = headMajor ? kvH * ldg : n * ldk
                let q = (0..<H * hd).map { _ in rnd() }, k = (0..<size).map { _ in rnd() }, v = (0..<size).map { _ in rnd() }
                var s = [Float](repeating: .nan, count: H * lds), o = [Float](repeating: .nan, count: H * ldo)
                let p = (0..<H * lds).map { _ in abs(rnd()) }
                aft_f32_attention_scores(H, G, hd, n, q, hd, k, ldk, ldg, 0.5, &s, lds)
                aft_f32_attention_mix(H, G, hd, n, p, lds, v, ldk, ldg, &o, ldo)
                let what = "H=\(H) G=\(G) hd=\(hd) n=\(n) \(headMajor ? "head-major" : "row-major")"
                for h in 0..<H {
                    let g = h / G
                    for j in 0..<n {
                        var e = 0.0
                        for d in 0..<hd { e += Double(q[h * hd + d]) * Double(k[g * ldg + j * ldk + d]) }
                        XCTAssertEqual(Double(s[h * lds + j]), 0.5 * e, accuracy: 1e-5, "scores \(what) head \(h) key \(j)")
                    }
                    for j in n..<lds { XCTAssertTrue(s[h * lds + j].isNaN, "score column \(j) past the keys was written") }
                    for d in 0..<hd {
                        var e = 0.0
                        for j in 0..<n { e += Double(p[h * lds + j]) * Double(v[g * ldg + j * ldk + d]) }
                        XCTAssertEqual(Double(o[h * ldo + d]), e, accuracy: 1e-4, "mix \(what) head \(h) column \(d)")
                    }
                }
            } }
        }
    }

    /// Prompt attention's kernels: scores of a block of rows against packed keys, each row up to its
    /// own span (causal spans, and uneven ones as segments and windows give), then the
    /// probability-weighted values, for row counts off the 6-row tile, key counts off the 32-key
    /// panel, and head widths of one 16-column step, 64 and 64 + 16.
    func testPromptAttentionKernelsAreTheSums() throws {
        guard BF16.cpuFlags.contains("avx512f") else { throw XCTSkip("no AVX-512 here: prompt attention runs on sgemm") }
        for hd in [16, 64, 80] {
            for (M, L, causal) in [(1, 1, true), (7, 7, true), (13, 45, true), (40, 100, true), (11, 70, false)] {
                let ldq = 2 * hd + 5, ldk = 3 * hd + 1, lds = L + 3, ldo = hd + 2
                let q = (0..<M * ldq).map { _ in rnd() }, k = (0..<L * ldk).map { _ in rnd() }, v = (0..<L * ldk).map { _ in rnd() }
                let span: [Int] = (0..<M).map { i in causal ? L - M + i + 1 : 1 + Int(abs(rnd()) * Float(L - 1)) }
                var kp = [Float](repeating: .nan, count: (L + 31) / 32 * 32 * hd)
                aft_f32_pack_keys(L, hd, k, ldk, &kp)
                var s = [Float](repeating: .nan, count: M * lds)
                aft_f32_block_scores(M, hd, q, ldq, kp, span, 0.25, &s, lds)
                // The mix reads up to each 6-row tile's last key: zeros past a row's span, as the softmax leaves them.
                let p = (0..<M * lds).map { e in e % lds < span[e / lds] ? abs(rnd()) : 0 }
                var o = [Float](repeating: .nan, count: M * ldo)
                aft_f32_block_mix(M, hd, p, lds, span, v, ldk, &o, ldo)
                for i in 0..<M {
                    let tileEnd = span[(i / 6 * 6)..<min(M, i / 6 * 6 + 6)].max()!
                    for j in 0..<lds {
                        guard j < span[i] else {
                            if j >= tileEnd { XCTAssertTrue(s[i * lds + j].isNaN, "score \(i), \(j) past the tile's keys was written") }
                            continue
                        }
                        var e = 0.0
                        for d in 0..<hd { e += Double(q[i * ldq + d]) * Double(k[j * ldk + d]) }
                        XCTAssertEqual(Double(s[i * lds + j]), 0.25 * e, accuracy: 1e-5, "scores hd=\(hd) M=\(M) L=\(L) row \(i) key \(j)")
                    }
                    for d in 0..<hd {
                        var e = 0.0
                        for j in 0..<span[i] { e += Double(p[i * lds + j]) * Double(v[j * ldk + d]) }
                        XCTAssertEqual(Double(o[i * ldo + d]), e, accuracy: 1e-4, "mix hd=\(hd) M=\(M) L=\(L) row \(i) column \(d)")
                    }
                    for d in hd..<ldo { XCTAssertTrue(o[i * ldo + d].isNaN, "output column \(d) past the head was written") }
                }
            }
        }
    }
}
