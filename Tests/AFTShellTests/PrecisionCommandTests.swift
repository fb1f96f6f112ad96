import Engine
import Foundation
@testable import Lang
import XCTest

/// `set precision=f32|bf16` and `load MODEL precision=…` from the language: a loaded model follows a
/// change (loaded again), a bad value changes nothing, and a CPU without native bf16 falls back to
/// f32 saying why.
final class PrecisionCommandTests: XCTestCase {
    var aft: String { Bundle.module.bundleURL.deletingLastPathComponent().appendingPathComponent("aft").path }

    func requireModel() throws {
        do { _ = try ModelRegistry().resolve("smollm2-135m") } catch where ProcessInfo.processInfo.environment["AFT_REQUIRE_MODELS"] == nil {
            throw XCTSkip("smollm2-135m not fetched (run scripts/setup)")
        }
    }

    func testSetPrecisionReloadsTheModelAndBack() throws {
        try requireModel()
        guard BF16.support.available else { throw XCTSkip("bf16 GEMMs not available: \(BF16.support.why)") }
        var out: [String] = []
        let s = Session(output: { out.append($0) })
        try s.run(source: "load smollm2-135m weights=f32")
        XCTAssertEqual(s.model?.weightMode, .f32)
        let f32Bytes = try XCTUnwrap(s.model?.transformer.residentWeightBytes)
        out = []
        try s.run(source: "set precision=bf16")
        XCTAssertEqual(s.model?.weightMode, .bf16)
        XCTAssertEqual(s.settings.precision, .bf16)
        let text = out.joined(separator: "\n")
        XCTAssertTrue(text.contains("reloading smollm2-135m in bf16"), text)
        XCTAssertTrue(text.contains("weights: bf16,") && text.contains("precision=bf16"), text)
        XCTAssertLessThan(try XCTUnwrap(s.model?.transformer.residentWeightBytes), f32Bytes * 6 / 10)
        // Scoring runs in bf16 and gives a result.
        try s.run(source: "r = eval arc-easy limit=4")
        // A bad value is refused with the choices and leaves precision and model as they were.
        XCTAssertThrowsError(try s.run(source: "set precision=fp8")) { e in
            XCTAssertTrue("\(e)".contains("f32") && "\(e)".contains("bf16"), "\(e)")
        }
        XCTAssertEqual(s.settings.precision, .bf16)
        XCTAssertEqual(s.model?.weightMode, .bf16)
        out = []
        try s.run(source: "set precision=f32")
        XCTAssertEqual(s.model?.weightMode, .f32)
        XCTAssertTrue(out.joined().contains("reloading smollm2-135m in f32"), out.joined())
        // The load option overrides the setting for that load.
        try s.run(source: "load smollm2-135m precision=bf16")
        XCTAssertEqual(s.model?.weightMode, .bf16)
        XCTAssertEqual(s.settings.precision, .f32)
    }

    func testWithoutNativeBF16ItFallsBackToF32AndSaysWhy() throws {
        try requireModel()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: aft)
        p.arguments = ["-e", "set precision=bf16\nload smollm2-135m precision=bf16 weights=f32\nset"]
        var env = ProcessInfo.processInfo.environment
        env["AFT_NO_BF16"] = "1"
        p.environment = env
        let pipe = Pipe()
        p.standardOutput = pipe; p.standardError = pipe
        try p.run()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, text)
        XCTAssertTrue(text.contains("precision=bf16 is not available (AFT_NO_BF16=1 is set); f32 GEMMs stay"), text)
        XCTAssertTrue(text.contains("precision=bf16 is not available (AFT_NO_BF16=1 is set); loading in f32"), text)
        XCTAssertTrue(text.contains("weights: f32,"), text)
    }
}
