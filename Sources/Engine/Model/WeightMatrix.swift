import Foundation

/// How a model keeps its weight matrices in memory.
public enum WeightMode: String, CaseIterable {
    /// Every weight dequantised to f32 at load (the fastest GEMMs; 4 bytes per parameter).
    case f32
    /// Each matrix kept as the file stores it (GGML blocks, f16, bf16) and dequantised into an f32
    /// scratch just before each GEMM; the scratch holds exactly what `f32` would hold, so results are
    /// bit-identical to `f32`.
    case compact
}

/// A weight matrix [rows, cols], row-major (Hugging Face layout: rows = output features):
/// dense f32, or packed as the file stores it, one row after another (GGML blocks run along a row).
public struct WeightMatrix {
    public let rows: Int, cols: Int
    enum Storage {
        case dense([Float])
        /// `bytes` holds `rows` rows of `rowBytes` bytes each, of element type `type`.
        case packed(type: GGMLType, bytes: [UInt8], rowBytes: Int)
    }
    let storage: Storage

    init(dense: [Float], rows: Int, cols: Int) { self.rows = rows; self.cols = cols; storage = .dense(dense) }
    init(packed bytes: [UInt8], type: GGMLType, rows: Int, cols: Int) {
        self.rows = rows; self.cols = cols
        storage = .packed(type: type, bytes: bytes, rowBytes: bytes.count / max(rows, 1))
    }

    public var isPacked: Bool { if case .packed = storage { return true }; return false }

    /// Bytes resident for this matrix.
    public var residentBytes: Int {
        switch storage { case .dense(let w): return w.count * 4; case .packed(_, let b, _): return b.count }
    }

    /// Rows `range` as f32 into `out` [range.count, cols]: the same values the f32 load produces.
    func dequantizeRows(_ range: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        switch storage {
        case .dense(let w):
            w.withUnsafeBufferPointer { out.update(from: $0.baseAddress! + range.lowerBound * cols, count: range.count * cols) }
        case .packed(let type, let bytes, let rowBytes):
            bytes.withUnsafeBytes { b in
                let n = range.count
                // Large spans use both cores (a panel of a big matrix); a row or two runs inline.
                let chunks = n * cols >= 1 << 16 ? max(1, min(BLAS.threads, n)) : 1
                let per = (n + chunks - 1) / chunks
                DispatchQueue.concurrentPerform(iterations: chunks) { c in
                    let r0 = c * per, r1 = min(n, r0 + per)
                    if r0 < r1 {
                        dequantizeBlockRun(type, b.baseAddress! + (range.lowerBound + r0) * rowBytes, out + r0 * cols,
                                           (r1 - r0) * cols / type.blockSize)
                    }
                }
            }
        }
    }

    /// Calls `body` with the matrix as f32 [rows, cols]: the dense array itself, or a scratch
    /// buffer it is dequantised into (returned to the pool afterwards).
    func withFloats<R>(_ body: (UnsafePointer<Float>) throws -> R) rethrows -> R {
        if case .dense(let w) = storage { return try w.withUnsafeBufferPointer { try body($0.baseAddress!) } }
        return try ScratchPool.shared.with(rows * cols) { s in
            dequantizeRows(0..<rows, into: s)
            return try body(UnsafePointer(s))
        }
    }

    /// Calls `body(first, rowsPointer, count)` for consecutive row panels of at most `panel` rows, as f32.
    func forEachPanel(_ panel: Int, _ body: (_ first: Int, _ rows: UnsafePointer<Float>, _ count: Int) throws -> Void) rethrows {
        if case .dense(let w) = storage {
            try w.withUnsafeBufferPointer { p in
                for r0 in stride(from: 0, to: rows, by: panel) { try body(r0, p.baseAddress! + r0 * cols, min(panel, rows - r0)) }
            }
            return
        }
        try ScratchPool.shared.with(min(panel, rows) * cols) { s in
            for r0 in stride(from: 0, to: rows, by: panel) {
                let n = min(panel, rows - r0)
                dequantizeRows(r0..<(r0 + n), into: s)
                try body(r0, UnsafePointer(s), n)
            }
        }
    }

    /// The whole matrix as an f32 array.
    public func floats() -> [Float] {
        if case .dense(let w) = storage { return w }
        return Kernels.filled(rows * cols) { dequantizeRows(0..<rows, into: $0) }
    }

    /// The matrix made of rows `order` (row i of the result is row order[i] of this one); packed rows move as bytes.
    func selectingRows(_ order: [Int]) -> WeightMatrix {
        switch storage {
        case .dense(let w):
            var out = [Float](repeating: 0, count: order.count * cols)
            for (i, r) in order.enumerated() { out.replaceSubrange(i * cols..<(i + 1) * cols, with: w[r * cols..<(r + 1) * cols]) }
            return WeightMatrix(dense: out, rows: order.count, cols: cols)
        case .packed(let type, let bytes, let rowBytes):
            var out = [UInt8](repeating: 0, count: order.count * rowBytes)
            for (i, r) in order.enumerated() { out.replaceSubrange(i * rowBytes..<(i + 1) * rowBytes, with: bytes[r * rowBytes..<(r + 1) * rowBytes]) }
            return WeightMatrix(packed: out, type: type, rows: order.count, cols: cols)
        }
    }
}

/// Reusable f32 scratch buffers for dequantised panels: each concurrent GEMM takes its own, so
/// two workers never share one, and a buffer is kept for the next call instead of reallocated.
final class ScratchPool {
    static let shared = ScratchPool()
    private let lock = NSLock()
    private var free: [(UnsafeMutablePointer<Float>, Int)] = []

    func with<R>(_ count: Int, _ body: (UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
        lock.lock()
        var buffer: (UnsafeMutablePointer<Float>, Int)
        if let i = free.firstIndex(where: { $0.1 >= count }) { buffer = free.remove(at: i) }
        else {
            // Too small ones are released: the pool keeps at most one buffer per concurrent user.
            if let i = free.indices.max(by: { free[$0].1 < free[$1].1 }) { let b = free.remove(at: i); b.0.deallocate() }
            buffer = (UnsafeMutablePointer<Float>.allocate(capacity: count), count)
        }
        lock.unlock()
        defer { lock.lock(); free.append(buffer); lock.unlock() }
        return try body(buffer.0)
    }

    /// Frees every pooled buffer (the model was released).
    func drain() { lock.lock(); for b in free { b.0.deallocate() }; free = []; lock.unlock() }
}
