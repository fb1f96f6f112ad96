import Engine
@testable import Lang
import XCTest

/// Every example script parses and checks; with the default model fetched, each runs as written
/// in smoke mode (item counts, epochs and layers capped).
final class ExamplesTests: XCTestCase {
    var examplesDir: String {
        var u = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { u.deleteLastPathComponent() }
        return u.path + "/examples"
    }
    var files: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: examplesDir)) ?? []).filter { $0.hasSuffix(".aft") }.sorted()
    }

    func testEveryExampleParsesAndChecks() throws {
        XCTAssertEqual(files, ["caa-vs-aft.aft", "compose-math-logic.aft", "compose.aft", "gsm8k.aft", "hellaswag-sweep.aft", "quickstart.aft", "seed-protocol.aft"])
        for f in files {
            var p = try Parser(source: try String(contentsOfFile: examplesDir + "/" + f, encoding: .utf8))
            for s in try p.parse() { XCTAssertNoThrow(try CommandTable.check(CommandTable.normalize(s)), "\(f): \(s.text)") }
        }
    }

    func testEveryExampleRunsInSmokeMode() throws {
        do { _ = try ModelRegistry().resolve("smollm2-135m") } catch where ProcessInfo.processInfo.environment["AFT_REQUIRE_MODELS"] == nil {
            throw XCTSkip("smollm2-135m not fetched")
        }
        var u = URL(fileURLWithPath: #filePath)
        for _ in 0..<4 { u.deleteLastPathComponent() }
        for f in files {
            var out: [String] = []
            let s = Session(output: { out.append($0) })
            s.smoke = true
            let dir = NSTemporaryDirectory() + "aft-ex-\(UUID().uuidString)"
            defer { try? FileManager.default.removeItem(atPath: dir) }
            s.settings.out = dir
            s.settings.data = u.path + "/shared/data"
            var src = try String(contentsOfFile: examplesDir + "/" + f, encoding: .utf8)
            src = src.replacingOccurrences(of: "runs/", with: dir + "/")
            XCTAssertNoThrow(try s.run(source: src, file: f), f)
            XCTAssertFalse(out.isEmpty, f)
        }
    }
}
