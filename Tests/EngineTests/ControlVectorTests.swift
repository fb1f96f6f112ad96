@testable import Engine
import Foundation
import XCTest

/// llama.cpp control vectors read and written: every `direction.N` layer, applied after block N
/// (issue: ecosystem). The fixture was written by gguf-py the way repeng exports one
/// (scripts/make_cvec_fixture.py).
final class ControlVectorTests: XCTestCase {
    var dir = ""
    override func setUp() {
        dir = NSTemporaryDirectory() + "aft-cvec-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    var fixture: String { Fixtures.root + "/cvec/tiny-llama-cvec.gguf" }

    func testReadsEveryLayerOfARepengControlVector() throws {
        let v = try SteeringVector.loadControlVector(fixture, name: "cv")
        XCTAssertEqual(v.layers, [1, 2])
        XCTAssertEqual(v.metadata["model_hint"], "llama")
        for (l, values) in v.steering {
            XCTAssertEqual(values.count, 64)
            for (i, x) in values.enumerated() {
                XCTAssertEqual(x, Float(0.05 * Double(l) * sin(Double(i + l))), accuracy: 1e-6, "direction.\(l)[\(i)]")
            }
        }
    }

    func testExportThenLoadKeepsEveryLayer() throws {
        let v = SteeringVector(name: "m", values: [1, 2, 3], layer: 3, metadata: [:], more: [(5, [4, 5, 6]), (7, [-1, 0, 1])])
        try v.exportControlVector(to: dir + "/m.gguf", architecture: "llama", layerCount: 8)
        let back = try SteeringVector.loadControlVector(dir + "/m.gguf", name: "m")
        XCTAssertEqual(back.layers, [3, 5, 7])
        XCTAssertEqual(back.steering.map { $0.values }, [[1, 2, 3], [4, 5, 6], [-1, 0, 1]])
        XCTAssertThrowsError(try SteeringVector(name: "z", values: [1], layer: 0, metadata: [:]).exportControlVector(to: dir + "/z.gguf", architecture: "llama", layerCount: 2))
        // A model file is not a control vector.
        XCTAssertThrowsError(try SteeringVector.loadControlVector(ReaderValidationTests.seeds + "/gguf/llama-f32.gguf", name: "x")) { e in
            XCTAssertTrue("\(e)".contains("not 'controlvector'"), "\(e)")
        }
    }

    /// Scoring with the control vector adds every layer's direction after its block: the same
    /// log-likelihoods as adding them by hand, and not those of its first layer alone.
    func testEveryLayerIsApplied() throws {
        let m = try LanguageModel(name: Fixtures.root + "/tiny/llama")
        let v = try SteeringVector.loadControlVector(fixture, name: "cv")
        let item = MCItem(doc: 0, context: "The cat sat on the", choices: ["mat", "dog", "moon"], gold: 0)
        let scorer = Scorer(model: m)
        let all = scorer.score(item, hook: Transformer.steeringHook(v.steering)).ll
        let byHand = scorer.score(item, hook: { l, x, rows in
            if l == 1 { Kernels.addToRows(v.steering[0].values, x, rows: rows) }
            if l == 2 { Kernels.addToRows(v.steering[1].values, x, rows: rows) }
        }).ll
        let firstOnly = scorer.score(item, hook: Transformer.steeringHook(layer: 1, values: v.values)).ll
        XCTAssertEqual(all, byHand)
        XCTAssertNotEqual(all, firstOnly, "the second layer's direction changes the scores")
        XCTAssertNotEqual(all, scorer.score(item).ll)
    }
}
