import COpenBLAS
import Foundation

/// OpenBLAS wrappers and runtime control (threads, kernel core type).
public enum BLAS {
    /// C[M,N] = alpha · A[M,K] · op(B) + beta · C, row-major; `transB` means B is stored [N,K].
    @inline(__always)
    public static func gemm(_ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int, transB: Bool,
                            _ c: UnsafeMutablePointer<Float>, ldc: Int, m: Int, n: Int, k: Int,
                            alpha: Float = 1, beta: Float = 0, transA: Bool = false) {
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// Up to this many rows, `linear` streams the weights itself (`Kernels.fewRowsLinear`) instead
    /// of calling sgemm, which would pack the whole weight matrix for a handful of rows.
    public static var fewRows = Int(ProcessInfo.processInfo.environment["AFT_FEW_ROWS"] ?? "") ?? 16

    /// y[T, out] = x[T, in] · W[out, in]ᵀ (+ bias[out]).
    public static func linear(_ x: UnsafePointer<Float>, rows: Int, inDim: Int, weight: [Float], bias: [Float]?,
                              outDim: Int, into y: UnsafeMutablePointer<Float>) {
        weight.withUnsafeBufferPointer { w in
            if rows <= fewRows {
                Kernels.fewRowsLinear(x, rows: rows, w.baseAddress!, inDim: inDim, outDim: outDim, y)
            } else {
                gemm(x, lda: inDim, w.baseAddress!, ldb: inDim, transB: true, y, ldc: outDim, m: rows, n: outDim, k: inDim)
            }
        }
        if let bias = bias {
            bias.withUnsafeBufferPointer { b in
                for t in 0..<rows { let r = y + t * outDim; for j in 0..<outDim { r[j] += b[j] } }
            }
        }
    }

    public static var threads: Int {
        get { Int(openblas_get_num_threads()) }
        set { openblas_set_num_threads(Int32(newValue)) }
    }

    /// The kernel core OpenBLAS selected at load time (e.g. "SkylakeX", "Haswell").
    public static var coreName: String { String(cString: openblas_get_corename()) }
}

/// Chooses OpenBLAS's SkylakeX (AVX-512) kernel on CPUs that have AVX-512F.
///
/// OpenBLAS picks its core at library load, before any Swift code runs. On this project's
/// AVX-512 machines (AMD EPYC) it detects "Cooperlake", whose sgemm blocking runs the square
/// projection shapes at ~100 GFLOP/s where SkylakeX reaches ~170 (scripts/bench shows both).
/// If the CPU has AVX-512F, `OPENBLAS_CORETYPE` is unset and the detected core is not SkylakeX,
/// this sets it and re-executes the current binary once. Returns only if no re-exec happened.
public func ensureFastBLASKernel(arguments: [String] = CommandLine.arguments) {
    let env = ProcessInfo.processInfo.environment
    if env["OPENBLAS_CORETYPE"] != nil || env["AFT_NO_REEXEC"] != nil { return }
    guard cpuHasAVX512F(), BLAS.coreName.lowercased() != "skylakex" else { return }
    setenv("OPENBLAS_CORETYPE", "SkylakeX", 1)
    setenv("AFT_NO_REEXEC", "1", 1)
    var cargs = arguments.map { strdup($0) } + [nil]
    execv("/proc/self/exe", &cargs)
    // execv returned: carry on with the detected kernel.
}

/// Whether /proc/cpuinfo lists the avx512f flag.
func cpuHasAVX512F() -> Bool {
    guard let s = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return false }
    return s.split(separator: "\n").contains { $0.hasPrefix("flags") && $0.contains(" avx512f") }
}
