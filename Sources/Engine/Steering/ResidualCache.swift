import Foundation

/// Residual streams of items after chosen blocks, computed once and stored as f16.
///
/// Activations below the steered layer do not depend on the steering vector, so training at
/// layer L, every epoch and every seed reuse these. Size: Σ tokens × hidden × layers × 2 bytes,
/// in memory or, with `spillDirectory`, in a memory-mapped scratch file there.
public final class ResidualCache {
    public let layers: [Int]
    let seqs: [PackedSequence]
    let hidden: Int
    /// Item i's slot s (T_i × hidden values) starts at offsets[i] + s · T_i · hidden.
    let storage: HalfStorage
    let offsets: [Int]
    /// Mean ‖residual‖ over all positions of all items, per layer slot.
    public private(set) var meanNorm: [Double]

    public var bytes: Int { storage.bytes }
    /// Whether the cache lives in a scratch file rather than in memory.
    public var onDisk: Bool { storage.diskPath != nil }

    /// Bytes needed to cache `layers.count` layers of these sequences.
    public static func estimate(_ seqs: [PackedSequence], hidden: Int, layers: Int) -> Int {
        seqs.reduce(0) { $0 + $1.count } * hidden * layers * 2
    }

    /// Runs every sequence up to the highest requested layer, one per worker of `context`; a stop
    /// request throws `Cancelled` (a partial cache is of no use).
    ///
    /// `atTop(i, x)` receives item i's f32 residual after the highest cached layer, on the worker's
    /// thread, so that the rest of a forward pass (e.g. base-model scores) can start from it instead
    /// of being recomputed from the embeddings.
    public init(model tf: Transformer, seqs: [PackedSequence], layers: [Int], context: RunContext, spillDirectory: String? = nil,
                atTop: ((Int, [Float]) -> Void)? = nil,
                progress: (Int) -> Void = { _ in }) throws {
        self.layers = layers.sorted(); self.seqs = seqs; hidden = tf.config.hidden
        var off: [Int] = [], total = 0
        for s in seqs { off.append(total); total += s.count * tf.config.hidden * layers.count }
        offsets = off
        storage = try HalfStorage(count: total, spillDirectory: spillDirectory)
        let base = storage.pointer, offs = off
        meanNorm = Array(repeating: 0, count: layers.count)
        var normSum = [Double](repeating: 0, count: layers.count), rows = 0
        let wanted = self.layers
        let done = context.pool.map(seqs.count, shouldStop: context.shouldStop, onResult: { i, norms in
            for k in norms.indices { normSum[k] += norms[k] }
            rows += seqs[i].count
            progress(i + 1)
        }) { i, _ -> [Double] in
            var x = tf.embed(seqs[i])
            let n = seqs[i].count * tf.config.hidden
            var norms = [Double](repeating: 0, count: wanted.count)
            var layer = 0, slot = 0
            while slot < wanted.count {
                if wanted[slot] >= 0 {
                    while layer <= wanted[slot] { x = tf.blockForward(layer, x, seqs[i], record: false).0; layer += 1 }
                }
                let dst = base + offs[i] + slot * n
                for j in 0..<n { dst[j] = floatToHalf(x[j]) }
                norms[slot] += rowNormSum(x, rows: 0..<seqs[i].count, width: tf.config.hidden)
                slot += 1
            }
            atTop?(i, x)
            return norms
        }
        if done.count < seqs.count { throw Cancelled("caching residuals") }
        meanNorm = normSum.map { $0 / Double(max(rows, 1)) }
    }

    /// Residual after block `layer` for item `i` [T·hidden] as f32.
    public func residual(_ i: Int, layer: Int) -> [Float] {
        guard let slot = layers.firstIndex(of: layer) else { return [] }
        let n = seqs[i].count * hidden
        let src = storage.pointer + offsets[i] + slot * n
        return [Float](unsafeUninitializedCapacity: n) { buf, k in
            for j in 0..<n { buf[j] = halfToFloat(src[j]) }
            k = n
        }
    }

    public func meanResidualNorm(layer: Int) -> Double { layers.firstIndex(of: layer).map { meanNorm[$0] } ?? 0 }
}
