import Foundation

extension Scorer {
    /// Scores `items` on `workers` threads (packed groups of items, single-threaded BLAS each)
    /// as they finish; `onChunk` receives each finished group's scores, in item order.
    ///
    /// `shouldStop` is polled before each group: work stops early and the finished items are kept.
    /// Returns the scores of all finished items, in order.
    public func scoreAll(_ items: [MCItem], workers: Int = ProcessInfo.processInfo.activeProcessorCount, hook: Transformer.ResidualHook? = nil,
                         shouldStop: () -> Bool = { false }, onChunk: ([ItemScore]) -> Void = { _ in }) -> [ItemScore] {
        inGroups(items, workers: workers, shouldStop: shouldStop, onChunk: onChunk) { scoreBatch($0, seqs: $1, hook: hook) }
    }

    /// Base and steered scores of `items` (vector `v` added after block `layer`), sharing blocks
    /// 0…layer between the two; same workers, chunks and stopping as `scoreAll`.
    public func scorePairs(_ items: [MCItem], layer: Int, vector v: [Float], workers: Int = ProcessInfo.processInfo.activeProcessorCount,
                           shouldStop: () -> Bool = { false }) -> [(base: ItemScore, steered: ItemScore)] {
        inGroups(items, workers: workers, shouldStop: shouldStop, onChunk: { _ in }) { scoreBatchPair($0, seqs: $1, layer: layer, vector: v) }
    }

    /// Runs `batch` over packed groups of `items` on `workers` threads; results come back in item order.
    ///
    /// Workers take the next group from one shared queue (groups are packed lazily, in item order),
    /// so no worker waits for another until the items run out. `onChunk` receives each group's
    /// results once every earlier group is done, serialized, from whichever thread finished it.
    /// `shouldStop` is polled before each group; a stop keeps the finished in-order prefix only.
    func inGroups<R>(_ items: [MCItem], workers: Int, shouldStop: () -> Bool, onChunk: ([R]) -> Void,
                     _ batch: ([MCItem], [PackedSequence]) -> [R]) -> [R] {
        let w = max(1, workers)
        let savedThreads = BLAS.threads
        if w > 1 { BLAS.threads = 1 }
        defer { if w > 1 { BLAS.threads = savedThreads } }
        // Items are packed into groups of about `tokensPerPass` tokens; each worker runs one group
        // per pass with single-threaded BLAS.
        let tokensPerPass = 512
        let lock = NSLock()
        var queue = GroupQueue(items, maxTokens: tokensPerPass) { self.packed($0) }
        var nextGroup = 0, delivered = 0, stop = false, active = w
        var finished: [Int: [R]] = [:]
        var all: [R] = []
        DispatchQueue.concurrentPerform(iterations: w) { _ in
            while true {
                lock.lock()
                if !stop && shouldStop() { stop = true }
                guard !stop, let (gItems, gSeqs) = queue.next() else {
                    // No group left for this worker: the last one still running gets every BLAS
                    // thread for its remaining layers instead of finishing on one core.
                    active -= 1
                    if active == 1 && w > 1 && savedThreads > 1 { BLAS.threads = savedThreads }
                    lock.unlock(); return
                }
                let index = nextGroup
                nextGroup += 1
                lock.unlock()
                let r = batch(gItems, gSeqs)
                lock.lock()
                finished[index] = r
                while let done = finished.removeValue(forKey: delivered) {
                    all += done
                    delivered += 1
                    onChunk(done)
                }
                lock.unlock()
            }
        }
        return all
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
