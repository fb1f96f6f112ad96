@testable import Engine
import XCTest

/// The KV cache's head-major rows: growing keeps every head's rows where they belong, and a
/// sequence run through a growing cache in pieces gives the hidden states one forward gives.
final class KVCacheTests: XCTestCase {
    /// Rows written in pieces of uneven sizes, the cache growing several times between them: every
    /// layer's every head's every row reads back what was written, at g · headStride + r · headDim.
    func testGrowthKeepsEveryHeadsRows() throws {
        let c = try LanguageModel(name: Fixtures.root + "/tiny/qwen2").config
        XCTAssertGreaterThan(c.kvHeads, 1, "the fixture has several key/value heads")
        let cache = KVCache(config: c), kvd = c.kvDim, hd = c.headDim
        /// The value written at layer l, row r, column j (K positive, V negative).
        func value(_ l: Int, _ r: Int, _ j: Int, _ isV: Bool) -> Float { Float(l * 1_000_000 + r * 1000 + j + 1) * (isV ? -1 : 1) }
        var written = 0, capacities: Set<Int> = []
        for piece in [1, 5, 60, 3, 100, 7, 200] {
            cache.reserve(written + piece)
            capacities.insert(cache.capacity)
            for l in 0..<c.layers {
                let k = (0..<piece * kvd).map { value(l, written + $0 / kvd, $0 % kvd, false) }
                let v = (0..<piece * kvd).map { value(l, written + $0 / kvd, $0 % kvd, true) }
                cache.write(layer: l, first: written, rows: piece, k: k, v: v)
            }
            cache.commit(piece)
            written += piece
        }
        XCTAssertGreaterThanOrEqual(capacities.count, 3, "the cache grew several times: \(capacities.sorted())")
        XCTAssertEqual(cache.length, written)
        for l in 0..<c.layers {
            for r in 0..<written {
                for j in 0..<kvd {
                    let at = (j / hd) * cache.headStride + r * hd + j % hd
                    if cache.k[l][at] != value(l, r, j, false) || cache.v[l][at] != value(l, r, j, true) {
                        XCTFail("layer \(l) row \(r) column \(j): K \(cache.k[l][at]), V \(cache.v[l][at])")
                        return
                    }
                }
            }
        }
    }

    /// On every tiny architecture, 150 tokens run through one cache in pieces (single tokens as in
    /// decoding, and chunks as in prefill), the cache growing as they come, give the hidden states
    /// of one forward over all 150.
    func testPiecesThroughAGrowingCacheEqualOneForward() throws {
        for fixture in TinyModelParityTests.architectures {
            let m = try LanguageModel(name: Fixtures.root + "/tiny/" + fixture)
            let tf = m.transformer, d = m.config.hidden
            let tokens = (0..<150).map { ($0 * 37 + 11) % m.config.vocabSize }
            let whole = tf.forward(tokens, cache: KVCache(config: m.config))
            let cache = KVCache(config: m.config)
            var pieces: [Float] = [], at = 0, capacities: Set<Int> = []
            for n in [1, 1, 7, 64, 1, 30, 1, 1, 44] {
                pieces += tf.forward(Array(tokens[at..<at + n]), cache: cache)
                capacities.insert(cache.capacity)
                at += n
            }
            XCTAssertEqual(at, tokens.count)
            XCTAssertGreaterThanOrEqual(capacities.count, 2, "\(fixture): the cache grew")
            let scale = whole.map { abs($0) }.max() ?? 1
            let diff = zip(whole, pieces).map { abs($0 - $1) }.max() ?? .infinity
            XCTAssertEqual(pieces.count, tokens.count * d, fixture)
            XCTAssertLessThan(diff, 1e-5 * max(scale, 1), fixture)
        }
    }
}
