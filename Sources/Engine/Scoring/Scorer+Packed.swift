import Foundation

extension Scorer {
    /// Scores several items in one forward pass: their packed sequences are stacked row-wise so
    /// every linear layer runs on all rows at once (attention stays within each item).
    /// Same log-likelihoods as `score(_:)`, with far better GEMM efficiency on short items.
    /// `seqs`: the items' packed sequences when already made (by `groups`), so they are not tokenized again.
    public func scoreBatch(_ items: [MCItem], seqs known: [PackedSequence]? = nil, hook: Transformer.ResidualHook? = nil) -> [ItemScore] {
        guard !items.isEmpty else { return [] }
        let tf = model.transformer
        let seqs = known ?? items.map { packed($0) }
        var x: [Float] = []
        for s in seqs { x += tf.embed(s) }
        x = run(x, seqs, layers: 0..<tf.config.layers, hook: hook, scoring: true)
        return headScores(x, items, seqs)
    }

    /// Base and steered scores of the same items in one pass: blocks 0…`layer` run once, then the
    /// stream is copied, `v` is added to the copy at every position, and both continue to the head.
    /// Equal to `scoreBatch` without and with the steering hook; the shared part is computed once.
    public func scoreBatchPair(_ items: [MCItem], seqs known: [PackedSequence]? = nil, layer: Int,
                               vector v: [Float]) -> [(base: ItemScore, steered: ItemScore)] {
        scoreBatchSets(items, seqs: known, sets: [[], [(layer, v)]]).map { ($0[0], $0[1]) }
    }

    /// Blocks `layers` over the stacked rows of `seqs` (the hook, if any, after each block).
    /// `scoring`: the model's last block, if in `layers`, keeps only the scored rows (`block`).
    func run(_ x: [Float], _ seqs: [PackedSequence], layers: Range<Int>, hook: Transformer.ResidualHook?, scoring: Bool = false) -> [Float] {
        let tf = model.transformer
        var x = x
        for l in layers {
            x = scoring ? block(l, x, seqs) : tf.blockForward(l, x, seqs, record: false).0
            let T = x.count / tf.config.hidden
            if let hook = hook { x.withUnsafeMutableBufferPointer { hook(l, $0.baseAddress!, T) } }
        }
        return x
    }

    /// Block `l` of a scoring pass over the stacked rows of `seqs`: the model's last block carries
    /// only the scored rows (`headRows`) past attention, so its output has those rows alone.
    func block(_ l: Int, _ x: [Float], _ seqs: [PackedSequence]) -> [Float] {
        let tf = model.transformer
        return tf.blockForward(l, x, seqs, record: false, keepRows: l == tf.config.layers - 1 ? headRows(seqs) : nil).0
    }

    /// Rows of the stacked sequences that predict a scored token, ascending.
    public func headRows(_ seqs: [PackedSequence]) -> [Int] {
        var rows = Set<Int>(), r0 = 0
        for s in seqs {
            for tg in s.targets { for (r, _) in tg { rows.insert(r0 + r) } }
            r0 += s.count
        }
        return rows.sorted()
    }

    /// Final norm, log-probabilities of the scored rows only, and each item's per-choice log-likelihoods.
    /// `x`: the last block's output over all rows of `seqs`, or over their `headRows` only.
    func headScores(_ x: [Float], _ items: [MCItem], _ seqs: [PackedSequence]) -> [ItemScore] {
        let tf = model.transformer, d = tf.config.hidden, T = x.count / d
        let hidden = tf.normed(tf.finalNorm, x, rows: T, d: d)
        // `x` holds every row, or only the scored ones (after `block`'s last block).
        var at: [Int: Int]? = nil
        if T != seqs.reduce(0, { $0 + $1.count }) {
            at = [:]
            for (i, r) in headRows(seqs).enumerated() { at?[r] = i }
        }
        var pairs: [(row: Int, token: Int)] = []
        var r0 = 0
        for s in seqs {
            for tg in s.targets { for (r, tok) in tg { pairs.append((at.map { $0[r0 + r] ?? 0 } ?? r0 + r, tok)) } }
            r0 += s.count
        }
        let (lp, isMax) = tf.logProbsAndGreedy(hidden: hidden, pairs: pairs)
        var out: [ItemScore] = [], k = 0
        for (it, s) in zip(items, seqs) {
            var ll = [Double](repeating: 0, count: s.targets.count), greedy = [Bool](repeating: true, count: s.targets.count)
            for (ci, tg) in s.targets.enumerated() { for _ in tg { ll[ci] += lp[k]; greedy[ci] = greedy[ci] && isMax[k]; k += 1 } }
            out.append(ItemScore(doc: it.doc, gold: it.gold, ll: ll, choiceChars: it.choiceChars, greedy: greedy))
        }
        return out
    }

    /// Splits items into consecutive groups of at most `maxTokens` packed tokens (at least one item
    /// each), with their packed sequences: the groups `scoreAll` hands to its workers.
    public func groups(_ items: [MCItem], maxTokens: Int) -> [(items: [MCItem], seqs: [PackedSequence])] {
        var q = GroupQueue(items, maxTokens: maxTokens) { self.packed($0) }
        var out: [(items: [MCItem], seqs: [PackedSequence])] = []
        while let g = q.next() { out.append(g) }
        return out
    }
}
