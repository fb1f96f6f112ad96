import Engine
import Foundation

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
