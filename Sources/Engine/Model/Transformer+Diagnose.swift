import Foundation

/// Where a forward pass first produced a NaN or an infinity.
public struct NonFinitePlace: CustomStringConvertible, Equatable {
    /// The stage: −1 the embeddings, 0..<layers a block's output (after any steering added there),
    /// `layers` the logits.
    public let layer: Int
    /// The token position [0, T) of the first non-finite value at that stage.
    public let position: Int
    public let value: Float
    public let layers: Int

    public var description: String {
        let stage = layer < 0 ? "the embeddings" : layer >= layers ? "the logits (after the final norm and head)" : "the output of block \(layer)"
        return "\(value) first appears in \(stage), at token \(position)"
    }
}

extension Transformer {
    /// Runs `tokens` [T] once, with `steering` (vectors after blocks 0…), checking the residual stream [T, hidden] after the
    /// embeddings and after every block, then the logits [T, vocab]: the first place a NaN or ±Inf
    /// appears, or nil when the pass is finite throughout.
    ///
    /// Scoring and training only look at their final numbers; when one of those is not finite this
    /// is run on the first such item to say where the arithmetic broke down.
    public func firstNonFinite(tokens: [Int], steering: SteeringSet = []) -> NonFinitePlace? {
        guard !tokens.isEmpty else { return nil }
        let d = config.hidden, T = tokens.count
        func scan(_ p: UnsafePointer<Float>, count: Int, width: Int, layer: Int) -> NonFinitePlace? {
            for i in 0..<count where !p[i].isFinite {
                return NonFinitePlace(layer: layer, position: i / width, value: p[i], layers: config.layers)
            }
            return nil
        }
        let emb = embed(tokens: tokens, positions: Array(0..<T))
        if let place = emb.withUnsafeBufferPointer({ scan($0.baseAddress!, count: $0.count, width: d, layer: -1) }) { return place }
        var found: NonFinitePlace?
        let cache = KVCache(config: config)
        let hidden = forward(tokens, cache: cache, hook: { l, x, rows in
            for (sl, v) in steering where sl == l { Kernels.addToRows(v, x, rows: rows) }
            if found == nil { found = scan(x, count: rows * d, width: d, layer: l) }
        })
        if let found { return found }
        let logits = logits(hidden: hidden, rows: Array(0..<T))
        return logits.withUnsafeBufferPointer { scan($0.baseAddress!, count: $0.count, width: logits.count / T, layer: config.layers) }
    }
}
