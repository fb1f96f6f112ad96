import CKernels
import Foundation

/// The CPU's arithmetic peak, measured: every core runs independent chains of 16-lane FMAs (f32)
/// or bf16 dot products on registers alone, with no memory traffic, so no GEMM or attention kernel
/// can run faster. With `ArithmeticWork` it gives a run's floor: its FLOPs over this rate.
public enum ComputePeak {
    /// GFLOP/s of all `threads` cores together, best of 3 runs of about `seconds` each; nil when
    /// the CPU lacks the instructions (AVX512F; bf16: AVX512_BF16 as well).
    public static func gflops(_ precision: Precision, threads: Int = ProcessInfo.processInfo.activeProcessorCount,
                              seconds: Double = 0.25) -> Double? {
        let flags = BF16.cpuFlags
        guard flags.contains("avx512f"), precision == .f32 || flags.contains("avx512_bf16") else { return nil }
        let kernel = precision == .f32 ? aft_f32_fma_peak : aft_bf16_dot_peak
        var sink: Float = 0
        // Rounds for about `seconds` on one core, from a short calibration run.
        let t0 = Date()
        _ = kernel(1 << 20, &sink)
        let iters = max(1 << 20, Int(Double(1 << 20) * seconds / max(Date().timeIntervalSince(t0), 1e-6)))
        let n = max(1, threads)
        let flop = UnsafeMutablePointer<Double>.allocate(capacity: n)
        defer { flop.deallocate() }
        var best = 0.0
        for _ in 0..<3 {
            let start = Date()
            DispatchQueue.concurrentPerform(iterations: n) { t in
                var s: Float = 0
                flop[t] = kernel(iters, &s)
            }
            let dt = Date().timeIntervalSince(start)
            best = max(best, (0..<n).reduce(0.0) { $0 + flop[$1] } / dt / 1e9)
        }
        return best
    }
}
