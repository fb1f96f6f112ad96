/// Per-layer key/value rows of tokens already run, so a shared context is computed once.
///
/// Row r of layer l holds K and V ([kvDim] each) of the token at absolute position r.
/// `copy()` shares the rows until either side writes (a prompt prefix run once for many sequences).
public final class KVCache {
    let layers: Int, kvDim: Int
    var k: [[Float]], v: [[Float]]
    public private(set) var length = 0
    var capacity = 0
    /// Rows this cache will ever hold, when known (a prompt plus its new tokens): growth stops there.
    var maxRows: Int?

    /// Bytes of K and V one token takes over all layers (f32).
    static func bytesPerRow(_ config: ModelConfig) -> Int { 2 * config.layers * config.kvDim * 4 }

    public init(config: ModelConfig) {
        layers = config.layers; kvDim = config.kvDim
        k = Array(repeating: [], count: layers); v = Array(repeating: [], count: layers)
    }

    func reserve(_ n: Int) {
        guard n > capacity else { return }
        // Geometric growth (a quarter more each time), not past `maxRows`.
        let cap = max(n, min(capacity + capacity / 4 + 64, maxRows ?? .max))
        for l in 0..<layers {
            k[l].append(contentsOf: [Float](repeating: 0, count: (cap - capacity) * kvDim))
            v[l].append(contentsOf: [Float](repeating: 0, count: (cap - capacity) * kvDim))
        }
        capacity = cap
    }

    func commit(_ n: Int) { length += n }

    /// A cache holding the same rows; the arrays are copied only when one of the two writes.
    public func copy() -> KVCache {
        let c = KVCache(layers: layers, kvDim: kvDim)
        c.k = k; c.v = v; c.length = length; c.capacity = capacity; c.maxRows = maxRows
        return c
    }

    private init(layers: Int, kvDim: Int) {
        self.layers = layers; self.kvDim = kvDim
        k = Array(repeating: [], count: layers); v = Array(repeating: [], count: layers)
    }
}
