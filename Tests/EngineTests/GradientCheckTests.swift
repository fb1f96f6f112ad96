@testable import Engine
import XCTest

/// Finite-difference checks of the activation gradients, per kernel and end to end (dL/dv) on tiny models.
final class GradientCheckTests: XCTestCase {
    struct LCG { var s: UInt64; mutating func next() -> Float { s = s &* 6364136223846793005 &+ 1442695040888963407; return Float(Int64(bitPattern: s >> 11) % 2000) / 1000 - 1 } }

    /// Central difference of f along u compared with ⟨grad, u⟩.
    func directional(_ f: ([Float]) -> Double, at x: [Float], grad: [Float], seed: UInt64, eps: Float = 1e-2,
                     tol: Double = 2e-2, _ label: String, file: StaticString = #filePath, line: UInt = #line) {
        var r = LCG(s: seed)
        let u = (0..<x.count).map { _ in r.next() }
        let xp = zip(x, u).map { $0 + eps * $1 }, xm = zip(x, u).map { $0 - eps * $1 }
        let fd = (f(xp) - f(xm)) / Double(2 * eps)
        let an = zip(grad, u).reduce(0.0) { $0 + Double($1.0 * $1.1) }
        XCTAssertEqual(an, fd, accuracy: tol * max(1e-3, abs(fd)), "\(label): analytic \(an) vs finite difference \(fd)", file: file, line: line)
    }

    func testNormKernels() {
        var r = LCG(s: 3)
        let d = 16, rows = 3
        let x = (0..<rows * d).map { _ in r.next() * 2 }, w = (0..<d).map { _ in r.next() }, b = (0..<d).map { _ in r.next() }
        let dy = (0..<rows * d).map { _ in r.next() }
        func dot(_ a: [Float], _ b: [Float]) -> Double { zip(a, b).reduce(0.0) { $0 + Double($1.0 * $1.1) } }
        for offset: Float in [0, 1] {
            let f: ([Float]) -> Double = { x in
                var y = [Float](repeating: 0, count: x.count)
                x.withUnsafeBufferPointer { xb in y.withUnsafeMutableBufferPointer { yb in w.withUnsafeBufferPointer { wb in
                    Kernels.rmsNorm(xb.baseAddress!, yb.baseAddress!, rows: rows, d: d, weight: wb.baseAddress!, eps: 1e-5, offset: offset) } } }
                return dot(y, dy)
            }
            directional(f, at: x, grad: Backward.rmsNorm(x, dy, rows: rows, d: d, weight: w, eps: 1e-5, offset: offset), seed: 5, eps: 1e-3, "rmsnorm \(offset)")
        }
        let f: ([Float]) -> Double = { x in
            var y = [Float](repeating: 0, count: x.count)
            x.withUnsafeBufferPointer { xb in y.withUnsafeMutableBufferPointer { yb in w.withUnsafeBufferPointer { wb in b.withUnsafeBufferPointer { bb in
                Kernels.layerNorm(xb.baseAddress!, yb.baseAddress!, rows: rows, d: d, weight: wb.baseAddress!, bias: bb.baseAddress!, eps: 1e-5) } } } }
            return dot(y, dy)
        }
        directional(f, at: x, grad: Backward.layerNorm(x, dy, rows: rows, d: d, weight: w, eps: 1e-5), seed: 6, eps: 1e-3, "layernorm")
    }

    func testActivationsAndRope() {
        for x: Float in [-3, -0.7, 0, 0.4, 2.5] {
            let e: Float = 1e-3
            XCTAssertEqual(Backward.siluGrad(x), (Kernels.silu(x + e) - Kernels.silu(x - e)) / (2 * e), accuracy: 2e-3)
            XCTAssertEqual(Backward.geluTanhGrad(x), (Kernels.geluTanh(x + e) - Kernels.geluTanh(x - e)) / (2 * e), accuracy: 2e-3)
            XCTAssertEqual(Backward.geluExactGrad(x), (Kernels.geluExact(x + e) - Kernels.geluExact(x - e)) / (2 * e), accuracy: 2e-3)
        }
        var r = LCG(s: 9)
        let T = 4, H = 2, hd = 8, rot = 4
        let x = (0..<T * H * hd).map { _ in r.next() }, dy = (0..<T * H * hd).map { _ in r.next() }
        let pos = [0, 3, 7, 20]
        let f: ([Float]) -> Double = { x in
            var y = x
            for t in 0..<T { y.withUnsafeMutableBufferPointer { Kernels.rope($0.baseAddress! + t * H * hd, tokens: 1, nHeads: H, headDim: hd, rotDim: rot, pos0: pos[t], theta: 100) } }
            return zip(y, dy).reduce(0.0) { $0 + Double($1.0 * $1.1) }
        }
        var g = dy
        Backward.rope(&g, T: T, nHeads: H, headDim: hd, rotDim: rot, pos: pos, theta: 100)
        directional(f, at: x, grad: g, seed: 11, eps: 1e-3, "rope (partial)")
    }

    func endToEnd(_ arch: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let m = try LanguageModel(name: Fixtures.root + "/tiny/" + arch)
        let tf = m.transformer, c = m.config
        let seq = PackedSequence(context: [5, 17, 42, 99, 7, 3, 250, 11, 64, 80, 12, 9], continuations: [[33, 44, 55], [66, 77], [88, 21, 30, 2]])
        var r = LCG(s: 1)
        let v0 = (0..<c.hidden).map { _ in r.next() * 0.5 }
        for layer in [-1, 1, c.layers - 1] {
            let res = layer < 0 ? tf.embed(seq) : tf.residuals(seq, through: layer)[layer]
            for kind in SteeringLoss.allCases {
                let ev = tf.steer(seq, residual: res, layer: layer, v: v0, gold: 1, choiceChars: [6, 3, 9], loss: kind)
                XCTAssertEqual(ev.grad.count, c.hidden)
                XCTAssertGreaterThan(ev.grad.map { abs($0) }.max()!, 1e-6, "\(arch): zero gradient", file: file, line: line)
                let f: ([Float]) -> Double = { v in tf.steer(seq, residual: res, layer: layer, v: v, gold: 1, choiceChars: [6, 3, 9], loss: kind, wantGrad: false).loss }
                directional(f, at: v0, grad: ev.grad, seed: UInt64(layer + 7), eps: 3e-3, "\(arch) layer \(layer) \(kind)", file: file, line: line)
            }
        }
    }

    func testLlamaSteeringGradient() throws { try endToEnd("llama") }
    func testQwen2SteeringGradient() throws { try endToEnd("qwen2") }
    func testGemma3SteeringGradient() throws { try endToEnd("gemma3") }
    func testGPTNeoXSteeringGradient() throws { try endToEnd("gpt_neox") }
    func testGPTNeoXSequentialSteeringGradient() throws { try endToEnd("gpt_neox_sequential") }
    func testPhiSteeringGradient() throws { try endToEnd("phi") }
    func testGPT2SteeringGradient() throws { try endToEnd("gpt2") }

    /// Steered log-likelihoods at v = 0 equal the scorer's (the packed path and the cached path agree).
    func testPackedScoringMatchesCachedScoring() throws {
        let m = try LanguageModel(name: Fixtures.root + "/tiny/llama")
        let item = MCItem(doc: 0, context: "A man is sitting on a roof.", choices: ["He starts pulling.", "The lady lifts it.", "camera"], gold: 0)
        let sc = Scorer(model: m).score(item)
        let seq = Scorer(model: m).packed(item)
        let res = m.transformer.residuals(seq, through: 0)[0]
        let ev = m.transformer.steer(seq, residual: res, layer: 0, v: [Float](repeating: 0, count: m.config.hidden), gold: 0,
                                     choiceChars: [18, 18, 6], wantGrad: false)
        for (a, b) in zip(sc.ll, ev.ll) { XCTAssertEqual(a, b, accuracy: 1e-3) }
    }
}

final class PackedScoringTests: XCTestCase {
    /// Several items stacked in one forward pass score exactly like each item alone (KV-cache path).
    func testBatchEqualsSingleItemScoring() throws {
        for arch in TinyModelParityTests.architectures {
            let m = try LanguageModel(name: Fixtures.root + "/tiny/" + arch)
            let items = [
                MCItem(doc: 0, context: "A man is sitting on a roof.", choices: ["He starts pulling.", "The lady lifts it.", "camera"], gold: 0),
                MCItem(doc: 1, context: "Question: What lifts the barbell?\nAnswer:", choices: ["a lady", "the roof"], gold: 0),
                MCItem(doc: 2, context: "The camera pans", choices: ["to a lady who walks to a barbell and lifts it over her head.", "away."], gold: 1),
            ]
            let sc = Scorer(model: m)
            let batch = sc.scoreBatch(items)
            for (it, b) in zip(items, batch) {
                let single = sc.score(it)
                XCTAssertEqual(b.doc, it.doc)
                for (x, y) in zip(single.ll, b.ll) { XCTAssertEqual(x, y, accuracy: 1e-3, arch) }
            }
            XCTAssertEqual(sc.groups(items, maxTokens: 1).count, 3, "each group holds at least one item")
        }
    }

    /// Log-probabilities from vocabulary blocks (a partial last block, rows asked twice, tokens in
    /// several blocks) equal full logits minus their row log-sum-exp.
    func testBlockedLogProbsEqualFullSoftmax() throws {
        let m = try LanguageModel(name: Fixtures.root + "/tiny/llama")
        let tf = m.transformer, V = m.config.vocabSize
        let h = tf.forward([5, 17, 3, 42, 9], cache: KVCache(config: m.config))
        let full = tf.logits(hidden: h, rows: Array(0..<5))
        let lse = Kernels.rowLogSumExps(full, rows: 5, V)
        let pairs: [(row: Int, token: Int)] = [(4, 0), (0, V - 1), (2, 7), (4, V / 2), (1, 13), (0, 6)]
        for block in [7, 64, V, 4096] {
            let lp = tf.logProbs(hidden: h, pairs: pairs, block: block)
            for (p, got) in zip(pairs, lp) {
                XCTAssertEqual(got, Double(full[p.row * V + p.token]) - lse[p.row], accuracy: 1e-4, "block \(block)")
            }
        }
        XCTAssertTrue(tf.logProbs(hidden: h, pairs: []).isEmpty)
    }

    /// Workers sharing one queue of groups return every item once, in item order, equal to
    /// scoring alone; chunks arrive in order; a stop keeps a finished prefix.
    func testParallelScoringKeepsItemOrder() throws {
        let m = try LanguageModel(name: Fixtures.root + "/tiny/llama")
        let sc = Scorer(model: m)
        let items = (0..<40).map { i in
            MCItem(doc: i, context: "Item \(i): a man walks to a barbell" + String(repeating: " and lifts it", count: i % 7),
                   choices: ["he lifts it.", "the lady waves \(i) times.", String(repeating: "camera ", count: 1 + i % 5)], gold: i % 3)
        }
        let alone = items.map { sc.score($0) }
        for workers in [1, 2, 3] {
            var chunks: [[ItemScore]] = []
            let all = sc.scoreAll(items, context: RunContext(workers: workers), onChunk: { chunks.append($0) })
            XCTAssertEqual(all.map { $0.doc }, Array(0..<40), "workers \(workers)")
            XCTAssertEqual(chunks.flatMap { $0 }.map { $0.doc }, Array(0..<40))
            XCTAssertGreaterThan(chunks.count, 2, "progress arrives group by group")
            for (a, b) in zip(alone, all) { for (x, y) in zip(a.ll, b.ll) { XCTAssertEqual(x, y, accuracy: 1e-3) } }
        }
        var polls = 0
        let part = sc.scoreAll(items, context: RunContext(workers: 2, shouldStop: { polls += 1; return polls > 3 }))
        XCTAssertLessThan(part.count, items.count)
        XCTAssertEqual(part.map { $0.doc }, Array(0..<part.count), "a stop keeps the finished prefix in order")
    }
}

/// The vectorised exponentials against libm.
final class ExpKernelTests: XCTestCase {
    func testExp16AndLogSumExpMatchLibm() {
        var xs: [Float] = []
        var g = SeededRandom(seed: 5)
        for _ in 0..<4099 { xs.append(Float(Double.random(in: -100...20, using: &g))) }   // [-100, 20], a ragged tail
        xs[7] = -200; xs[8] = 0; xs[9] = -87
        xs.withUnsafeBufferPointer { p in
            var i = 0
            while i + 16 <= xs.count {
                let v = Kernels.exp16(UnsafeRawPointer(p.baseAddress! + i).loadUnaligned(as: SIMD16<Float>.self))
                for k in 0..<16 {
                    let ref = expf(xs[i + k])
                    if xs[i + k] >= -87 { XCTAssertEqual(v[k], ref, accuracy: 4e-7 * ref, "x = \(xs[i + k])") }
                    else { XCTAssertLessThan(v[k], 2e-38) }
                }
                i += 16
            }
            let m = xs.max()!
            let ref = Double(m) + log(xs.reduce(0.0) { $0 + exp(Double($1 - m)) })
            XCTAssertEqual(Kernels.logSumExp(p.baseAddress!, xs.count), ref, accuracy: 1e-6 * abs(ref))
        }
        var row = xs
        let lse = Float(xs.withUnsafeBufferPointer { Kernels.logSumExp($0.baseAddress!, xs.count) })
        row.withUnsafeMutableBufferPointer { Kernels.scaledExp($0.baseAddress!, xs.count, shift: lse, scale: -2) }
        XCTAssertEqual(row.reduce(0.0) { $0 + Double($1) }, -2, accuracy: 1e-5, "−2 · softmax sums to −2")
        for j in [0, 100, 4098] { XCTAssertEqual(row[j], -2 * expf(xs[j] - lse), accuracy: 1e-6 * abs(row[j]) + 1e-30) }
    }

    func testVectorisedActivationsAndSoftmaxMatchScalar() {
        var g = SeededRandom(seed: 9)
        let n = 1000 + 7
        let x = (0..<n).map { _ in Float(Double.random(in: -12...12, using: &g)) }
        let a = (0..<n).map { _ in Float(Double.random(in: -2...2, using: &g)) }
        let dz = (0..<n).map { _ in Float(Double.random(in: -1...1, using: &g)) }
        for gelu in [false, true] {
            var z = a
            z.withUnsafeMutableBufferPointer { zb in x.withUnsafeBufferPointer { Kernels.gatedActivation(zb.baseAddress!, gate: $0.baseAddress!, n, geluTanh: gelu) } }
            var da = [Float](repeating: 0, count: n), dg = da
            dz.withUnsafeBufferPointer { d in a.withUnsafeBufferPointer { ab in x.withUnsafeBufferPointer { xb in
            da.withUnsafeMutableBufferPointer { dab in dg.withUnsafeMutableBufferPointer { dgb in
                Kernels.gatedActivationBackward(dz: d.baseAddress!, a: ab.baseAddress!, g: xb.baseAddress!, da: dab.baseAddress!,
                                                dg: dgb.baseAddress!, n, geluTanh: gelu)
            } } } } }
            for i in 0..<n {
                let act = gelu ? Kernels.geluTanh(x[i]) : Kernels.silu(x[i])
                let dact = gelu ? Backward.geluTanhGrad(x[i]) : Backward.siluGrad(x[i])
                XCTAssertEqual(z[i], a[i] * act, accuracy: 1e-6 * (1 + abs(a[i] * act)), "gelu=\(gelu) x=\(x[i])")
                XCTAssertEqual(da[i], dz[i] * act, accuracy: 1e-6 * (1 + abs(act)), "gelu=\(gelu) x=\(x[i])")
                XCTAssertEqual(dg[i], dz[i] * a[i] * dact, accuracy: 1e-6 * (1 + abs(dact)), "gelu=\(gelu) x=\(x[i])")
            }
        }
        var row = x
        row[3] = -.infinity
        row.withUnsafeMutableBufferPointer { Kernels.softmax($0.baseAddress!, n) }
        let m = x.max()!
        let s = x.enumerated().reduce(0.0) { $0 + ($1.offset == 3 ? 0 : exp(Double($1.element - m))) }
        for i in [0, 500, n - 1] { XCTAssertEqual(Double(row[i]), exp(Double(x[i] - m)) / s, accuracy: 1e-6 * exp(Double(x[i] - m)) / s) }
        XCTAssertLessThan(row[3], 1e-30, "a masked (−∞) score gets no weight")
    }
}
