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
