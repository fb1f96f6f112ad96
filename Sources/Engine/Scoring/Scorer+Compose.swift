import Foundation

extension Scorer {
    /// Scores items under several steering sets in one pass per group, sharing every block that
    /// sets agree on: all sets run together up to the first block where their additions differ,
    /// then branch (recursively), so each distinct prefix is computed once.
    /// Returns, per item, one score per set (in `sets` order); an empty set is the base model.
    /// Equal to `scoreBatch` with each set's hook.
    public func scoreBatchSets(_ items: [MCItem], seqs known: [PackedSequence]? = nil, sets: [SteeringSet]) -> [[ItemScore]] {
        guard !items.isEmpty, !sets.isEmpty else { return items.map { _ in [] } }
        let tf = model.transformer, n = tf.config.layers
        let seqs = known ?? items.map { packed($0) }
        var x: [Float] = []
        for s in seqs { x += tf.embed(s) }
        var perSet = [[ItemScore]](repeating: [], count: sets.count)
        /// `x`: the stream after block `from − 1` with every shared addition so far; `group`: set indices.
        func branch(_ x: [Float], from: Int, _ group: [Int]) {
            var x = x, l = from
            while true {
                // Partition the group by what each set adds after block l (−1: the embeddings).
                var parts: [[Int]] = []
                for i in group {
                    if let k = parts.firstIndex(where: { Scorer.sameAdditions(sets[$0[0]], sets[i], at: l) }) { parts[k].append(i) } else { parts.append([i]) }
                }
                if parts.count > 1 {
                    for p in parts { var y = x; Transformer.add(sets[p[0]], at: l, to: &y); resume(y, after: l, p) }
                    return
                }
                Transformer.add(sets[group[0]], at: l, to: &x)
                l += 1
                if l == n { break }
                x = block(l, x, seqs)
            }
            let scores = headScores(x, items, seqs)
            for i in group { perSet[i] = scores }
        }
        /// Continues a branch whose additions at block `from` are already applied.
        func resume(_ x: [Float], after from: Int, _ group: [Int]) {
            guard from + 1 < n else { let sc = headScores(x, items, seqs); for i in group { perSet[i] = sc }; return }
            branch(block(from + 1, x, seqs), from: from + 1, group)
        }
        branch(x, from: -1, Array(sets.indices))
        return items.indices.map { i in perSet.map { $0[i] } }
    }

    /// Whether two sets add the same vectors after block `layer`.
    static func sameAdditions(_ a: SteeringSet, _ b: SteeringSet, at layer: Int) -> Bool {
        let x = a.filter { $0.layer == layer }, y = b.filter { $0.layer == layer }
        return x.count == y.count && zip(x, y).allSatisfy { $0.values == $1.values }
    }

    /// `scoreBatchSets` over all `items` on the context's workers, chunked and stoppable like `scoreAll`.
    public func scoreSets(_ items: [MCItem], sets: [SteeringSet], context: RunContext = RunContext(),
                          onChunk: ([[ItemScore]]) -> Void = { _ in }) -> [[ItemScore]] {
        inGroups(items, context: context, onChunk: onChunk) { scoreBatchSets($0, seqs: $1, sets: sets) }
    }

    /// Each item's context as a feature: the residual stream after block `layer`, averaged over
    /// the context tokens (the first token, an attention sink, left out when there are others).
    /// Shape: [items][hidden]. Only the context runs, and only through blocks 0…`layer`.
    public func contextFeatures(_ items: [MCItem], layer: Int, context: RunContext = RunContext()) -> [[Float]] {
        let tf = model.transformer, d = tf.config.hidden
        let upTo = min(max(layer, -1), tf.config.layers - 1)
        var out: [[Float]] = []
        var start = 0
        while start < items.count && !context.shouldStop() {
            let part = items[start..<min(items.count, start + 16)]
            let seqs = part.map { PackedSequence(context: encodePair(context: $0.context, continuation: $0.continuations[0]).ctx, continuations: []) }
            var x: [Float] = []
            for s in seqs { x += tf.embed(s) }
            x = run(x, seqs, layers: 0..<(upTo + 1), hook: nil)
            var r0 = 0
            for s in seqs {
                let first = s.count > 1 ? 1 : 0
                var f = [Float](repeating: 0, count: d)
                for t in first..<s.count { for i in 0..<d { f[i] += x[(r0 + t) * d + i] } }
                let k = Float(s.count - first)
                out.append(f.map { $0 / k })
                r0 += s.count
            }
            start += part.count
        }
        return out
    }
}
