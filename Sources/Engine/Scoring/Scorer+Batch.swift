import Foundation

extension Scorer {
    /// Scores `items` on the context's workers (packed groups of items, single-threaded BLAS each)
    /// as they finish; `onChunk` receives each finished group's scores, in item order.
    ///
    /// The context's stop is polled before each group: work stops early and the finished items are kept.
    /// Returns the scores of all finished items, in order.
    public func scoreAll(_ items: [MCItem], context: RunContext = RunContext(), hook: Transformer.ResidualHook? = nil,
                         onChunk: ([ItemScore]) -> Void = { _ in }) -> [ItemScore] {
        inGroups(items, context: context, onChunk: onChunk) { scoreBatch($0, seqs: $1, hook: hook) }
    }

    /// Base and steered scores of `items` (vector `v` added after block `layer`), sharing blocks
    /// 0…layer between the two; same workers, chunks and stopping as `scoreAll`.
    public func scorePairs(_ items: [MCItem], layer: Int, vector v: [Float], context: RunContext = RunContext()) -> [(base: ItemScore, steered: ItemScore)] {
        inGroups(items, context: context, onChunk: { _ in }) { scoreBatchPair($0, seqs: $1, layer: layer, vector: v) }
    }

    /// Runs `batch` over packed groups of `items` on the context's workers; results come back in item order.
    ///
    /// Workers take the next group from one shared queue (groups are packed lazily, in item order),
    /// so no worker waits for another until the items run out. `onChunk` receives each group's
    /// results once every earlier group is done, serialized, from whichever thread finished it.
    /// The stop is polled before each group; a stop keeps the finished in-order prefix only.
    func inGroups<R>(_ items: [MCItem], context: RunContext, onChunk: ([R]) -> Void,
                     _ batch: ([MCItem], [PackedSequence]) -> [R]) -> [R] {
        // Items are packed into groups of about `tokensPerPass` tokens; each worker runs one group per pass.
        let tokensPerPass = 512
        var queue = GroupQueue(items, maxTokens: tokensPerPass) { self.packed($0) }
        return context.pool.run(next: { queue.next() }, shouldStop: context.shouldStop, onResult: { _, r in onChunk(r) }) { g, _, _ in
            batch(g.items, g.seqs)
        }.flatMap { $0 }
    }
}

/// Packs items, in order, into consecutive groups of at most `maxTokens` packed tokens (at least
/// one item each), tokenizing each item only when its group is taken.
struct GroupQueue {
    let items: [MCItem], maxTokens: Int, pack: (MCItem) -> PackedSequence
    private var nextItem = 0, lookahead: PackedSequence? = nil

    init(_ items: [MCItem], maxTokens: Int, pack: @escaping (MCItem) -> PackedSequence) {
        self.items = items; self.maxTokens = maxTokens; self.pack = pack
    }

    /// The next group and its packed sequences; nil when every item has been taken.
    mutating func next() -> (items: [MCItem], seqs: [PackedSequence])? {
        guard nextItem < items.count else { return nil }
        var its: [MCItem] = [], seqs: [PackedSequence] = [], n = 0
        while nextItem < items.count {
            let p = lookahead ?? pack(items[nextItem])
            if !its.isEmpty && n + p.count > maxTokens { lookahead = p; break }
            lookahead = nil
            its.append(items[nextItem]); seqs.append(p); n += p.count; nextItem += 1
        }
        return (its, seqs)
    }
}
