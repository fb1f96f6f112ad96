/// An item as one sequence: the shared context (segment −1) followed by each choice's
/// continuation tokens (segment = choice index). A token sees earlier-positioned tokens of the
/// context and of its own segment, so one pass scores every choice.
public struct PackedSequence {
    public var tokens: [Int]
    public var positions: [Int]
    public var segments: [Int]
    /// Per choice: (row predicting each continuation token, that token).
    public var targets: [[(row: Int, token: Int)]]
    public var count: Int { tokens.count }

    /// Packs `ctx` and continuations: inputs are ctx + each continuation minus its last token.
    public init(context ctx: [Int], continuations: [[Int]]) {
        tokens = ctx; positions = Array(0..<ctx.count); segments = [Int](repeating: -1, count: ctx.count)
        targets = []
        for (c, cont) in continuations.enumerated() {
            var t: [(Int, Int)] = []
            for (k, tok) in cont.enumerated() {
                t.append((k == 0 ? ctx.count - 1 : tokens.count - 1, tok))
                if k < cont.count - 1 { tokens.append(tok); positions.append(ctx.count + k); segments.append(c) }
            }
            targets.append(t)
        }
    }

    @inline(__always) public func visible(_ i: Int, _ j: Int, window: Int?) -> Bool {
        let pj = positions[j], pi = positions[i]
        guard pj <= pi, segments[j] == -1 || segments[j] == segments[i] else { return false }
        if let w = window, pi - pj >= w { return false }
        return true
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
    var x1: [Float]         // residual after attention [T, d] (gpt_neox parallel: unused)
    var h2: [Float]         // MLP input (normed) [T, d]
    var a: [Float]          // up projection (pre-activation for gpt_neox) [T, ffn]
    var g: [Float]          // gate projection [T, ffn] (gated MLPs)
    var m: [Float]          // MLP output before any post norm [T, d]
}
