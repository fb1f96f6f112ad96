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

    /// Up to this many rows, `linear` streams the weights itself (`Kernels.fewRowsLinear`; bf16
    /// weights: `aft_bf16_few_rows`) instead of calling sgemm or oneDNN, which pack or read the
    /// weights more slowly for a handful of rows (`AFT_FEW_ROWS=0` turns this off, to compare).
    public static var fewRows = Int(ProcessInfo.processInfo.environment["AFT_FEW_ROWS"] ?? "") ?? 16

    /// y[T, out] = x[T, in] · W[out, in]ᵀ (+ bias[out]).
    public static func linear(_ x: UnsafePointer<Float>, rows: Int, inDim: Int, weight: [Float], bias: [Float]?,
                              outDim: Int, into y: UnsafeMutablePointer<Float>) {
        linear(x, rows: rows, inDim: inDim, weight: WeightMatrix(dense: weight, rows: outDim, cols: inDim), bias: bias, outDim: outDim, into: y)
    }

    /// y[T, out] = x[T, in] · W[out, in]ᵀ (+ bias[out]); a compact W is dequantised whole into a
    /// scratch first, so the GEMM is the very call the f32 weights get (bit-identical results);
    /// a bf16 W is multiplied in bf16. With `packed`, W's packed copy is used when it has one
    /// (`WeightMatrix.packF32`: generation), otherwise the same calls as without.
    public static func linear(_ x: UnsafePointer<Float>, rows: Int, inDim: Int, weight: WeightMatrix, bias: [Float]?,
                              outDim: Int, into y: UnsafeMutablePointer<Float>, packed: Bool = false) {
        let byPacked = packed && weight.prepared.packed?.multiply(x, m: rows, y, ldc: outDim) == true
        if !byPacked, weight.withBF16({ w in
            BF16.gemm(x, lda: inDim, w, ldw: inDim, transposed: true, y, ldc: outDim, m: rows, n: outDim, k: inDim)
        }) == nil { weight.withFloats { w in
            if rows <= fewRows {
                Kernels.fewRowsLinear(x, rows: rows, w, inDim: inDim, outDim: outDim, y)
            } else {
                gemm(x, lda: inDim, w, ldb: inDim, transB: true, y, ldc: outDim, m: rows, n: outDim, k: inDim)
            }
        } }
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

    /// Makes OpenBLAS's idle threads sleep after 2^`log2Cycles` cycles without work (~20 µs for
    /// 16) instead of its default 2^28 (~80 ms). aft runs threads of its own between BLAS calls
    /// (attention heads, packed GEMM slices, bf16 products, scoring workers), and a BLAS thread
    /// spinning through them takes a core from them. Nothing changes when OPENBLAS_THREAD_TIMEOUT
    /// is set. Call it before other threads use BLAS.
    public static func shortenThreadTimeout(log2Cycles: Int = 16) {
        guard ProcessInfo.processInfo.environment["OPENBLAS_THREAD_TIMEOUT"] == nil else { return }
        setenv("OPENBLAS_THREAD_TIMEOUT", String(log2Cycles), 1)
        openblas_read_env()
        unsetenv("OPENBLAS_THREAD_TIMEOUT")   // read now; child processes keep their own default
        _ = blas_thread_shutdown_()           // its threads start again with the new timeout
    }

    /// The kernel core OpenBLAS selected at load time (e.g. "SkylakeX", "Haswell").
    public static var coreName: String { String(cString: openblas_get_corename()) }
}
