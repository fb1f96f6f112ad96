import CDNNL
import Foundation

/// An f32 weight matrix W [rows, cols] packed once by oneDNN for products x[m, cols] · Wᵀ at the
/// CPU's peak from a few rows on (OpenBLAS packs W again on every call, which for a decoding step
/// of a few dozen rows costs as much as the product).
///
/// The output columns are split into one slice per thread (`BLAS.threads` when packed), each packed
/// on its own, so a product runs the slices side by side, each a single-threaded call reading only
/// its part of W. The packed copy takes as many bytes as W.
final class PackedF32 {
    let rows: Int, cols: Int
    /// Output columns `first..<first + count` of each slice, and its packed weights.
    private let slices: [(first: Int, count: Int, handle: OpaquePointer)]
    /// Bytes of the packed copy.
    let bytes: Int

    /// Packs W [rows, cols] (row-major) in `parts` column slices; nil when oneDNN cannot.
    init?(_ w: UnsafePointer<Float>, rows: Int, cols: Int, parts: Int) {
        self.rows = rows; self.cols = cols
        let n = max(1, min(parts, rows / 64)), per = (rows + n - 1) / n
        var made: [(first: Int, count: Int, handle: OpaquePointer)] = []
        var total = 0
        for first in stride(from: 0, to: rows, by: per) {
            let count = min(per, rows - first)
            var h: OpaquePointer? = nil
            guard aft_f32_pack(count, cols, w + first * cols, cols, &h) == 0, let handle = h else {
                for s in made { aft_f32_packed_free(s.handle) }
                return nil
            }
            made.append((first, count, handle))
            total += aft_f32_packed_bytes(handle)
        }
        slices = made; bytes = total
    }

    deinit { for s in slices { aft_f32_packed_free(s.handle) } }

    /// Products run by packed copies since the process started (tests check the packed path ran).
    static var products: Int { counter.lock(); defer { counter.unlock() }; return count }
    private static let counter = NSLock()
    nonisolated(unsafe) private static var count = 0

    /// c[m, rows] (row stride ldc) = x[m, cols] · Wᵀ; false (c unspecified) when oneDNN failed.
    func multiply(_ x: UnsafePointer<Float>, m: Int, _ c: UnsafeMutablePointer<Float>, ldc: Int) -> Bool {
        guard m > 0 else { return true }
        PackedF32.counter.lock(); PackedF32.count += 1; PackedF32.counter.unlock()
        func run(_ s: (first: Int, count: Int, handle: OpaquePointer)) -> Bool {
            aft_f32_packed_matmul(s.handle, m, x, cols, c + s.first, ldc) == 0
        }
        // Side by side on at most `BLAS.threads` threads (one, inside workers that each have a core).
        let width = min(slices.count, max(1, BLAS.threads))
        if width == 1 { return slices.allSatisfy(run) }
        var ok = [Bool](repeating: false, count: slices.count)
        ok.withUnsafeMutableBufferPointer { o in
            DispatchQueue.concurrentPerform(iterations: width) { t in
                for i in stride(from: t, to: slices.count, by: width) { o[i] = run(slices[i]) }
            }
        }
        return !ok.contains(false)
    }
}

/// Copies of a weight matrix made on request for faster products and kept with the matrix
/// (copies of a `WeightMatrix` share them): the packed f32 copy (`PackedF32`) and, for a head,
/// the greedy screen (`ScreenedHead`).
final class PreparedWeights {
    let packedCopy = MadeOnce<PackedF32>()
    let screen = MadeOnce<ScreenedHead>()

    /// The packed copy, if it was made.
    var packed: PackedF32? { packedCopy.value }

    /// The packed copy, made by `make` on the first call (a failure is not retried).
    func packed(_ make: () -> PackedF32?) -> PackedF32? { packedCopy.value(make) }
}

/// A value made by the first caller that asks for it and kept (a failure, nil, is not retried).
final class MadeOnce<T: AnyObject> {
    private let lock = NSLock()
    private var made: T?
    private var tried = false

    /// The value, if it was made.
    var value: T? { lock.lock(); defer { lock.unlock() }; return made }

    /// The value, made by `make` on the first call.
    func value(_ make: () -> T?) -> T? {
        lock.lock(); defer { lock.unlock() }
        if !tried { tried = true; made = make() }
        return made
    }
}
