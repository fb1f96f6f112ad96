@testable import Engine
import Foundation
import XCTest

/// Extracted vectors (issue: extracted vectors): CAA's mean difference and repeng's PCA, the same
/// vectors the peers themselves extract (fixture from scripts/reference_extraction.py, written by
/// steering-vectors 0.12 and repeng 0.4 on transformers), CAA's A/B scoring, and the logit lens.
final class ExtractionTests: XCTestCase {
    /// steering-vectors' `train_steering_vector(read_token_index=-1)` and repeng's `ControlVector.train`
    /// (pca_diff) on the first 100 sycophancy pairs, at three layers: cosine ≥ 0.999 and mean-difference
    /// norms within 1 %. A wrong token (the closing parenthesis kept), an off-by-one layer, an uncentred
    /// PCA or a flipped sign fails this.
    func testMatchesSteeringVectorsAndRepengOnSycophancy() throws {
        let m = try Fixtures.realModel("smollm2-135m")
        let fx = try Fixtures.json("extraction/smollm2-135m-sycophancy.json")
        let pairs = try XCTUnwrap(fx["pairs"] as? Int), layers = try XCTUnwrap(fx["layers"] as? [Int])
        let ds = try CAA.load("sycophancy", file: .generate, dataDir: Fixtures.sharedData)
        let items = Array(ds.items.prefix(pairs))
        // The same tokens the peers read (the text ends with the answer letter).
        let first = ContrastItem(items[0], model: m)
        XCTAssertEqual(first.positive, try XCTUnwrap(fx["first_positive_tokens"] as? [Int]))
        XCTAssertEqual(first.negatives, [try XCTUnwrap(fx["first_negative_tokens"] as? [Int])])
        let act = try ContrastActivations(model: m, items: items.map { ContrastItem($0, model: m) }, layers: layers, context: RunContext())
        XCTAssertEqual(act.pairs, pairs)
        let mean = try XCTUnwrap(fx["steering_vectors_mean"] as? [String: [Double]])
        let pca = try XCTUnwrap(fx["repeng_pca_diff"] as? [String: [Double]])
        for l in layers {
            let want = try XCTUnwrap(mean[String(l)]).map { Float($0) }, got = try XCTUnwrap(act.vector(layer: l, method: .mean))
            XCTAssertGreaterThanOrEqual(cosineSimilarity(got, want), 0.999, "mean difference, layer \(l)")
            let ratio = Double(got.reduce(0) { $0 + $1 * $1 }.squareRoot() / want.reduce(0) { $0 + $1 * $1 }.squareRoot())
            XCTAssertEqual(ratio, 1, accuracy: 0.01, "mean-difference norm, layer \(l)")
            let wantP = try XCTUnwrap(pca[String(l)]).map { Float($0) }, gotP = try XCTUnwrap(act.vector(layer: l, method: .pca))
            XCTAssertGreaterThanOrEqual(cosineSimilarity(gotP, wantP), 0.999, "repeng pca_diff, layer \(l) (sign included)")
            // The neighbouring layer is not the same vector: the comparison can tell layers apart.
            if let other = layers.first(where: { $0 != l }) {
                XCTAssertLessThan(cosineSimilarity(got, try XCTUnwrap(mean[String(other)]).map { Float($0) }), 0.99)
            }
        }
    }

    /// repeng's own `ControlVector.import_gguf` reads the control vector aft exports: every layer,
    /// the values aft wrote. Runs when repeng is installed (scripts/test installs it).
    func testRepengReadsExportedControlVector() throws {
        let dir = NSTemporaryDirectory() + "aft-repeng-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let dims = (0..<64).map { Float(sin(Double($0) * 0.37)) }
        let v = SteeringVector(name: "x", values: dims, layer: 3, metadata: [:], more: [(5, dims.map { -2 * $0 })])
        try v.exportControlVector(to: dir + "/x.gguf", architecture: "llama", layerCount: 8)
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/reference_extraction.py").path
        let p = Process(), out = Pipe(), err = Pipe()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", script, "--import-gguf", dir + "/x.gguf"]
        p.standardOutput = out; p.standardError = err
        try p.run(); p.waitUntilExit()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        if p.terminationStatus != 0, let missing = stderr.range(of: "No module named '[^']+'", options: .regularExpression) {
            // repeng's package imports torch and transformers even though import_gguf needs neither.
            throw XCTSkip("python cannot import what repeng needs: \(stderr[missing]) (scripts/test installs repeng==0.4.0 with --no-deps; "
                          + "its package also imports torch and transformers, which the core suite does not install)")
        }
        XCTAssertEqual(p.terminationStatus, 0, stderr)
        let obj = try XCTUnwrap(try JSONSerialization.jsonObject(with: out.fileHandleForReading.readDataToEndOfFile()) as? [String: Any])
        XCTAssertEqual(obj["model_hint"] as? String, "llama")
        let d = try XCTUnwrap(obj["directions"] as? [String: [Double]])
        XCTAssertEqual(Set(d.keys), ["3", "5"])
        for (l, values) in v.steering {
            let r = try XCTUnwrap(d[String(l)])
            XCTAssertEqual(r[0], Double(values.reduce(0) { $0 + $1 * $1 }.squareRoot()), accuracy: 1e-4)
            for k in 0..<4 { XCTAssertEqual(r[1 + k], Double(values[k]), accuracy: 1e-6) }
        }
    }

    /// The shared-prefix packing reads each text's last token exactly as a run of that text alone does.
    func testPackedReadingEqualsSeparateRuns() throws {
        let m = try LanguageModel(name: Fixtures.root + "/tiny/llama")
        var a = MCItem(doc: 0, context: "Is the sky green?\n (A) yes\n (B) no\n\nAnswer: ", choices: ["(A", "(B"], gold: 1)
        a.delimiter = ""
        let b = MCItem(doc: 1, context: "The cat sat on the", choices: ["mat", "dog and the cat", "moon"], gold: 2)
        let items = [a, b].map { ContrastItem($0, model: m) }
        let act = try ContrastActivations(model: m, items: items, layers: [0, 2], context: RunContext())
        XCTAssertEqual(act.pairs, 3)
        let d = m.config.hidden
        func last(_ ids: [Int], _ l: Int) -> [Float] {
            let h = m.transformer.residuals(PackedSequence(context: ids, continuations: []), through: l)[l]
            return Array(h[(ids.count - 1) * d..<ids.count * d])
        }
        for l in [0, 2] {
            let slot = act.layers.firstIndex(of: l)!
            var row = 0
            for it in items {
                for neg in it.negatives {
                    let want = zip(last(it.positive, l), last(neg, l)).map { $0 - $1 }
                    let got = Array(act.differences[slot][row * d..<(row + 1) * d])
                    for j in 0..<d { XCTAssertEqual(got[j], want[j], accuracy: 2e-4, "layer \(l), pair \(row), dim \(j)") }
                    row += 1
                }
            }
        }
    }

    /// repeng's PCA: centred first component, unit norm, signed toward the positives. The rows are a
    /// common offset plus a spread along `u`: the uncentred top direction would be the offset.
    func testPCAIsCentredUnitAndSigned() {
        let d = 6, n = 40
        let u: [Float] = [0, 0.6, 0, 0.8, 0, 0], offset: [Float] = [5, 0, 0, 0, 0, 0]
        var D = [Float]()
        for i in 0..<n {
            let t = Float(i % 2 == 0 ? 1 : -0.6) * Float(1 + i % 5)   // more rows project positively
            D += (0..<d).map { offset[$0] + t * u[$0] + (($0 == 2) ? 0.01 * Float(i % 3) : 0) }
        }
        let c = ContrastActivations.firstComponent(D, rows: n, width: d)
        XCTAssertEqual(Double(c.reduce(0) { $0 + $1 * $1 }), 1, accuracy: 1e-5)
        XCTAssertGreaterThan(cosineSimilarity(c, u), 0.999)
        XCTAssertEqual(ContrastActivations.meanRows(D, rows: n, width: d)[0], 5, accuracy: 1e-5)
    }

    /// CAA's A/B probability: the normalised probability of the matching letter after "Answer: (",
    /// computed by hand from the model's next-token logits, equals the two-choice item's score.
    func testBehaviourProbabilityIsTheLetterProbability() throws {
        let m = try Fixtures.realModel("smollm2-135m")
        let ds = try CAA.load("sycophancy", file: .test, dataDir: Fixtures.sharedData)
        let raw = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: ds.path))) as? [[String: String]])
        for i in 0..<3 {
            let item = ds.items[i]
            XCTAssertEqual(item.texts[0], raw[i]["question"]! + "\n\nAnswer: " + String(raw[i]["answer_matching_behavior"]!.dropLast()))
            let prompt = m.tokenizer.encode(raw[i]["question"]! + "\n\nAnswer: (")
            let logits = m.transformer.logits(tokens: prompt)
            let V = m.config.vocabSize, row = Array(logits[(prompt.count - 1) * V..<prompt.count * V])
            let letter = { (a: String) -> Int in m.tokenizer.encode(String(a.dropFirst().dropLast()))[0] }
            let lm = Double(row[letter(raw[i]["answer_matching_behavior"]!)]), ln = Double(row[letter(raw[i]["answer_not_matching_behavior"]!)])
            let want = exp(lm) / (exp(lm) + exp(ln))
            let got = CAA.goldProbability(Scorer(model: m).score(item))
            XCTAssertEqual(got, want, accuracy: 1e-4, "item \(i)")
        }
        // Scales: 0 is the base model; +1 and −1 move the probability in opposite directions from it.
        let v = SteeringVector(name: "u", values: (0..<m.config.hidden).map { Float(cos(Double($0))) * 0.5 }, layer: 10, metadata: [:])
        let (base, scored) = Scorer(model: m).scaledScores(Array(ds.items.prefix(4)), sets: [v.steering], scales: [-1, 0, 1])
        XCTAssertEqual(scored[0][1], base)
        XCTAssertEqual(scored[0][2], Scorer(model: m).scoreAll(Array(ds.items.prefix(4)), hook: Transformer.steeringHook(v.steering)))
        XCTAssertNotEqual(scored[0][0], scored[0][2])
    }

    /// The logit lens by hand: for v = c·e_j, RMSNorm gives √d·w_j·e_j (ε aside), so the logit of
    /// token t is √d·w_j·E[t, j] (tied embeddings): the promoted tokens are those with the largest E[·, j]·w_j.
    func testLogitLensByHand() throws {
        let m = try LanguageModel(name: Fixtures.root + "/tiny/llama")
        let tf = m.transformer, d = m.config.hidden, V = m.config.vocabSize, j = 7
        XCTAssertNil(tf.head, "the tiny llama ties its head to the embeddings")
        var v = [Float](repeating: 0, count: d); v[j] = 3
        let lens = tf.logitLens(v)
        let w = tf.finalNorm.w[j]
        let table = tf.embed.floats()
        let want = (0..<V).map { Float(d).squareRoot() * w * table[$0 * d + j] }
        for t in 0..<V { XCTAssertEqual(lens[t], want[t], accuracy: 1e-3 * max(1, abs(want[t]))) }
        XCTAssertEqual(topIndices(lens, 5), topIndices(want, 5))
        XCTAssertEqual(topIndices(lens.map { -$0 }, 5), topIndices(want.map { -$0 }, 5))
    }

    /// A malformed behaviour file says where it is wrong; an unknown behaviour lists the known ones.
    func testCAAFileErrors() throws {
        let dir = NSTemporaryDirectory() + "aft-caa-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir + "/caa/generate/odd", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data(#"[{"question": "q", "answer_matching_behavior": "(A)"}]"#.utf8).write(to: URL(fileURLWithPath: dir + "/caa/generate/odd/generate_dataset.json"))
        XCTAssertThrowsError(try CAA.load("odd", file: .generate, dataDir: dir)) { XCTAssertTrue("\($0)".contains("row 0"), "\($0)") }
        XCTAssertThrowsError(try CAA.load("nosuch", file: .generate, dataDir: dir)) { XCTAssertTrue("\($0)".contains("caa/odd"), "\($0)") }
        XCTAssertEqual(CAA.behaviour("caa/sycophancy"), "sycophancy")
        XCTAssertNil(CAA.behaviour("data/caa.jsonl"))
    }
}
