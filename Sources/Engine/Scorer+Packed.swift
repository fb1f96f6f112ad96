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
        x = run(x, seqs, layers: 0..<tf.config.layers, hook: hook)
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
    func run(_ x: [Float], _ seqs: [PackedSequence], layers: Range<Int>, hook: Transformer.ResidualHook?) -> [Float] {
        let tf = model.transformer
        var x = x
        let T = x.count / tf.config.hidden
        for l in layers {
            x = tf.blockForward(l, x, seqs, record: false).0
            if let hook = hook { x.withUnsafeMutableBufferPointer { hook(l, $0.baseAddress!, T) } }
        }
        return x
    }

    /// Final norm, logits of the scored rows only, and each item's per-choice log-likelihoods.
    func headScores(_ x: [Float], _ items: [MCItem], _ seqs: [PackedSequence]) -> [ItemScore] {
        let tf = model.transformer, d = tf.config.hidden, V = tf.config.vocabSize, T = x.count / d
        let hidden = tf.normed(tf.finalNorm, x, rows: T, d: d)
        var rows: [Int] = [], rowIndex: [Int: Int] = [:]
        var r0 = 0
        for s in seqs {
            for tg in s.targets { for (r, _) in tg where rowIndex[r0 + r] == nil { rowIndex[r0 + r] = rows.count; rows.append(r0 + r) } }
            r0 += s.count
        }
        let logits = tf.logits(hidden: hidden, rows: rows)
        let lse = Kernels.rowLogSumExps(logits, rows: rows.count, V)
        var out: [ItemScore] = []
        r0 = 0
        for (it, s) in zip(items, seqs) {
            var ll = [Double](repeating: 0, count: s.targets.count)
            for (ci, tg) in s.targets.enumerated() {
                for (r, tok) in tg { let ri = rowIndex[r0 + r]!; ll[ci] += Double(logits[ri * V + tok]) - lse[ri] }
            }
            out.append(ItemScore(doc: it.doc, gold: it.gold, ll: ll, choiceChars: it.choiceChars))
            r0 += s.count
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
