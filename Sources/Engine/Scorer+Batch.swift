import Foundation

extension Scorer {
    /// Scores `items` on `workers` threads (packed groups of items, single-threaded BLAS each),
    /// in chunks; `onChunk` receives each finished chunk in item order.
    ///
    /// `shouldStop` is polled before each item: work stops early and finished items are kept.
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

    /// Runs `batch` over packed groups of `items` on `workers` threads, chunk by chunk, in item order.
    func inGroups<R>(_ items: [MCItem], workers: Int, shouldStop: () -> Bool, onChunk: ([R]) -> Void,
                     _ batch: ([MCItem], [PackedSequence]) -> [R]) -> [R] {
        let w = max(1, workers)
        let savedThreads = BLAS.threads
        if w > 1 { BLAS.threads = 1 }
        defer { if w > 1 { BLAS.threads = savedThreads } }
        var all: [R] = []
        // Items are packed into groups of about `tokensPerPass` tokens; each worker runs one group
        // per pass with single-threaded BLAS.
        let tokensPerPass = 320
        let chunk = max(w * 6, 12)
        var start = 0
        while start < items.count && !shouldStop() {
            let part = Array(items[start..<min(items.count, start + chunk)])
            let gs = groups(part, maxTokens: tokensPerPass)
            var results = [[R]?](repeating: nil, count: gs.count)
            let lock = NSLock()
            var next = 0
            var stop = false
            DispatchQueue.concurrentPerform(iterations: min(w, gs.count)) { _ in
                while true {
                    lock.lock()
                    if stop || next >= gs.count { lock.unlock(); return }
                    let i = next; next += 1
                    lock.unlock()
                    let r = batch(gs[i].items, gs[i].seqs)
                    lock.lock(); results[i] = r; lock.unlock()
                    if shouldStop() { lock.lock(); stop = true; lock.unlock() }
                }
            }
            // Keep the finished prefix in order (groups past a stop are dropped, not half-kept).
            var done: [R] = []
            var complete = true
            for r in results { guard let r = r else { complete = false; break }; done += r }
            all += done
            onChunk(done)
            if !complete { break }
            start += part.count
        }
        return all
    }
}
