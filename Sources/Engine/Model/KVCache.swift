/// Per-layer key/value rows of tokens already run, so a shared context is computed once.
///
/// Row r of layer l holds K and V ([kvDim] each) of the token at absolute position r.
/// `copy()` shares the rows until either side writes (a prompt prefix run once for many sequences).
public final class KVCache {
    let layers: Int, kvDim: Int
    var k: [[Float]], v: [[Float]]
    public private(set) var length = 0
    var capacity = 0

    public init(config: ModelConfig) {
        layers = config.layers; kvDim = config.kvDim
        k = Array(repeating: [], count: layers); v = Array(repeating: [], count: layers)
    }

    func reserve(_ n: Int) {
        guard n > capacity else { return }
        let cap = max(n, capacity * 2, 64)
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
        c.k = k; c.v = v; c.length = length; c.capacity = capacity
        return c
    }

    private init(layers: Int, kvDim: Int) {
        self.layers = layers; self.kvDim = kvDim
        k = Array(repeating: [], count: layers); v = Array(repeating: [], count: layers)
    }
}
