import Foundation

/// Vectorised exponentials for the vocabulary-wide passes (log-sum-exp of every scored row, the
/// softmax in the head's gradient): 16 lanes at a time, which the compiler maps to AVX-512 or AVX2.
extension Kernels {
    /// e^x for 16 lanes: Cephes' degree-6 polynomial after range reduction by ln 2 (relative error
    /// about 2e-7). Inputs are clamped to [−87.3, 88.3], so very negative x gives ~1e-38, not 0.
    @inline(__always) static func exp16(_ x: SIMD16<Float>) -> SIMD16<Float> {
        // Only lane-wise arithmetic, compare-and-select and bit casts: they compile to vector
        // instructions (pointwiseMin/Max do not; they run lane by lane, ~30× slower).
        let lo = SIMD16<Float>(repeating: -87.3), hi = SIMD16<Float>(repeating: 88.3)
        var xc = x.replacing(with: lo, where: x .< lo)
        xc = xc.replacing(with: hi, where: xc .> hi)
        // Round x·log2(e) to the nearest integer by adding 1.5·2^23: the integer lands in the low mantissa bits.
        let magic = SIMD16<Float>(repeating: 12_582_912)
        let t = xc * 1.442_695_04 + magic
        let n = t - magic
        var r = xc - n * 0.693_359_375
        r = r - n * -2.121_944_4e-4
        var p = SIMD16<Float>(repeating: 1.987_569_15e-4)
        p = p * r + 1.398_199_950_7e-3
        p = p * r + 8.333_451_907_3e-3
        p = p * r + 4.166_579_589_4e-2
        p = p * r + 1.666_666_545_9e-1
        p = p * r + 5.000_000_120_1e-1
        let y = p * (r * r) + r + 1
        let ni = unsafeBitCast(t, to: SIMD16<Int32>.self) &- unsafeBitCast(magic, to: SIMD16<Int32>.self)
        return y * unsafeBitCast((ni &+ 127) &<< 23, to: SIMD16<Float>.self)
    }

    /// The largest of `row[0..<n]`.
    static func maxValue(_ row: UnsafePointer<Float>, _ n: Int) -> Float {
        let raw = UnsafeRawPointer(row)
        var mv = SIMD16<Float>(repeating: -.infinity)
        var i = 0
        while i + 16 <= n {
            let v = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
            mv = mv.replacing(with: v, where: v .> mv)
            i += 16
        }
        var m = mv.max()
        while i < n { m = max(m, row[i]); i += 1 }
        return m
    }

    /// The index of the largest of row[0..<n] (the first on a tie, as torch's argmax; NaNs are
    /// passed over), n ≥ 1: the maximum by 16 lanes, then the first place that holds it.
    static func argmax(_ row: UnsafePointer<Float>, _ n: Int) -> Int {
        let m = maxValue(row, n)
        let raw = UnsafeRawPointer(row), target = SIMD16<Float>(repeating: m)
        var i = 0
        while i + 16 <= n {
            if any(raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self) .== target) { break }
            i += 16
        }
        while i < n && row[i] != m { i += 1 }
        return i < n ? i : 0
    }

    /// log Σ exp(row[0..<n]), with each 16-lane block's sum accumulated in f64.
    static func logSumExp(_ row: UnsafePointer<Float>, _ n: Int) -> Double {
        logSumExp(row, n, max: maxValue(row, n))
    }

    /// `logSumExp` given the row's largest value `m` (when the caller needs it too).
    static func logSumExp(_ row: UnsafePointer<Float>, _ n: Int, max m: Float) -> Double {
        let raw = UnsafeRawPointer(row), mv = SIMD16<Float>(repeating: m)
        var s: Double = 0, i = 0
        // Lane sums in f32 over blocks of 256 values (each term ≤ 1), then into f64.
        while i + 16 <= n {
            var acc = SIMD16<Float>(repeating: 0)
            let stop = min(n - n % 16, i + 256)
            while i < stop { acc += exp16(raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self) - mv); i += 16 }
            s += Double(acc.sum())
        }
        while i < n { s += Double(expf(row[i] - m)); i += 1 }
        return Double(m) + log(s)
    }

    /// log Σ exp of each of the `rows` rows of `logits` [rows, n] (rows in parallel when BLAS may use threads).
    static func rowLogSumExps(_ logits: [Float], rows: Int, _ n: Int) -> [Double] {
        var lse = [Double](repeating: 0, count: rows)
        logits.withUnsafeBufferPointer { lp in lse.withUnsafeMutableBufferPointer { lb in
            forRows(rows, cost: n) { r in lb[r] = logSumExp(lp.baseAddress! + r * n, n) }
        } }
        return lse
    }

    /// An array of `count` floats that `fill` writes completely (no zeroing first: for outputs of
    /// GEMMs, norms and copies, which overwrite every element).
    static func filled(_ count: Int, _ fill: (UnsafeMutablePointer<Float>) -> Void) -> [Float] {
        [Float](unsafeUninitializedCapacity: count) { buf, n in
            if let p = buf.baseAddress { fill(p) }
            n = count
        }
    }

    /// The rows `rows` of x [_, width], in that order: [rows.count, width].
    static func gatherRows(_ x: [Float], _ rows: [Int], width d: Int) -> [Float] {
        x.withUnsafeBufferPointer { xb in
            filled(rows.count * d) { o in
                for (i, r) in rows.enumerated() { (o + i * d).initialize(from: xb.baseAddress! + r * d, count: d) }
            }
        }
    }

    /// a + b elementwise (same counts): a residual connection.
    static func added(_ a: [Float], _ b: [Float]) -> [Float] {
        a.withUnsafeBufferPointer { ab in b.withUnsafeBufferPointer { bb in
            filled(a.count) { o in for i in 0..<a.count { o[i] = ab[i] + bb[i] } }
        } }
    }

    /// x[t, :] += v for every one of the `rows` rows of x [rows, v.count] (a steering vector at every position).
    static func addToRows(_ v: [Float], _ x: UnsafeMutablePointer<Float>, rows: Int) {
        let d = v.count
        v.withUnsafeBufferPointer { vp in for t in 0..<rows { for i in 0..<d { x[t * d + i] += vp[i] } } }
    }

    /// row[i] = scale · exp(row[i] − shift), in place (with shift = log Σ exp(row): scale · softmax).
    static func scaledExp(_ row: UnsafeMutablePointer<Float>, _ n: Int, shift: Float, scale: Float) {
        let raw = UnsafeMutableRawPointer(row), sv = SIMD16<Float>(repeating: shift)
        var i = 0
        while i + 16 <= n {
            let e = exp16(raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self) - sv) * scale
            raw.storeBytes(of: e, toByteOffset: i * 4, as: SIMD16<Float>.self)
            i += 16
        }
        while i < n { row[i] = scale * expf(row[i] - shift); i += 1 }
    }

    /// In-place softmax of `row[0..<n]` (entries of −∞ get ~1e-38 / Σ, i.e. zero in practice).
    static func softmax(_ row: UnsafeMutablePointer<Float>, _ n: Int) {
        let m = maxValue(row, n)
        let raw = UnsafeMutableRawPointer(row), mv = SIMD16<Float>(repeating: m)
        var acc = SIMD16<Float>(repeating: 0), tail: Float = 0, i = 0
        while i + 16 <= n {
            let e = exp16(raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self) - mv)
            raw.storeBytes(of: e, toByteOffset: i * 4, as: SIMD16<Float>.self)
            acc += e
            i += 16
        }
        while i < n { let e = expf(row[i] - m); row[i] = e; tail += e; i += 1 }
        let inv = 1 / (acc.sum() + tail)
        for j in 0..<n { row[j] *= inv }
    }

    @inline(__always) static func load16(_ p: UnsafePointer<Float>, _ i: Int) -> SIMD16<Float> {
        UnsafeRawPointer(p).loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
    }
    @inline(__always) static func store16(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>, _ i: Int) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, toByteOffset: i * 4, as: SIMD16<Float>.self)
    }
    /// The gated MLP's activation, in place: z[i] *= act(g[i]), n values.
    static func gatedActivation(_ z: UnsafeMutablePointer<Float>, gate g: UnsafePointer<Float>, _ n: Int, _ act: Activation) {
        // A prefill step's [rows, ffn] (Qwen: 280 × 4864) in parts side by side, on `BLAS.threads`
        // threads (one inside workers that each have a core). Parts are whole 16-value blocks, so
        // only the last has a scalar tail: the same values as one call.
        forBands(n, parts: n >= 1 << 18 ? BLAS.threads : 1, align: 16) { r in
            gatedActivationPart(z + r.lowerBound, gate: g + r.lowerBound, r.count, act)
        }
    }

    private static func gatedActivationPart(_ z: UnsafeMutablePointer<Float>, gate g: UnsafePointer<Float>, _ n: Int, _ act: Activation) {
        if act == .geluExact { for i in 0..<n { z[i] *= Kernels.geluExact(g[i]) }; return }
        gatedActivation(z, gate: g, n, geluTanh: act == .geluTanh)
    }

    /// A plain MLP's activation, in place: z[i] = act(z[i]), n values.
    static func activation(_ z: UnsafeMutablePointer<Float>, _ n: Int, _ act: Activation) {
        switch act {
        case .geluExact: for i in 0..<n { z[i] = Kernels.geluExact(z[i]) }
        case .silu, .geluTanh:
            // act(x) = x · act(x)/x: the gated kernel with the input as its own gate and ones as the value.
            var i = 0
            while i < n {
                let m = min(4096, n - i)
                let ones = [Float](repeating: 1, count: m)
                var gate = [Float](unsafeUninitializedCapacity: m) { b, c in b.baseAddress!.update(from: z + i, count: m); c = m }
                ones.withUnsafeBufferPointer { o in (z + i).update(from: o.baseAddress!, count: m) }
                gate.withUnsafeMutableBufferPointer { gatedActivation(z + i, gate: $0.baseAddress!, m, geluTanh: act == .geluTanh) }
                i += m
            }
        }
    }

    /// Backward of a plain activation: da[i] = dz[i] · act′(a[i]).
    static func activationBackward(dz: [Float], a: [Float], _ act: Activation) -> [Float] {
        switch act {
        case .silu: return zip(dz, a).map { $0 * Backward.siluGrad($1) }
        case .geluTanh: return zip(dz, a).map { $0 * Backward.geluTanhGrad($1) }
        case .geluExact: return zip(dz, a).map { $0 * Backward.geluExactGrad($1) }
        }
    }

    /// Backward of a gated activation of any kind (see the SiLU / GELU-tanh kernel below).
    static func gatedActivationBackward(dz: UnsafePointer<Float>, a: UnsafePointer<Float>, g: UnsafePointer<Float>,
                                        da: UnsafeMutablePointer<Float>, dg: UnsafeMutablePointer<Float>, _ n: Int, _ act: Activation) {
        guard act == .geluExact else {
            return gatedActivationBackward(dz: dz, a: a, g: g, da: da, dg: dg, n, geluTanh: act == .geluTanh)
        }
        for i in 0..<n { da[i] = dz[i] * Kernels.geluExact(g[i]); dg[i] = dz[i] * a[i] * Backward.geluExactGrad(g[i]) }
    }

    /// The gated MLP's activation, in place: z[i] *= act(g[i]) with act = SiLU or GELU (tanh form), n values.
    static func gatedActivation(_ z: UnsafeMutablePointer<Float>, gate g: UnsafePointer<Float>, _ n: Int, geluTanh: Bool) {
        var i = 0
        while i + 16 <= n {
            let x = load16(g, i)
            // One exp16 call site for both activations, so it is inlined (a second one was not).
            let u: SIMD16<Float> = 0.797_884_560_8 * (x + 0.044715 * x * x * x)
            let e = exp16(geluTanh ? 2 * u : -x)
            let act: SIMD16<Float> = geluTanh ? x * (e / (e + 1)) : x / (1 + e)
            store16(load16(z, i) * act, z, i)
            i += 16
        }
        while i < n { z[i] *= geluTanh ? Kernels.geluTanh(g[i]) : Kernels.silu(g[i]); i += 1 }
    }

    /// Backward of `gatedActivation`: da = dz · act(g), dg = dz · a · act′(g), n values.
    static func gatedActivationBackward(dz: UnsafePointer<Float>, a: UnsafePointer<Float>, g: UnsafePointer<Float>,
                                        da: UnsafeMutablePointer<Float>, dg: UnsafeMutablePointer<Float>, _ n: Int, geluTanh: Bool) {
        var i = 0
        let k: Float = 0.797_884_560_8
        while i + 16 <= n {
            let x = load16(g, i), d = load16(dz, i)
            let act: SIMD16<Float>, dact: SIMD16<Float>
            let x2: SIMD16<Float> = x * x
            let u: SIMD16<Float> = k * (x + 0.044715 * x2 * x)
            let e = exp16(geluTanh ? 2 * u : -x)   // one call site, so it is inlined
            if geluTanh {
                // With E = e^{2u}: (1 + tanh u)/2 = E/(E+1) and 1 − tanh²u = 4E/(E+1)², free of cancellation.
                let inv: SIMD16<Float> = 1 / (e + 1)
                let half: SIMD16<Float> = e * inv
                act = x * half
                let sech2: SIMD16<Float> = 4 * half * inv
                let du: SIMD16<Float> = k * (1 + 0.134145 * x2)
                dact = half + 0.5 * x * sech2 * du
            } else {
                let s = 1 / (1 + e)
                act = x * s
                dact = s * (1 + x * (1 - s))
            }
            store16(d * act, da, i)
            store16(d * load16(a, i) * dact, dg, i)
            i += 16
        }
        while i < n {
            let x = g[i]
            da[i] = dz[i] * (geluTanh ? Kernels.geluTanh(x) : Kernels.silu(x))
            dg[i] = dz[i] * a[i] * (geluTanh ? Backward.geluTanhGrad(x) : Backward.siluGrad(x))
            i += 1
        }
    }
}

extension Kernels {
    /// ⟨a, b⟩ over n values (n a multiple of 16).
    @inline(__always) static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = SIMD16<Float>(), k = 0
        while k < n { acc.addProduct(load16(a, k), load16(b, k)); k += 16 }
        return acc.sum()
    }

    /// y += a · x over n values (n a multiple of 16).
    @inline(__always) static func axpy(_ a: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        var k = 0
        while k < n { store16(load16(y, k).addingProduct(SIMD16(repeating: a), load16(x, k)), y, k); k += 16 }
    }

    /// y[M, N] = x[M, K] · w[N, K]ᵀ for a few rows (decoding: one row per live sequence).
    ///
    /// OpenBLAS packs the whole weight matrix on every call, which for a handful of rows costs more
    /// than the product; this streams each weight row once and applies it to every input row while
    /// it is in cache (memory-bound, as a decode step is), splitting the output columns over
    /// `BLAS.threads` threads.
    static func fewRowsLinear(_ x: UnsafePointer<Float>, rows M: Int, _ w: UnsafePointer<Float>, inDim K: Int, outDim N: Int,
                              _ y: UnsafeMutablePointer<Float>, ldy: Int? = nil) {
        let ldy = ldy ?? N
        func columns(_ range: Range<Int>) {
            for j in range {
                let wj = w + j * K
                var r = 0
                while r < M {
                    let n = min(4, M - r)
                    var a0 = SIMD16<Float>(), a1 = SIMD16<Float>(), a2 = SIMD16<Float>(), a3 = SIMD16<Float>()
                    let x0 = x + r * K, x1 = x0 + (n > 1 ? K : 0), x2 = x0 + (n > 2 ? 2 * K : 0), x3 = x0 + (n > 3 ? 3 * K : 0)
                    var k = 0
                    while k + 16 <= K {
                        let wv = load16(wj, k)
                        a0.addProduct(wv, load16(x0, k)); a1.addProduct(wv, load16(x1, k))
                        a2.addProduct(wv, load16(x2, k)); a3.addProduct(wv, load16(x3, k))
                        k += 16
                    }
                    var s0 = a0.sum(), s1 = a1.sum(), s2 = a2.sum(), s3 = a3.sum()
                    while k < K { let wk = wj[k]; s0 += wk * x0[k]; s1 += wk * x1[k]; s2 += wk * x2[k]; s3 += wk * x3[k]; k += 1 }
                    y[r * ldy + j] = s0
                    if n > 1 { y[(r + 1) * ldy + j] = s1 }
                    if n > 2 { y[(r + 2) * ldy + j] = s2 }
                    if n > 3 { y[(r + 3) * ldy + j] = s3 }
                    r += n
                }
            }
        }
        forBands(N, parts: min(BLAS.threads, N / 64), columns)
    }
}
