import CDNNL
import CKernels
import Foundation

/// The precision of the large GEMMs (the linear layers and the head).
public enum Precision: String, CaseIterable {
    /// f32 weights and f32 GEMMs (OpenBLAS's sgemm): the reference.
    case f32
    /// Weight matrices kept as bf16 (2 bytes per parameter) and multiplied with bf16 inputs and f32
    /// accumulation (oneDNN, AVX512_BF16). Residual stream, norms, attention, softmax and the
    /// steering vector and its gradient stay f32.
    case bf16
}

/// bf16 GEMMs with f32 accumulation through oneDNN, and the conversions around them.
public enum BF16 {
    /// Whether bf16 GEMMs run natively here, and if not, why in words: the CPU needs AVX512_BF16
    /// (oneDNN would emulate it more slowly than f32 runs) and oneDNN must make a bf16 matmul.
    /// `AFT_NO_BF16=1` reports it missing, to try the fallback.
    public static let support: (available: Bool, why: String) = {
        if ProcessInfo.processInfo.environment["AFT_NO_BF16"] == "1" { return (false, "AFT_NO_BF16=1 is set") }
        guard cpuFlags.contains("avx512_bf16") else { return (false, "this CPU lacks AVX512_BF16") }
        var buf = [CChar](repeating: 0, count: 128)
        let s = aft_bf16_matmul_impl(64, 64, 1, &buf, Int32(buf.count))
        guard s == 0 else { return (false, "oneDNN cannot make a bf16 matmul here (status \(s))") }
        return (true, "oneDNN \(String(cString: buf)) on AVX512_BF16")
    }()

    static let cpuFlags: Set<String> = {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let flags = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return [] }
        return Set(flags.split(separator: " ").map(String.init))
    }()

    /// `x` [n] rounded to bf16 (nearest even).
    public static func from(_ x: UnsafePointer<Float>, count n: Int) -> [UInt16] {
        [UInt16](unsafeUninitializedCapacity: max(n, 1)) { b, c in aft_f32_to_bf16(x, b.baseAddress!, n); c = n }
    }

    /// bf16 values [n] as floats (exact).
    static func toFloats(_ x: UnsafePointer<UInt16>, count n: Int, into y: UnsafeMutablePointer<Float>) {
        aft_bf16_to_f32(x, y, n)
    }

    /// C[m, n] = A[m, k] · op(W) with A f32 (rounded to bf16 here, row stride lda) and C f32 (row stride ldc).
    /// transposed: W is bf16 [n, k] with row stride ldw (a linear layer's forward, C = A·Wᵀ);
    /// otherwise W is bf16 [k, n] (the input gradient, C = A·W).
    ///
    /// Runs on `BLAS.threads` threads of our own, each calling oneDNN single-threaded on a slice
    /// (rows of A when there are many, else columns of W): oneDNN's OpenMP threads would spin
    /// between calls and take the cores the rest of the step (attention, norms) runs on. Up to
    /// `BLAS.fewRows` rows of a forward product go through `aft_bf16_few_rows` instead.
    static func gemm(_ a: UnsafePointer<Float>, lda: Int, _ w: UnsafePointer<UInt16>, ldw: Int, transposed: Bool,
                     _ c: UnsafeMutablePointer<Float>, ldc: Int, m: Int, n: Int, k: Int) {
        guard m > 0, n > 0 else { return }
        // A in bf16, rounded in row bands side by side (on one thread, this was ~3 % of a
        // generation run's time with the other core idle).
        let ab = [UInt16](unsafeUninitializedCapacity: m * k) { p, count in
            let ap = p.baseAddress!
            Kernels.forBands(m, parts: m * k >= 1 << 16 ? BLAS.threads : 1) { rows in
                for r in rows { aft_f32_to_bf16(a + r * lda, ap + r * k, k) }
            }
            count = m * k
        }
        ab.withUnsafeBufferPointer { abp in
            let ap = abp.baseAddress!
            func run(_ rows: Range<Int>, _ cols: Range<Int>) {
                let wp = transposed ? w + cols.lowerBound * ldw : w + cols.lowerBound
                let s = aft_bf16_matmul(rows.count, cols.count, k, ap + rows.lowerBound * k, k, wp, ldw, transposed ? 1 : 0,
                                        c + rows.lowerBound * ldc + cols.lowerBound, ldc, 1)
                // Only a model loaded in bf16 gets here, which `support` allowed; a failure now is out of memory.
                precondition(s == 0, "oneDNN bf16 matmul failed (status \(s)) for [\(rows.count)×\(k)]·[\(k)×\(cols.count)]")
            }
            if transposed && m <= BLAS.fewRows {
                // Decoding: our own kernel streams W once, each thread a band of its rows (oneDNN's
                // matmul reads it at ~2/3 of the memory bandwidth for a row or two).
                Kernels.forBands(n, parts: min(BLAS.threads, n / 64), align: 4) { cols in
                    aft_bf16_few_rows(m, cols.count, k, ap, k, w + cols.lowerBound * ldw, ldw, c + cols.lowerBound, ldc)
                }
                return
            }
            let threads = 2 * m * n * k < 1 << 21 ? 1 : max(1, BLAS.threads)
            // Many rows: each thread a band of rows (every thread reads all of W, from cache);
            // few rows: each a band of columns, so W is read once in all.
            let byRows = m >= 64 * threads
            Kernels.forBands(byRows ? m : n, parts: threads, align: byRows ? 1 : 16) { r in
                byRows ? run(r, 0..<n) : run(0..<m, r)
            }
        }
    }
}
