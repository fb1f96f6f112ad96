@testable import Engine
import XCTest

/// The greedy head's bf16 screen (`ScreenedHead`): it picks exactly the f32 argmax, including where
/// bf16 logits alone would pick another token, breaks exact ties as torch does, and hands rows it
/// cannot screen to the full f32 head.
final class ScreenedHeadTests: XCTestCase {
    /// A head [V, K] whose rows 2i and 2i + 1 score within `gap` of each other for hidden state i, far
    /// above every other row: f32 tells them apart, bf16 (a relative error of ~2⁻⁸) cannot.
    func nearTies(rows R: Int, V: Int, K: Int, gap: Float) -> (head: [Float], x: [Float]) {
        var g = GradientCheckTests.LCG(s: 11)
        var w = (0..<V * K).map { _ in g.next() * 0.1 }
        let x = (0..<R * K).map { _ in g.next() }
        for i in 0..<R {
            let xi = Array(x[i * K..<(i + 1) * K]), n2 = xi.reduce(0) { $0 + $1 * $1 }
            // Row 2i gets 8 along x_i (a logit ~8·‖x_i‖ above the rest). Row 2i + 1 is row 2i plus
            // ±gap/‖x_i‖² along x_i and a random step orthogonal to it: the same logit but ±gap,
            // with bf16 rounding errors of its own.
            let sign: Float = i % 2 == 0 ? 1 : -1
            var z = (0..<K).map { _ in g.next() * 0.5 }
            let along = zip(z, xi).reduce(0) { $0 + $1.0 * $1.1 } / n2
            for t in 0..<K { z[t] -= along * xi[t] }
            for t in 0..<K {
                w[2 * i * K + t] += 8 * xi[t] / n2.squareRoot()
                w[(2 * i + 1) * K + t] = w[2 * i * K + t] + z[t] + sign * gap * xi[t] / n2
            }
        }
        return (w, x)
    }

    /// f64 logits' argmax, the first on a tie.
    func exactArgmax(_ w: [Float], _ x: [Float], row i: Int, V: Int, K: Int) -> Int {
        var best = 0, bv = -Double.infinity
        for j in 0..<V {
            var s = 0.0
            for t in 0..<K { s += Double(x[i * K + t]) * Double(w[j * K + t]) }
            if s > bv { best = j; bv = s }
        }
        return best
    }

    func testScreenPicksTheF32ArgmaxWhereBF16WouldNot() throws {
        guard BF16.support.available else { throw XCTSkip("bf16: \(BF16.support.why)") }
        // K not a multiple of 16 (the dot's tail), rows through our few-rows kernel (3) and oneDNN (40).
        let V = 3000, K = 200
        for R in [3, 40] {
            let (w, x) = nearTies(rows: R, V: V, K: K, gap: 2e-3)
            let head = WeightMatrix(dense: w, rows: V, cols: K)
            let screen = try XCTUnwrap(ScreenedHead(head))
            var fullRows = 0
            let picks = x.withUnsafeBufferPointer { xb in w.withUnsafeBufferPointer { wb in
                screen.greedy(xb.baseAddress!, rows: R, f32Head: wb.baseAddress!) { _ in fullRows += 1; return -1 }
            } }
            XCTAssertEqual(fullRows, 0, "every row screened")
            // The bf16 logits alone, for contrast: they must get some of these rows wrong, or the test proves nothing.
            var bf16Wrong = 0
            for i in 0..<R {
                let want = exactArgmax(w, x, row: i, V: V, K: K)
                XCTAssertEqual(want / 2, i, "the near tie leads row \(i)")
                XCTAssertEqual(picks[i], want, "row \(i) of \(R)")
                let bw = screen.weights.floats(), bx = BF16.from(x.withUnsafeBufferPointer { $0.baseAddress! + i * K }, count: K)
                let xr = bx.map { Float(bitPattern: UInt32($0) << 16) }
                var best = 0, bv = -Double.infinity
                for j in 0..<V {
                    var s = 0.0
                    for t in 0..<K { s += Double(xr[t]) * Double(bw[j * K + t]) }
                    if s > bv { best = j; bv = s }
                }
                if best != want { bf16Wrong += 1 }
            }
            XCTAssertGreaterThan(bf16Wrong, 0, "bf16 logits alone pick another token somewhere (R \(R))")
        }
    }

    /// Rows equal to the last bit score the same: the first wins, as `Kernels.argmax` and torch pick.
    func testExactTiesGoToTheFirstToken() throws {
        guard BF16.support.available else { throw XCTSkip("bf16: \(BF16.support.why)") }
        let V = 500, K = 64
        var (w, x) = nearTies(rows: 1, V: V, K: K, gap: 0)
        for t in 0..<K { w[K + t] = w[t]; w[(V - 1) * K + t] = w[t] }   // rows 1 and V − 1 equal to row 0
        x = Array(x[0..<K])
        let screen = try XCTUnwrap(ScreenedHead(WeightMatrix(dense: w, rows: V, cols: K)))
        let pick = x.withUnsafeBufferPointer { xb in w.withUnsafeBufferPointer { wb in
            screen.greedy(xb.baseAddress!, rows: 1, f32Head: wb.baseAddress!) { _ in -1 }
        } }
        XCTAssertEqual(pick, [0])
    }

    /// A row whose bound cannot single out a few tokens (all logits equal) or is not finite goes
    /// to the full head; the others are still screened.
    func testUnscreenableRowsTakeTheFullHead() throws {
        guard BF16.support.available else { throw XCTSkip("bf16: \(BF16.support.why)") }
        let V = 2000, K = 48
        let made = nearTies(rows: 3, V: V, K: K, gap: 0.5), w = made.head
        var x = made.x
        for t in 0..<K { x[K + t] = 0 }
        x[2 * K + 5] = .nan
        let screen = try XCTUnwrap(ScreenedHead(WeightMatrix(dense: w, rows: V, cols: K)))
        var asked: [Int] = []
        let picks = x.withUnsafeBufferPointer { xb in w.withUnsafeBufferPointer { wb in
            screen.greedy(xb.baseAddress!, rows: 3, f32Head: wb.baseAddress!) { asked.append($0); return 1000 + $0 }
        } }
        XCTAssertEqual(asked, [1, 2])
        XCTAssertEqual(picks, [exactArgmax(w, x, row: 0, V: V, K: K), 1001, 1002])
    }

    /// On a real model's hidden states (every position of a GSM8K prompt), the screened greedy pick
    /// is the argmax of the full f32 logits at every position.
    func testRealModelPicksEqualFullLogits() throws {
        guard BF16.support.available else { throw XCTSkip("bf16: \(BF16.support.why)") }
        let m = try Fixtures.realModel("smollm2-135m")
        let tf = m.transformer, V = m.config.vocabSize
        let tokens = m.tokenizer.encode("Question: Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did Natalia sell altogether in April and May?\nAnswer:")
        let h = tf.forward(tokens, cache: KVCache(config: m.config))
        let before = ScreenedHead.stats.rows
        let picks = tf.greedy(hidden: h, rows: tokens.count)
        XCTAssertEqual(ScreenedHead.stats.rows - before, tokens.count, "the screen ran")
        let lg = tf.logits(hidden: h, rows: Array(0..<tokens.count))
        for r in 0..<tokens.count {
            let want = lg.withUnsafeBufferPointer { Kernels.argmax($0.baseAddress! + r * V, V) }
            XCTAssertEqual(picks[r], want, "position \(r)")
        }
    }
}
