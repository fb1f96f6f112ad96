// swift-tools-version:5.9
import PackageDescription
import Foundation

/// Engine's Swift kernels (exponentials, softmax, norms, activations) are compiled for AVX2 + FMA
/// when the building machine has them (read from /proc/cpuinfo): 8-lane FMA instead of the
/// baseline x86-64's 4-lane SSE2. The binary then needs such a CPU (x86 since 2013-2015);
/// `AFT_PORTABLE=1 swift build` builds for any x86-64. GEMMs are OpenBLAS's, which picks its own kernel.
let vectorFlags: [String] = {
    if ProcessInfo.processInfo.environment["AFT_PORTABLE"] != nil { return [] }
    guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
          let flags = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return [] }
    let has = Set(flags.split(separator: " ").map(String.init))
    return has.contains("avx2") && has.contains("fma") && has.contains("f16c") ? ["-target-cpu", "haswell"] : []
}()

let package = Package(
    name: "AFTShell",
    products: [
        .executable(name: "aft", targets: ["AFTShell"]),
        .executable(name: "aft-fuzz", targets: ["Fuzz"]),
        .library(name: "Engine", targets: ["Engine"]),
        .library(name: "Lang", targets: ["Lang"]),
    ],
    targets: [
        // Thin C shims over system libraries (installed by scripts/setup).
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CEditLine", pkgConfig: "libedit", providers: [.apt(["libedit-dev"])]),
        // libzmq.pc pulls in Kerberos include flags SwiftPM refuses; zmq.h is in /usr/include anyway.
        .systemLibrary(name: "CZMQ", providers: [.apt(["libzmq3-dev"])]),
        .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CMalloc"),   // glibc's mallopt (no library to link)
        // oneDNN's matmul primitive (libdnnl-dev, OpenMP threads): bf16 GEMMs (`precision=bf16`) and
        // f32 GEMMs over weights packed once for generation.
        .target(name: "CDNNL", cSettings: [.unsafeFlags(["-O2"])],
                linkerSettings: [.linkedLibrary("dnnl"), .linkedLibrary("gomp")]),
        // Hand-written AVX-512 kernels for decoding's few-row shapes (bf16 weight rows, attention
        // over a sequence's cache); each is compiled for its instructions alone and called only
        // when the CPU has them.
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O2"])]),
        // Engine is compiled with bounds and overflow checks (-O): user input must never reach
        // undefined behaviour. Hot loops work on unsafe buffer pointers over shapes the readers
        // validated, so the checks cost ~nothing there (scripts/bench_against measures it).
        .target(name: "Engine", dependencies: ["COpenBLAS", "CDNNL", "CKernels"],
                swiftSettings: [.unsafeFlags(vectorFlags)]),
        .target(name: "Lang", dependencies: ["Engine"]),
        .executableTarget(name: "AFTShell", dependencies: ["Engine", "Lang", "CEditLine", "CZMQ", "CCrypto", "CMalloc"]),
        // libFuzzer targets for the language and every file reader (scripts/fuzz TARGET SECONDS);
        // an ordinary build replays inputs (the test run replays the committed corpus).
        .executableTarget(name: "Fuzz", dependencies: ["Lang", "Engine"]),
        .testTarget(name: "EngineTests", dependencies: ["Engine", "CKernels"], resources: [.copy("Fixtures")]),
        .testTarget(name: "LangTests", dependencies: ["Lang", "Engine"]),
        .testTarget(name: "AFTShellTests", dependencies: ["AFTShell", "Lang", "Engine"], resources: [.copy("Golden")]),
    ]
)
