import CDNNL
import Foundation

/// How a model keeps its weight matrices in memory.
public enum WeightMode: String, CaseIterable {
    /// Every weight dequantised to f32 at load (the fastest GEMMs; 4 bytes per parameter).
    case f32
    /// Each matrix kept as the file stores it (GGML blocks, f16, bf16) and dequantised into an f32
    /// scratch just before each GEMM; the scratch holds exactly what `f32` would hold, so results are
    /// bit-identical to `f32`.
    case compact
    /// Each matrix rounded to bf16 (2 bytes per parameter) and multiplied in bf16 with f32
    /// accumulation (`precision=bf16`); close to f32, not identical.
    case bf16
}

/// A weight matrix [rows, cols], row-major (Hugging Face layout: rows = output features):
/// dense f32, or packed as the file stores it, one row after another (GGML blocks run along a row).
public struct WeightMatrix {
    public let rows: Int, cols: Int
    enum Storage {
        case dense([Float])
        /// `bytes` holds `rows` rows of `rowBytes` bytes each, of element type `type`.
        case packed(type: GGMLType, bytes: PackedBytes, rowBytes: Int)
        /// bf16 [rows, cols], multiplied as bf16 (`BF16.gemm`), not dequantised for the GEMMs.
        case bf16(BF16Values)
    }
    let storage: Storage
    /// The packed f32 copy generation multiplies by (`packF32()`), once made.
    let prepared = PreparedWeights()

    private init(rows: Int, cols: Int, storage: Storage) { self.rows = rows; self.cols = cols; self.storage = storage }
    public init(dense: [Float], rows: Int, cols: Int) { self.rows = rows; self.cols = cols; storage = .dense(dense) }
    init(packed bytes: [UInt8], type: GGMLType, rows: Int, cols: Int) {
        self.rows = rows; self.cols = cols
        storage = .packed(type: type, bytes: PackedBytes(bytes), rowBytes: bytes.count / max(rows, 1))
    }

    /// The matrix rounded to bf16, for bf16 GEMMs.
    public init(bf16 floats: [Float], rows: Int, cols: Int) {
        self.rows = rows; self.cols = cols
        storage = .bf16(BF16Values(floats.withUnsafeBufferPointer { BF16.from($0.baseAddress!, count: floats.count) }))
    }

    /// The matrix rounded to bf16, dequantised a panel of rows at a time (the same values as
    /// `init(bf16:)` of the whole f32 matrix, without holding it).
    func roundedToBF16() -> WeightMatrix {
        if isBF16 { return self }
        var out = [UInt16](repeating: 0, count: rows * cols)
        let panel = max(1, (1 << 20) / max(cols, 1))
        out.withUnsafeMutableBufferPointer { o in
            forEachPanel(panel) { r0, p, n in aft_f32_to_bf16(p, o.baseAddress! + r0 * cols, n * cols) }
        }
        return WeightMatrix(rows: rows, cols: cols, storage: .bf16(BF16Values(out)))
    }

    /// This dense f32 matrix packed for x · Wᵀ products (`PackedF32`, as many bytes again), made on
    /// the first call and kept with the matrix; nil for compact and bf16 matrices (never copied).
    @discardableResult
    func packF32() -> PackedF32? {
        guard case .dense(let w) = storage else { return nil }
        return prepared.packed { w.withUnsafeBufferPointer { PackedF32($0.baseAddress!, rows: rows, cols: cols, parts: BLAS.threads) } }
    }

    /// Bytes `packF32()` would add (0 when the matrix is not dense f32, or is packed already).
    var packF32Bytes: Int {
        guard case .dense(let w) = storage, prepared.packed == nil else { return 0 }
        return w.count * 4
    }

    /// Kept as the file stores it, dequantised per GEMM.
    public var isPacked: Bool { if case .packed = storage { return true }; return false }

    /// Kept as bf16 and multiplied in bf16.
    public var isBF16: Bool { if case .bf16 = storage { return true }; return false }

    /// Calls `body` with the bf16 values [rows, cols]; nil for any other storage.
    func withBF16<R>(_ body: (UnsafePointer<UInt16>) throws -> R) rethrows -> R? {
        guard case .bf16(let v) = storage else { return nil }
        return try v.values.withUnsafeBufferPointer { try body($0.baseAddress!) }
    }

    /// Bytes resident for this matrix.
    public var residentBytes: Int {
        switch storage {
        case .dense(let w): return w.count * 4
        case .packed(_, let b, _): return b.bytes.count
        case .bf16(let v): return v.values.count * 2
        }
    }

    /// Rows `range` as f32 into `out` [range.count, cols]: the same values the f32 load produces.
    func dequantizeRows(_ range: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        switch storage {
        case .dense(let w):
            w.withUnsafeBufferPointer { out.update(from: $0.baseAddress! + range.lowerBound * cols, count: range.count * cols) }
        case .packed(let type, let packed, let rowBytes):
            packed.bytes.withUnsafeBytes { b in
                let n = range.count
                // Large spans use both cores (a panel of a big matrix); a row or two runs inline.
                Kernels.forBands(n, parts: n * cols >= 1 << 16 ? BLAS.threads : 1) { r in
                    dequantizeBlockRun(type, b.baseAddress! + (range.lowerBound + r.lowerBound) * rowBytes, out + r.lowerBound * cols,
                                       r.count * cols / type.blockSize)
                }
            }
        case .bf16(let v):
            v.values.withUnsafeBufferPointer { BF16.toFloats($0.baseAddress! + range.lowerBound * cols, count: range.count * cols, into: out) }
        }
    }

    /// Calls `body` with the matrix as f32 [rows, cols]: the dense array itself, or a scratch it is
    /// dequantised into. Workers that need the same matrix at the same time share one scratch (a
    /// sweep's workers all multiply by the head), so compact memory stays below f32's.
    func withFloats<R>(_ body: (UnsafePointer<Float>) throws -> R) rethrows -> R {
        switch storage {
        case .dense(let w): return try w.withUnsafeBufferPointer { try body($0.baseAddress!) }
        case .packed(_, let packed, _):
            return try SharedDequant.shared.with(packed, count: rows * cols, fill: { dequantizeRows(0..<rows, into: $0) }, body)
        case .bf16(let v):
            return try SharedDequant.shared.with(v, count: rows * cols, fill: { dequantizeRows(0..<rows, into: $0) }, body)
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

    /// c[m, cols] = g[m, rows] · W (row strides lda and ldc): an input gradient, in the matrix's own
    /// precision (bf16 as stored; compact dequantised whole, then the very sgemm f32 gets).
    func multiplyLeft(_ g: UnsafePointer<Float>, lda: Int, m: Int, into c: UnsafeMutablePointer<Float>, ldc: Int) {
        if withBF16({ BF16.gemm(g, lda: lda, $0, ldw: cols, transposed: false, c, ldc: ldc, m: m, n: cols, k: rows) }) != nil { return }
        withFloats { BLAS.gemm(g, lda: lda, $0, ldb: cols, transB: false, c, ldc: ldc, m: m, n: cols, k: rows) }
    }

    /// `product(x, m, c, ldc, fewRows)`: c[m, count] (row stride ldc) = x[m, cols] · panelᵀ, for one panel.
    /// With `fewRows`, f32 panels of at most `BLAS.fewRows` input rows stream the weights
    /// (`Kernels.fewRowsLinear`) instead of calling sgemm.
    typealias PanelProduct = (_ x: UnsafePointer<Float>, _ m: Int, _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ fewRows: Bool) -> Void

    /// Calls `body(first, count, product)` for consecutive row panels of at most `panel` rows, where
    /// `product` multiplies by that panel in the matrix's own precision: sgemm over f32 rows (dequantised
    /// a panel at a time when compact), or a bf16 GEMM over bf16 rows as stored.
    func forEachPanelProduct(_ panel: Int, _ body: (_ first: Int, _ count: Int, _ product: PanelProduct) throws -> Void) rethrows {
        let k = cols
        if case .bf16(let v) = storage {
            try v.values.withUnsafeBufferPointer { p in
                for r0 in stride(from: 0, to: rows, by: panel) {
                    let n = min(panel, rows - r0), w = p.baseAddress! + r0 * k
                    try body(r0, n) { x, m, c, ldc, _ in BF16.gemm(x, lda: k, w, ldw: k, transposed: true, c, ldc: ldc, m: m, n: n, k: k) }
                }
            }
            return
        }
        try forEachPanel(panel) { r0, w, n in
            try body(r0, n) { x, m, c, ldc, fewRows in
                if fewRows && m <= BLAS.fewRows {
                    Kernels.fewRowsLinear(x, rows: m, w, inDim: k, outDim: n, c, ldy: ldc)
                } else {
                    BLAS.gemm(x, lda: k, w, ldb: k, transB: true, c, ldc: ldc, m: m, n: n, k: k)
                }
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
        case .packed(let type, let packed, let rowBytes):
            var out = [UInt8](repeating: 0, count: order.count * rowBytes)
            for (i, r) in order.enumerated() { out.replaceSubrange(i * rowBytes..<(i + 1) * rowBytes, with: packed.bytes[r * rowBytes..<(r + 1) * rowBytes]) }
            return WeightMatrix(packed: out, type: type, rows: order.count, cols: cols)
        case .bf16(let v):
            var out = [UInt16](repeating: 0, count: order.count * cols)
            for (i, r) in order.enumerated() { out.replaceSubrange(i * cols..<(i + 1) * cols, with: v.values[r * cols..<(r + 1) * cols]) }
            return WeightMatrix(rows: order.count, cols: cols, storage: .bf16(BF16Values(out)))
        }
    }
}

/// A packed matrix's bytes, as one object: its identity names the matrix in `SharedDequant`.
final class PackedBytes {
    let bytes: [UInt8]
    init(_ bytes: [UInt8]) { self.bytes = bytes }
}

/// A bf16 matrix's values, as one object (its identity names the matrix in `SharedDequant`).
final class BF16Values {
    let values: [UInt16]
    init(_ values: [UInt16]) { self.values = values }
}

/// Reusable f32 scratch buffers for dequantised matrices: a buffer is kept for the next call
/// instead of reallocated (fresh pages for tens of MB on every GEMM would cost as much as the GEMM).
final class ScratchPool {
    static let shared = ScratchPool()
    private let lock = NSLock()
    private var free: [(UnsafeMutablePointer<Float>, Int)] = []

    /// A buffer of at least `count` floats: the smallest free one that fits without being more than
    /// twice as large (a head-sized buffer is not spent on a block's matrix), else a new one.
    func take(_ count: Int) -> (UnsafeMutablePointer<Float>, Int) {
        lock.lock(); defer { lock.unlock() }
        if let i = free.indices.filter({ free[$0].1 >= count && free[$0].1 <= 2 * count }).min(by: { free[$0].1 < free[$1].1 }) {
            return free.remove(at: i)
        }
        return (UnsafeMutablePointer<Float>.allocate(capacity: count), count)
    }

    /// Keeps the buffer for reuse; beyond `keep` free buffers the smallest are released.
    func give(_ buffer: (UnsafeMutablePointer<Float>, Int)) {
        lock.lock(); defer { lock.unlock() }
        free.append(buffer)
        while free.count > ScratchPool.keep, let i = free.indices.min(by: { free[$0].1 < free[$1].1 }) { free.remove(at: i).0.deallocate() }
    }

    /// Free buffers kept: one per matrix shape of a block (q, k, v, o, gate, up, down), per worker, and the head.
    static let keep = 16

    func with<R>(_ count: Int, _ body: (UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
        let b = take(count)
        defer { give(b) }
        return try body(b.0)
    }
}

/// Dequantised copies of packed matrices in use now, one per matrix: the first user takes a
/// scratch and fills it; users arriving meanwhile wait for the fill and read the same scratch;
/// the last one out returns it to the pool.
final class SharedDequant {
    static let shared = SharedDequant()
    private final class Entry {
        var users = 0, ready = false
        var buffer: (UnsafeMutablePointer<Float>, Int)?
        let filled = NSCondition()
    }
    private let lock = NSLock()
    private var entries: [ObjectIdentifier: Entry] = [:]

    func with<R>(_ key: AnyObject, count: Int, fill: (UnsafeMutablePointer<Float>) -> Void,
                 _ body: (UnsafePointer<Float>) throws -> R) rethrows -> R {
        let id = ObjectIdentifier(key)
        lock.lock()
        let e = entries[id] ?? Entry()
        entries[id] = e
        e.users += 1
        let first = e.users == 1
        lock.unlock()
        if first {
            let b = ScratchPool.shared.take(count)
            fill(b.0)
            e.filled.lock(); e.buffer = b; e.ready = true; e.filled.broadcast(); e.filled.unlock()
        } else {
            e.filled.lock(); while !e.ready { e.filled.wait() }; e.filled.unlock()
        }
        defer {
            lock.lock()
            e.users -= 1
            if e.users == 0 {
                entries[id] = nil
                if let b = e.buffer { ScratchPool.shared.give(b) }
            }
            lock.unlock()
        }
        return try body(UnsafePointer(e.buffer!.0))
    }
}
