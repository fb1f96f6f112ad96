// swift-tools-version:5.9
import PackageDescription

let package = Package(
    name: "AFTShell",
    products: [
        .executable(name: "aft", targets: ["AFTShell"]),
        .executable(name: "aft-fuzz", targets: ["LangFuzz"]),
        .library(name: "Engine", targets: ["Engine"]),
        .library(name: "Lang", targets: ["Lang"]),
    ],
    targets: [
        // Thin C shims over system libraries (installed by scripts/setup).
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CEditLine", pkgConfig: "libedit", providers: [.apt(["libedit-dev"])]),
        .target(name: "Engine", dependencies: ["COpenBLAS"],
                swiftSettings: [.unsafeFlags(["-Ounchecked"])]),
        .target(name: "Lang", dependencies: ["Engine"]),
        .executableTarget(name: "AFTShell", dependencies: ["Engine", "Lang", "CEditLine"]),
        // libFuzzer target for the lexer and parser (scripts/fuzz); an ordinary build replays inputs.
        .executableTarget(name: "LangFuzz", dependencies: ["Lang"]),
        .testTarget(name: "EngineTests", dependencies: ["Engine"], resources: [.copy("Fixtures")]),
        .testTarget(name: "LangTests", dependencies: ["Lang", "Engine"]),
        .testTarget(name: "AFTShellTests", dependencies: ["AFTShell", "Lang", "Engine"], resources: [.copy("Golden")]),
    ]
)
