/// The BPE merge loop: repeatedly merges the adjacent pair of lowest rank (leftmost on ties).
///
/// `rank(a, b)` returns the pair's (rank, merged id) or nil if the pair never merges.
/// Uses a binary heap with lazy invalidation, O(n log n) in the word length.
func bpeMerge(_ symbols: [Int], rank: (Int, Int) -> (Int, Int)?) -> [Int] {
    let n = symbols.count
    if n < 2 { return symbols }
    var sym = symbols
    var prev = Array(-1..<(n - 1)), next = Array(1...n)
    next[n - 1] = -1
    var alive = [Bool](repeating: true, count: n)
    // Heap of (rank, position, left id, right id); stale entries are skipped when popped.
    var heap: [(Int, Int, Int, Int)] = []
    func less(_ x: (Int, Int, Int, Int), _ y: (Int, Int, Int, Int)) -> Bool { x.0 < y.0 || (x.0 == y.0 && x.1 < y.1) }
    func push(_ e: (Int, Int, Int, Int)) {
        heap.append(e)
        var k = heap.count - 1
        while k > 0 { let p = (k - 1) / 2; if less(heap[k], heap[p]) { heap.swapAt(k, p); k = p } else { break } }
    }
    func pop() -> (Int, Int, Int, Int) {
        let top = heap[0]
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            var k = 0
            while true {
                let l = 2 * k + 1, r = l + 1
                var m = k
                if l < heap.count && less(heap[l], heap[m]) { m = l }
                if r < heap.count && less(heap[r], heap[m]) { m = r }
                if m == k { break }
                heap.swapAt(k, m); k = m
            }
        }
        return top
    }
    for i in 0..<(n - 1) { if let (r, _) = rank(sym[i], sym[i + 1]) { push((r, i, sym[i], sym[i + 1])) } }
    while !heap.isEmpty {
        let (_, i, a, b) = pop()
        let j = next[i]
        guard alive[i], j >= 0, sym[i] == a, sym[j] == b, let (_, merged) = rank(a, b) else { continue }
        sym[i] = merged
        alive[j] = false
        next[i] = next[j]
        if next[j] >= 0 { prev[next[j]] = i }
        if prev[i] >= 0, let (r, _) = rank(sym[prev[i]], merged) { push((r, prev[i], sym[prev[i]], merged)) }
        if next[i] >= 0, let (r, _) = rank(merged, sym[next[i]]) { push((r, i, merged, sym[next[i]])) }
    }
    var out: [Int] = []
    var i = 0
    while i >= 0 { out.append(sym[i]); i = next[i] }
    return out
}
