@testable import Engine
import Foundation
import XCTest

/// A control vector aft exports is applied by llama.cpp itself (llama-cpp-python, compiled from
/// source) as aft applies it: on the same GGUF model and token ids, the logit shift the vector
/// causes correlates ≥ 0.99 between the two, and the steered top-1 token agrees wherever aft's
/// margin exceeds the disagreement the two already have without a vector (llama.cpp multiplies
/// quantised weights by quantised activations; aft dequantises to f32) (issue: ecosystem).
final class LlamaCppControlVectorTests: XCTestCase {
    static var repo: String {
        var u = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { u.deleteLastPathComponent() }
        return u.path
    }

    func pearson(_ a: [Double], _ b: [Double]) -> Double {
        let n = Double(a.count), ma = a.reduce(0, +) / n, mb = b.reduce(0, +) / n
        var sab = 0.0, saa = 0.0, sbb = 0.0
        for (x, y) in zip(a, b) { sab += (x - ma) * (y - mb); saa += (x - ma) * (x - ma); sbb += (y - mb) * (y - mb) }
        return sab / (saa * sbb).squareRoot()
    }

    func testLlamaCppAppliesTheExportedVectorAsAftDoes() throws {
        try Fixtures.requirePython("llama_cpp, gguf, numpy", install: "CMAKE_ARGS=-DGGML_NATIVE=ON pip install llama-cpp-python gguf",
                                   why: "llama.cpp cannot be run here")
        let m = try Fixtures.realModel("smollm2-135m")
        let d = m.config.hidden
        // Two layers, a deterministic direction each, of a norm that moves the logits clearly.
        let layers = [8, 16]
        let set: SteeringSet = layers.map { l in
            let raw = (0..<d).map { Float(sin(Double($0) * 0.37 + Double(l))) }
            let n = raw.reduce(0) { $0 + $1 * $1 }.squareRoot()
            return (l, raw.map { $0 / n * 80 })
        }
        let v = SteeringVector(name: "probe", values: set[0].values, layer: set[0].layer, metadata: [:], more: Array(set.dropFirst()))
        let tmp = NSTemporaryDirectory() + "aft-llamacpp-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        try v.exportControlVector(to: tmp + "/probe.gguf", architecture: "llama", layerCount: m.config.layers)

        let prompts = ["The capital of France is", "Question: What do plants need to grow?\nAnswer:",
                       "def fibonacci(n):", "Once upon a time, there was a little"]
        let tokens = prompts.map { m.tokenizer.encode($0, addSpecial: m.config.addBos) }
        try JSONSerialization.data(withJSONObject: tokens).write(to: URL(fileURLWithPath: tmp + "/tokens.json"))
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", Self.repo + "/scripts/llamacpp_logits.py", m.path, tmp + "/probe.gguf", tmp + "/tokens.json", tmp + "/out.json"]
        let err = Pipe(); p.standardError = err; p.standardOutput = err
        try p.run()
        let log = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, log)
        let out = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: tmp + "/out.json"))) as? [String: [[Double]]])
        let llBase = try XCTUnwrap(out["base"]), llSteered = try XCTUnwrap(out["steered"])

        func aftLogits(_ ids: [Int], _ steering: SteeringSet) -> [Double] {
            let cache = KVCache(config: m.config)
            let h = m.transformer.forward(ids, cache: cache, hook: steering.isEmpty ? nil : Transformer.steeringHook(steering))
            return m.transformer.logits(hidden: h, rows: [ids.count - 1]).map(Double.init)
        }
        var agreed = 0, compared = 0
        for (i, ids) in tokens.enumerated() {
            let aBase = aftLogits(ids, []), aSteered = aftLogits(ids, v.steering)
            // The two engines' disagreement without a vector: the noise floor for this prompt.
            let noise = zip(aBase, llBase[i]).map { abs($0 - $1) }.max() ?? 0
            let shiftA = zip(aSteered, aBase).map { $0 - $1 }, shiftL = zip(llSteered[i], llBase[i]).map { $0 - $1 }
            let r = pearson(shiftA, shiftL)
            // Negative control: the same vector one block later in aft must not fit as well, so a
            // loader or exporter off by one layer would fail this test.
            let late = aftLogits(ids, v.steering.map { ($0.layer + 1, $0.values) })
            let rLate = pearson(zip(late, aBase).map { $0 - $1 }, shiftL)
            XCTAssertLessThan(rLate, r - 0.02, "prompt \(i): one layer later fits llama.cpp's shift (\(rLate)) about as well as the right layer (\(r))")
            let shiftSize = shiftA.map(abs).max() ?? 0
            print("prompt \(i): base disagreement \(String(format: "%.3f", noise)), shift up to \(String(format: "%.2f", shiftSize)), shift correlation \(String(format: "%.4f", r)) (one layer later: \(String(format: "%.4f", rLate)))")
            XCTAssertGreaterThan(shiftSize, 5 * noise, "the vector moves the logits well beyond the engines' own disagreement")
            XCTAssertGreaterThanOrEqual(r, 0.99, "prompt \(i): llama.cpp's logit shift follows aft's")
            let order = aSteered.indices.sorted { aSteered[$0] > aSteered[$1] }
            let top = order[0], margin = aSteered[order[0]] - aSteered[order[1]]
            let llTop = llSteered[i].indices.max { llSteered[i][$0] < llSteered[i][$1] }!
            if margin > 2 * noise { compared += 1; if top == llTop { agreed += 1 } }
        }
        XCTAssertEqual(agreed, compared, "the steered top-1 token agrees wherever aft's margin exceeds the noise")
    }
}
