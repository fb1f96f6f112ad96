import Engine
import XCTest

/// dL/dv on the real models against torch autograd through a forward hook (make_fixtures.py steergrad).
final class SteeringGradientParityTests: XCTestCase {
    func check(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let m = try Fixtures.realModel(name)
        let all = try Fixtures.json("steergrad.json")
        let fx = try XCTUnwrap(all[name] as? [String: Any])
        let layer = try XCTUnwrap(fx["layer"] as? Int)
        let v = try XCTUnwrap(fx["v"] as? [Double]).map { Float($0) }
        let want = try XCTUnwrap(fx["grad"] as? [Double])
        let ds = try Dataset.load("hellaswag", dataDir: Fixtures.sharedData)
        let item = ds.items[try XCTUnwrap(fx["doc"] as? Int)]
        let seq = Scorer(model: m).packed(item)
        let res = m.transformer.residuals(seq, through: layer)[layer]
        let ev = m.transformer.steer(seq, residual: res, layer: layer, v: v, gold: item.gold,
                                     choiceChars: item.choices.map { $0.unicodeScalars.count })
        XCTAssertEqual(ev.loss, try XCTUnwrap(fx["loss"] as? Double), accuracy: 1e-3, "\(name): loss", file: file, line: line)
        let diff = zip(ev.grad, want).reduce(0.0) { $0 + pow(Double($1.0) - $1.1, 2) }.squareRoot()
        let norm = want.reduce(0.0) { $0 + $1 * $1 }.squareRoot()
        XCTAssertGreaterThan(norm, 0, file: file, line: line)
        XCTAssertLessThanOrEqual(diff / norm, 1e-3, "\(name): ‖Δgrad‖/‖grad‖ = \(diff / norm)", file: file, line: line)
    }

    func testSmolLM2() throws { try check("smollm2-135m") }
    func testGemma3() throws { try check("gemma3-270m") }
    func testQwenCoder() throws { try check("qwen2.5-coder-0.5b") }
}
