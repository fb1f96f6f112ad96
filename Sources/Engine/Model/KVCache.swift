/// Per-layer key/value rows of tokens already run, so a shared context is computed once.
///
/// Each layer's K (and V) is head-major: key/value head g's rows are one contiguous block
/// [capacity, headDim] at `g * headStride`, row r the token at absolute position r. Decoding reads
/// every row of a head's block front to back, one plain stream (row-major [capacity, kvDim] had
/// each head read 256 bytes out of every row, which the prefetchers followed at a third of the
/// memory bandwidth).
/// `copy()` shares the rows until either side writes (a prompt prefix run once for many sequences).
public final class KVCache {
    let layers: Int, kvHeads: Int, headDim: Int
    var k: [[Float]], v: [[Float]]
    public private(set) var length = 0
    private(set) var capacity = 0
    /// Rows this cache will ever hold, when known (a prompt plus its new tokens): growth stops there.
    var maxRows: Int?

    /// Floats from one key/value head's block to the next in `k[l]` and `v[l]`.
    var headStride: Int { capacity * headDim }

    /// Bytes of K and V one token takes over all layers (f32).
    static func bytesPerRow(_ config: ModelConfig) -> Int { 2 * config.layers * config.kvDim * 4 }

    public init(config: ModelConfig) {
        layers = config.layers; kvHeads = config.kvHeads; headDim = config.headDim
        k = Array(repeating: [], count: layers); v = Array(repeating: [], count: layers)
    }

    /// Room for `n` rows; every row of the old capacity keeps its values (each head's block moves to
    /// its new place), written or not yet committed.
    func reserve(_ n: Int) {
        guard n > capacity else { return }
        // Geometric growth (a quarter more each time), not past `maxRows`.
        let cap = max(n, min(capacity + capacity / 4 + 64, maxRows ?? .max))
        func grown(_ a: [Float]) -> [Float] {
            var b = [Float](repeating: 0, count: kvHeads * cap * headDim)
            let held = capacity * headDim
            guard held > 0 else { return b }
            a.withUnsafeBufferPointer { src in b.withUnsafeMutableBufferPointer { dst in
                for g in 0..<kvHeads {
                    (dst.baseAddress! + g * cap * headDim).update(from: src.baseAddress! + g * capacity * headDim, count: held)
                }
            } }
            return b
        }
        for l in 0..<layers { k[l] = grown(k[l]); v[l] = grown(v[l]) }
        capacity = cap
    }

    /// Writes `rows` rows of K and V, each [kvDim] (row-major, head g at column g · headDim), into
    /// layer l's rows `first..<first + rows` (within the capacity).
    func write(layer l: Int, first: Int, rows: Int, k kNew: UnsafePointer<Float>, v vNew: UnsafePointer<Float>) {
        let hd = headDim, kvDim = kvHeads * hd, stride = headStride
        precondition(first + rows <= capacity, "KV cache rows \(first)..<\(first + rows) past its capacity \(capacity)")
        func scatter(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>) {
            for g in 0..<kvHeads {
                let block = dst + g * stride + first * hd
                for r in 0..<rows { (block + r * hd).update(from: src + r * kvDim + g * hd, count: hd) }
            }
        }
        k[l].withUnsafeMutableBufferPointer { scatter(kNew, $0.baseAddress!) }
        v[l].withUnsafeMutableBufferPointer { scatter(vNew, $0.baseAddress!) }
    }

    func commit(_ n: Int) { length += n }

    /// A cache holding the same rows; the arrays are copied only when one of the two writes.
    public func copy() -> KVCache {
        let c = KVCache(layers: layers, kvHeads: kvHeads, headDim: headDim)
        c.k = k; c.v = v; c.length = length; c.capacity = capacity; c.maxRows = maxRows
        return c
    }

    private init(layers: Int, kvHeads: Int, headDim: Int) {
        self.layers = layers; self.kvHeads = kvHeads; self.headDim = headDim
        k = Array(repeating: [], count: layers); v = Array(repeating: [], count: layers)
    }
}
