import Foundation

/// How kernels spread one piece of work over `BLAS.threads` threads: strided rows or contiguous bands.
extension Kernels {
    /// Runs `body(r)` for every r in 0..<rows, on two or more threads when BLAS may use them
    /// (the caller is the only worker) and there is enough work; otherwise inline.
    static func forRows(_ rows: Int, cost: Int, _ body: (Int) -> Void) {
        let threads = min(BLAS.threads, rows)
        guard threads > 1, rows * cost > 1 << 18 else { for r in 0..<rows { body(r) }; return }
        DispatchQueue.concurrentPerform(iterations: threads) { k in
            var r = k
            while r < rows { body(r); r += threads }
        }
    }

    /// Runs `body` on contiguous bands that tile 0..<total, side by side: at most `parts` bands
    /// (at least one), each a whole number of `align` steps long except the last. One band runs
    /// inline; an empty `total` runs nothing; no band is empty.
    static func forBands(_ total: Int, parts: Int, align: Int = 1, _ body: (Range<Int>) -> Void) {
        guard total > 0 else { return }
        let parts = max(1, parts), align = max(1, align)
        let chunk = ((total + parts - 1) / parts + align - 1) / align * align
        let bands = (total + chunk - 1) / chunk
        if bands == 1 { body(0..<total); return }
        DispatchQueue.concurrentPerform(iterations: bands) { t in body(t * chunk..<min(total, (t + 1) * chunk)) }
    }
}
