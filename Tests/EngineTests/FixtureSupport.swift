import Engine
import Foundation
import XCTest

/// Paths and helpers shared by the engine tests.
enum Fixtures {
    static var root: String { Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.path }
    static func json(_ rel: String) throws -> [String: Any] {
        let d = try Data(contentsOf: URL(fileURLWithPath: root + "/" + rel))
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: d) as? [String: Any])
    }
    /// ../shared/data next to the checkout.
    static var sharedData: String {
        var u = URL(fileURLWithPath: #filePath)
        for _ in 0..<4 { u.deleteLastPathComponent() }
        return u.path + "/shared/data"
    }

    /// Skips the test, saying why and how to install them, unless python3 can import `modules`.
    static func requirePython(_ modules: String, install: String, why: String) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", "import \(modules)"]
        p.standardError = FileHandle.nullDevice
        try p.run(); p.waitUntilExit()
        if p.terminationStatus != 0 { throw XCTSkip("\(modules) not installed (\(install)): \(why)") }
    }

    /// Loads a real GGUF model, or skips the test when it is not fetched (unless AFT_REQUIRE_MODELS is set, as in CI).
    static func realModel(_ name: String, weights: WeightMode = .f32) throws -> LanguageModel {
        do { return try ModelCache.shared.get(name, weights: weights) }
        catch EngineError.modelNotFound(let n, _, _) where ProcessInfo.processInfo.environment["AFT_REQUIRE_MODELS"] == nil {
            throw XCTSkip("model \(n) not fetched (run scripts/setup)")
        }
    }
}

/// Loads each real model once per test process.
final class ModelCache {
    static let shared = ModelCache()
    var models: [String: LanguageModel] = [:]
    let lock = NSLock()
    func get(_ name: String, weights: WeightMode = .f32) throws -> LanguageModel {
        lock.lock(); defer { lock.unlock() }
        let key = weights == .f32 ? name : "\(name) \(weights.rawValue)"
        if let m = models[key] { return m }
        let m = try LanguageModel(name: name, weights: .mode(weights))
        models[key] = m
        return m
    }
}
