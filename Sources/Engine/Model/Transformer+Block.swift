import CKernels
import Foundation

/// Where a block's attention finds the keys and values its rows attend to.
public enum AttentionLayout {
    /// Packed sequences stacked row-wise, no cache: each attends within itself (scoring, training).
    case packed([PackedSequence])
    /// Spans of rows stacked row-wise, each continuing its own KV cache (prefill, decoding, and
    /// choices scored on a cached context): a span's rows see its cache and, within the span, earlier
    /// rows of their own segment. Each block writes the span's K/V into its cache rows
    /// `length..<length + count`; the caller commits them once every block has run.
    case cached([CacheSpan])

    /// Absolute position of every row, in row order.
    var positions: [Int] {
        switch self {
        case .packed(let s): return s.flatMap { $0.positions }
        case .cached(let s): return s.flatMap { $0.positions }
        }
    }
}

/// New rows continuing one KV cache.
public struct CacheSpan {
    public let cache: KVCache
    /// Absolute position of each new row.
    public let positions: [Int]
    /// Rows of different segments do not see each other (each still sees the whole cache).
    public let segments: [Int]
    public var count: Int { positions.count }
    public init(cache: KVCache, positions: [Int], segments: [Int]) {
        self.cache = cache; self.positions = positions; self.segments = segments
    }
}

extension Transformer {
    /// y[T, out] = x[T, in] · Wᵀ (+ b); `packed`: by W's packed copy when it has one (generation).
    func lin(_ x: [Float], _ L: Linear, rows T: Int, packed: Bool = false) -> [Float] {
        x.withUnsafeBufferPointer { xb in
            Kernels.filled(T * L.outDim) { y in
                BLAS.linear(xb.baseAddress!, rows: T, inDim: L.inDim, weight: L.w, bias: L.b, outDim: L.outDim, into: y, packed: packed)
            }
        }
    }

    /// q [rows, qDim], k and v [rows, kvDim] of the normed input x [rows, hidden]; `packed`: by the
    /// packed copies, k and v in one product by the block's packed k, v matrix when it has one
    /// (generation; each on its own under `AFT_SEPARATE_KV=1`).
    func projectQKV(_ blk: Block, _ x: [Float], rows T: Int, packed: Bool) -> ([Float], [Float], [Float]) {
        let q = lin(x, blk.q, rows: T, packed: packed), width = blk.k.outDim + blk.v.outDim
        if packed, let fused = blk.kvPacked.value {
            let kv = x.withUnsafeBufferPointer { xb in
                ScratchPool.shared.with(T * width) { y -> ([Float], [Float])? in
                    guard fused.multiply(xb.baseAddress!, m: T, y, ldc: width) else { return nil }
                    /// Columns first..<first + L.outDim of every row, plus L's bias.
                    func part(_ L: Linear, _ first: Int) -> [Float] {
                        Kernels.filled(T * L.outDim) { o in
                            for r in 0..<T { (o + r * L.outDim).update(from: y + r * width + first, count: L.outDim) }
                            if let b = L.b { Kernels.addToRows(b, o, rows: T) }
                        }
                    }
                    return (part(blk.k, 0), part(blk.v, blk.k.outDim))
                }
            }
            if let (k, v) = kv { return (q, k, v) }
        }
        return (q, lin(x, blk.k, rows: T, packed: packed), lin(x, blk.v, rows: T, packed: packed))
    }

    /// The norm of `x` [rows, d] as a new array.
    func normed(_ n: Norm, _ x: [Float], rows: Int, d: Int) -> [Float] {
        x.withUnsafeBufferPointer { xb in Kernels.filled(x.count) { y in norm(n, xb.baseAddress!, y, rows: rows, d: d) } }
    }

    /// RMSNorm or LayerNorm (the architecture's kind) of `rows` rows of width `d`; `y` may be `x`.
    func norm(_ n: Norm, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, d: Int) {
        n.w.withUnsafeBufferPointer { w in
            switch config.features.norm {
            case .layer:
                let zeros = n.b == nil ? [Float](repeating: 0, count: d) : []
                (n.b ?? zeros).withUnsafeBufferPointer { bb in
                    Kernels.layerNorm(x, y, rows: rows, d: d, weight: w.baseAddress!, bias: bb.baseAddress!, eps: config.normEps)
                }
            case .rms(let offset):
                Kernels.rmsNorm(x, y, rows: rows, d: d, weight: w.baseAddress!, eps: config.normEps, offset: offset)
            }
        }
    }

    /// One block over `T` rows: the forward pass of every path (packed scoring and training,
    /// prefill, KV decoding). Returns its output and, when `record` (one packed sequence), its tape.
    ///
    /// - Parameters:
    ///   - xIn: the block's input [rows, hidden].
    ///   - layout: which keys each row attends to (packed sequences, or spans continuing KV caches).
    ///   - keepRows: ascending rows whose output is wanted (not when recording); only they go on past
    ///     attention and the output is [keepRows.count, hidden]. A scoring pass's last block needs only the scored rows.
    ///   - packed: multiply by the weights' packed copies where they have them (`packForGeneration`).
    func blockForward(_ l: Int, _ xIn: [Float], _ layout: AttentionLayout, record: Bool,
                      keepRows: [Int]? = nil, packed: Bool = false) -> ([Float], BlockTape?) {
        let c = config, d = c.hidden, hd = c.headDim, blk = blocks[l], f = c.features
        let positions = layout.positions, rowsIn = positions.count
        let h1 = Profile.time("norm") { normed(blk.inputNorm, xIn, rows: rowsIn, d: d) }
        var (q, k, v) = Profile.time("qkv") { projectQKV(blk, h1, rows: rowsIn, packed: packed) }
        // Kept for the tape only: sharing the buffers would make RoPE below copy q and k first.
        let qPre = record ? q : [], kPre = record ? k : []
        if let qn = blk.qNorm, let kn = blk.kNorm {
            q = normed(qn, q, rows: rowsIn * c.heads, d: hd); k = normed(kn, k, rows: rowsIn * c.kvHeads, d: hd)
        }
        if f.positions == .rope && c.rotaryDim > 0 { Profile.time("rope") {
            let theta = c.layerIsSliding[l] ? c.ropeLocalTheta : c.ropeTheta
            q.withUnsafeMutableBufferPointer { ropeAt($0.baseAddress!, T: rowsIn, nHeads: c.heads, pos: positions, theta: theta) }
            k.withUnsafeMutableBufferPointer { ropeAt($0.baseAddress!, T: rowsIn, nHeads: c.kvHeads, pos: positions, theta: theta) }
        } }
        var (attn, probs) = Profile.time("attend") { attend(l, q, k, v, layout, record: record) }
        // Rows whose output is wanted go on past attention; the others were needed only as keys and values.
        let keep = record ? nil : keepRows.flatMap { $0.count < rowsIn ? $0 : nil }
        let x = keep.map { Kernels.gatherRows(xIn, $0, width: d) } ?? xIn
        if let keep = keep { attn = Kernels.gatherRows(attn, keep, width: c.qDim) }
        let T = keep?.count ?? rowsIn
        let o = Profile.time("o") { lin(attn, blk.o, rows: T, packed: packed) }
        var x1 = [Float](), h2: [Float], out: [Float], m: [Float]
        var a: [Float] = [], g: [Float] = []
        func mlp(_ h: [Float]) -> [Float] {
            a = Profile.time("up") { lin(h, blk.up, rows: T, packed: packed) }
            var z = a
            z.withUnsafeMutableBufferPointer { zb in
                switch f.mlp {
                case .gated(let act):
                    g = Profile.time("gate") { lin(h, blk.gate!, rows: T, packed: packed) }
                    Profile.time("act") { g.withUnsafeBufferPointer { gb in Kernels.gatedActivation(zb.baseAddress!, gate: gb.baseAddress!, zb.count, act) } }
                case .plain(let act):
                    Kernels.activation(zb.baseAddress!, zb.count, act)
                }
            }
            return Profile.time("down") { lin(z, blk.down, rows: T, packed: packed) }
        }
        switch f.residual {
        case .sandwich:
            let oN = normed(blk.postAttnNorm!, o, rows: T, d: d)
            x1 = Kernels.added(x, oN)
            h2 = normed(blk.preFFNNorm!, x1, rows: T, d: d)
            m = mlp(h2)
            out = Kernels.added(x1, normed(blk.postFFNNorm!, m, rows: T, d: d))
        case .parallel(let shared):
            h2 = shared ? (keep.map { Kernels.gatherRows(h1, $0, width: d) } ?? h1) : normed(blk.postAttnNorm!, x, rows: T, d: d)
            m = mlp(h2)
            out = Kernels.filled(x.count) { y in for i in 0..<x.count { y[i] = x[i] + o[i] + m[i] } }
        case .sequential:
            x1 = Profile.time("residual") { Kernels.added(x, o) }
            h2 = Profile.time("norm") { normed(blk.postAttnNorm!, x1, rows: T, d: d) }
            m = mlp(h2)
            out = Profile.time("residual") { Kernels.added(x1, m) }
        }
        guard record, case .packed(let seqs) = layout, seqs.count == 1 else { return (out, nil) }
        return (out, BlockTape(x: x, h1: h1, qPre: qPre, kPre: kPre, q: q, k: k, v: v, probs: probs, attn: attn, o: o,
                               x1: x1, h2: h2, a: a, g: g, m: m))
    }

    /// One block over packed sequences (no cache).
    func blockForward(_ l: Int, _ x: [Float], _ batch: [PackedSequence], record: Bool, keepRows: [Int]? = nil) -> ([Float], BlockTape?) {
        blockForward(l, x, .packed(batch), record: record, keepRows: keepRows)
    }

    /// One block over one packed sequence; returns its output and, if asked, its tape.
    func blockForward(_ l: Int, _ x: [Float], _ seq: PackedSequence, record: Bool) -> ([Float], BlockTape?) {
        blockForward(l, x, .packed([seq]), record: record)
    }

    /// Applies RoPE to x [T, nHeads·headDim] with per-token positions.
    func ropeAt(_ x: UnsafeMutablePointer<Float>, T: Int, nHeads: Int, pos: [Int], theta: Float) {
        let hd = config.headDim
        var t = 0
        // Runs of consecutive positions share one call (the common case).
        while t < T {
            var e = t + 1
            while e < T && pos[e] == pos[e - 1] + 1 { e += 1 }
            Kernels.rope(x + t * nHeads * hd, tokens: e - t, nHeads: nHeads, headDim: hd, rotDim: config.rotaryDim,
                         pos0: pos[t], theta: theta)
            t = e
        }
    }

    /// Multi-head (grouped-query) attention of every row over the keys its layout gives it.
    /// q [rows, qDim], k and v [rows, kvDim] (after norms and RoPE) → concatenated head outputs
    /// [rows, qDim], and (when `record`, one packed sequence) the probabilities [heads, T, T].
    func attend(_ l: Int, _ q: [Float], _ k: [Float], _ v: [Float], _ layout: AttentionLayout,
                record: Bool) -> (attn: [Float], probs: [Float]) {
        let c = config, rows = q.count / c.qDim, kvd = c.kvDim
        let window = c.layerIsSliding[l] ? c.slidingWindow : nil
        // Written in full below: every head's columns of every row.
        var attn = Kernels.filled(rows * c.qDim) { _ in }
        // One probabilities buffer for the largest span, reused by every span (and kept as the tape).
        // Decoding spans spread over the cores each get a region of their own, `decodeArea` per head.
        let biggest: Int, decodeArea: Int
        switch layout {
        case .packed(let seqs): biggest = seqs.map { $0.count * $0.count }.max() ?? 0; decodeArea = 0
        case .cached(let spans):
            biggest = spans.map { $0.count * ($0.cache.length + $0.count) }.max() ?? 0
            decodeArea = spans.filter { $0.count <= Transformer.decodeRows }.map { $0.count * ($0.cache.length + $0.count) }.max() ?? 0
        }
        // Kept as the tape when recording; otherwise a pooled scratch (tens of MB for a long prompt,
        // which fresh pages on every layer would cost as much to fault in as to compute).
        let probsCount = max(1, c.heads * max(biggest, BLAS.threads * decodeArea))
        var probs: [Float] = record ? Kernels.filled(probsCount) { _ in } : []
        let scratch = record ? nil : ScratchPool.shared.take(probsCount)
        defer { if let b = scratch { ScratchPool.shared.give(b) } }
        q.withUnsafeBufferPointer { qb in attn.withUnsafeMutableBufferPointer { ab in probs.withUnsafeMutableBufferPointer { tape in
            let pbase = scratch?.0 ?? tape.baseAddress!
            var r0 = 0
            switch layout {
            case .packed(let seqs):
                k.withUnsafeBufferPointer { kb in v.withUnsafeBufferPointer { vb in
                    for seq in seqs {
                        let Ts = seq.count
                        attendSpan(qb.baseAddress! + r0 * c.qDim, kb.baseAddress! + r0 * kvd, vb.baseAddress! + r0 * kvd,
                                   kvRow: kvd, kvHead: c.headDim, rows: Ts, keys: Ts, probs: pbase,
                                   out: ab.baseAddress! + r0 * c.qDim) { i, j in
                            seq.visible(i, j, window: window)
                        }
                        r0 += Ts
                    }
                } }
            case .cached(let spans):
                var starts: [Int] = [], r = 0
                for sp in spans { starts.append(r); r += sp.count }
                /// Span `si`'s new keys and values into its cache, then its attention (probabilities in `pp`).
                func run(_ si: Int, _ pp: UnsafeMutablePointer<Float>) {
                    let sp = spans[si], r0 = starts[si]
                    let P = sp.cache.length, Ts = sp.count, pos = sp.positions, seg = sp.segments
                    sp.cache.reserve(P + Ts)
                    k.withUnsafeBufferPointer { kb in v.withUnsafeBufferPointer { vb in
                        sp.cache.write(layer: l, first: P, rows: Ts, k: kb.baseAddress! + r0 * kvd, v: vb.baseAddress! + r0 * kvd)
                    } }
                    sp.cache.k[l].withUnsafeBufferPointer { kc in sp.cache.v[l].withUnsafeBufferPointer { vc in
                        // Cache row r holds position r; new row j holds pos[j] and sees rows of its own segment.
                        // One segment continuing the cache at position P, with no window it could
                        // pass: row i sees exactly the first P + i + 1 keys (prefill and decoding).
                        let causal = seg.allSatisfy { $0 == seg.first } && pos.enumerated().allSatisfy { $0.element == P + $0.offset }
                            && (window ?? Int.max) >= P + Ts
                        attendSpan(qb.baseAddress! + r0 * c.qDim, kc.baseAddress!, vc.baseAddress!, kvRow: c.headDim,
                                   kvHead: sp.cache.headStride, rows: Ts, keys: P + Ts, probs: pp,
                                   out: ab.baseAddress! + r0 * c.qDim, causal: causal) { i, r in
                            let pi = pos[i], kp: Int
                            if r < P { kp = r } else {
                                let j = r - P
                                guard seg[j] == seg[i] else { return false }
                                kp = pos[j]
                            }
                            guard kp <= pi else { return false }
                            if let w = window, pi - kp >= w { return false }
                            return true
                        }
                    } }
                }
                // Prompts being prefilled run one after another, each with every BLAS thread; the
                // sequences being decoded (a row each, attention bound by reading their caches)
                // are spread over the cores, each with single-threaded BLAS and its own scores.
                let decoding = spans.indices.filter { spans[$0].count <= Transformer.decodeRows }
                Profile.time("attn.prefill") { for si in spans.indices where spans[si].count > Transformer.decodeRows { run(si, pbase) } }
                let threads = BLAS.threads
                Profile.time("attn.decode") {
                    if decoding.count > 1 && threads > 1 {
                        BLAS.threads = 1
                        defer { BLAS.threads = threads }
                        DispatchQueue.concurrentPerform(iterations: min(threads, decoding.count)) { t in
                            for idx in stride(from: t, to: decoding.count, by: threads) { run(decoding[idx], pbase + t * c.heads * decodeArea) }
                        }
                    } else {
                        for si in decoding { run(si, pbase) }
                    }
                }
            }
        } } }
        return (attn, record ? probs : [])   // recording: one packed sequence, so exactly [heads, T, T]
    }

    /// Attention of `rows` queries (row stride qDim) over `keys` keys and values that `visible(i, j)`
    /// allows; writes every head's output into `out` (stride qDim) and the probabilities into
    /// `probs` [heads, rows, keys]. Key/value head g's row j is at `g · kvHead + j · kvRow` in `k`
    /// and `v`: row-major projections (kvRow kvDim, kvHead headDim) or a head-major KV cache
    /// (kvRow headDim). `causal`: the caller knows that row i sees exactly the first
    /// keys − rows + i + 1 keys, and `visible` is not asked.
    func attendSpan(_ q: UnsafePointer<Float>, _ k: UnsafePointer<Float>, _ v: UnsafePointer<Float>, kvRow: Int, kvHead: Int,
                    rows Ts: Int, keys L: Int,
                    probs pbase: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>, causal: Bool = false,
                    visible: (Int, Int) -> Bool) {
        let c = config, hd = c.headDim, group = c.heads / c.kvHeads
        let scale = 1 / c.queryPreAttnScalar.squareRoot()
        // What each query sees, worked out once for all heads. `span[i]`: keys past the last visible
        // one (causal: at most i + 1) get probability 0 directly. `mask`, only where some key before
        // that is hidden (other segments, a sliding window): 0 where visible, −∞ where not.
        var span = [Int](repeating: 0, count: Ts), mask: [Float] = []
        if causal {
            for i in 0..<Ts { span[i] = L - Ts + i + 1 }
        } else {
            Profile.time("mask") {
                mask = [Float](repeating: 0, count: Ts * L)
                var holes = false
                for i in 0..<Ts {
                    var hiddenBefore = false
                    for j in 0..<L {
                        if visible(i, j) { span[i] = j + 1; holes = holes || hiddenBefore } else { mask[i * L + j] = -.infinity; hiddenBefore = true }
                    }
                }
                if !holes { mask = [] }
            }
        }
        // `pbase` [heads, Ts, L] is written in full below: each row's visible span by the softmax, the rest set to 0.
        mask.withUnsafeBufferPointer { mb in
            /// Adds row i's mask to its scores (nothing when no key before its span is hidden).
            func applyMask(_ row: UnsafeMutablePointer<Float>, _ i: Int, _ n: Int) {
                guard let m = mb.baseAddress, !mb.isEmpty else { return }
                for j in 0..<n { row[j] += m[i * L + j] }
            }
            if Ts <= Transformer.decodeRows {
                // Decoding: a row or two per sequence. Every query head meets a block of keys (then
                // values) while it is in cache, so the sequence's cache is read once, not once per
                // head: by our own kernels where the CPU has AVX-512 (sgemm would first copy the
                // keys into its packed layout), else by two small GEMMs per key/value head (its
                // query heads together: Qwen, 7). Head h's scores for query i are row (h·Ts + i) of
                // `pbase`, as below.
                for i in 0..<Ts {
                    let n = span[i], S = pbase + i * L, qi = q + i * c.qDim, oi = out + i * c.qDim
                    if Transformer.ownAttention {
                        aft_f32_attention_scores(c.heads, group, hd, n, qi, hd, k, kvRow, kvHead, scale, S, Ts * L)
                    } else {
                        for g in 0..<c.kvHeads {
                            BLAS.gemm(qi + g * group * hd, lda: hd, k + g * kvHead, ldb: kvRow, transB: true,
                                      S + g * group * Ts * L, ldc: Ts * L, m: group, n: n, k: hd, alpha: scale)
                        }
                    }
                    for h in 0..<c.heads {
                        let row = S + h * Ts * L
                        applyMask(row, i, n)
                        Kernels.softmax(row, n)
                        (row + n).update(repeating: 0, count: L - n)
                    }
                    if Transformer.ownAttention {
                        aft_f32_attention_mix(c.heads, group, hd, n, S, Ts * L, v, kvRow, kvHead, oi, hd)
                    } else {
                        for g in 0..<c.kvHeads {
                            BLAS.gemm(S + g * group * Ts * L, lda: Ts * L, v + g * kvHead, ldb: kvRow, transB: false,
                                      oi + g * group * hd, ldc: hd, m: group, n: hd, k: n)
                        }
                    }
                }
                return
            }
            // Prefill and scoring: per head, in blocks of query rows, each block multiplying only the
            // keys its rows can see (causal attention: about half the square). The (head, block)
            // pairs are spread over the cores by a `WorkPool`, taken in turn so no core waits while
            // another has two left (SmolLM2's 9 heads would split 5 : 4 by heads), each with
            // single-threaded BLAS (small GEMMs scale better side by side, and OpenBLAS's own
            // threads would spin between them) until the last pair, which gets them all.
            // Where the CPU has AVX-512, by our own register-blocked kernels, which also stop each
            // tile of 6 rows at the keys its last row sees (`aft_f32_block_scores`/`_mix`, over keys
            // packed once per key/value head); else by two sgemm calls per block.
            let blockRows = Transformer.attentionBlockRows, perHead = (Ts + blockRows - 1) / blockRows
            let own = Transformer.ownAttention && hd % 16 == 0, panelFloats = (L + 31) / 32 * 32 * hd
            var packedKeys: [Float] = []
            if own {
                packedKeys = Kernels.filled(c.kvHeads * panelFloats) { kp in
                    for g in 0..<c.kvHeads { aft_f32_pack_keys(L, hd, k + g * kvHead, kvRow, kp + g * panelFloats) }
                }
            }
            span.withUnsafeBufferPointer { sb in packedKeys.withUnsafeBufferPointer { kpb in
            func attendBlock(_ item: Int) {
                let head = item / perHead, g = head / group, P = pbase + head * Ts * L
                let i0 = item % perHead * blockRows, i1 = min(Ts, i0 + blockRows), rows = i1 - i0
                let keys = span[i0..<i1].max() ?? 0
                let qb = q + i0 * c.qDim + head * hd, ob = out + i0 * c.qDim + head * hd
                if own {
                    aft_f32_block_scores(rows, hd, qb, c.qDim, kpb.baseAddress! + g * panelFloats, sb.baseAddress! + i0, scale, P + i0 * L, L)
                } else if keys > 0 {
                    BLAS.gemm(qb, lda: c.qDim, k + g * kvHead, ldb: kvRow, transB: true, P + i0 * L, ldc: L, m: rows, n: keys, k: hd, alpha: scale)
                }
                for i in i0..<i1 {
                    let row = P + i * L, n = span[i]
                    applyMask(row, i, n)
                    Kernels.softmax(row, n)
                    (row + n).update(repeating: 0, count: L - n)
                }
                if own {
                    aft_f32_block_mix(rows, hd, P + i0 * L, L, sb.baseAddress! + i0, v + g * kvHead, kvRow, ob, c.qDim)
                } else if keys > 0 {
                    BLAS.gemm(P + i0 * L, lda: L, v + g * kvHead, ldb: kvRow, transB: false, ob, ldc: c.qDim, m: rows, n: hd, k: keys)
                } else {
                    for i in i0..<i1 { (ob + i * c.qDim).update(repeating: 0, count: hd) }
                }
            }
            let items = c.heads * perHead, threads = BLAS.threads
            if threads > 1 && items > 1 && Ts * L >= 1 << 14 {
                _ = WorkPool(workers: threads).map(items) { item, _ in attendBlock(item) }
            } else {
                for item in 0..<items { attendBlock(item) }
            }
            } }
        }
    }
}

/// Activations of one block saved for the backward pass (all row-major, T rows).
struct BlockTape {
    var x: [Float]          // block input [T, d]
    var h1: [Float]         // input norm output [T, d]
    var qPre: [Float]       // q after projection (and q-norm input) [T, qDim]
    var kPre: [Float]       // k after projection [T, kvDim]
    var q: [Float]          // q after q-norm and RoPE [T, qDim]
    var k: [Float]          // k after k-norm and RoPE [T, kvDim]
    var v: [Float]          // [T, kvDim]
    var probs: [Float]      // softmax(QKᵀ) per head [heads, T, T]
    var attn: [Float]       // concatenated head outputs [T, qDim]
    var o: [Float]          // attention output projection [T, d]
    var x1: [Float]         // residual after attention [T, d] (parallel layouts: unused)
    var h2: [Float]         // MLP input (normed) [T, d]
    var a: [Float]          // up projection (the activation's input for plain MLPs) [T, ffn]
    var g: [Float]          // gate projection [T, ffn] (gated MLPs)
    var m: [Float]          // MLP output before any post norm [T, d]
}
