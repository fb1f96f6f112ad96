@testable import AFTShell
@testable import Engine
import Foundation
@testable import Lang
import XCTest

/// `compose` from the language: the interference matrix on held-out test items, its heatmap
/// (golden script, real PNG), its notebook table and JSON, vectors saved and loaded back, and
/// clear errors for what cannot be composed.
final class ComposeCommandTests: XCTestCase {
    var tmp = ""
    override func setUpWithError() throws {
        tmp = NSTemporaryDirectory() + "aft-compose-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: tmp) }

    static func fixture() -> CompositionResult {
        func sc(_ doc: Int, _ right: Bool) -> ItemScore { ItemScore(doc: doc, gold: 0, ll: right ? [-1, -2] : [-2, -1], choiceChars: [3, 3]) }
        let base = [[sc(0, false), sc(1, true)], [sc(5, true), sc(6, false)]]
        let rows = [[[sc(0, true), sc(1, true)], [sc(5, true), sc(6, false)]],     // a: +50 on its task, 0 on the other
                    [[sc(0, false), sc(1, false)], [sc(5, true), sc(6, true)]],    // b: −50 on task a, +50 on its own
                    [[sc(0, true), sc(1, false)], [sc(5, true), sc(6, true)]],     // sum
                    [[sc(0, true), sc(1, true)], [sc(5, true), sc(6, true)]]]      // routed
        return CompositionResult(model: "smollm2-135m", tasks: ["hellaswag", "arc-easy"], generative: [false, false], rows: ["a", "b", "sum", "routed"],
                                 rowLayers: [12, 8, nil, nil], base: base, scores: rows, vectorTasks: ["hellaswag", "arc-easy"],
                                 routers: [RouterOutcome(kind: .centroid, choices: [[0, 0], [1, 1]], detail: "nearest centroid")], metricNorm: true,
                                 seconds: 1, interrupted: false)
    }

    func golden(_ name: String) throws -> String {
        try String(contentsOf: try XCTUnwrap(Bundle.module.url(forResource: "Golden/\(name)", withExtension: nil)), encoding: .utf8)
    }

    /// The interference heatmap: Δ in points, rows top-down, a diverging palette centred on 0.
    func testInterferenceHeatmapMatchesGolden() throws {
        let charts = Session.charts(of: ComposeCommandTests.fixture())
        XCTAssertEqual(charts.map { $0.name }, ["interference"])
        let h = try XCTUnwrap(charts[0].heatmap)
        XCTAssertEqual(h.rowLabels, ["a (L12)", "b (L8)", "sum", "routed"])
        XCTAssertEqual(h.values, [[50, 0], [-50, 50], [0, 50], [50, 50]])
        let data = GnuplotRenderer.data(charts[0]), script = GnuplotRenderer.script(charts[0], dataFile: "interference.dat")
        if ProcessInfo.processInfo.environment["AFT_UPDATE_GOLDEN"] == "1" {
            let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().path + "/Golden"
            try data.write(toFile: dir + "/interference.dat", atomically: true, encoding: .utf8)
            try script.write(toFile: dir + "/interference.gp", atomically: true, encoding: .utf8)
        }
        XCTAssertEqual(data, try golden("interference.dat"))
        XCTAssertEqual(script, try golden("interference.gp"))
        XCTAssertTrue(script.contains("set cbrange [-50:50]") && script.contains("set yrange [3.5:-0.5]"), script)
        XCTAssertTrue(h.text.contains("-50.0"), h.text)
        let table = ResultValue.compose(ComposeCommandTests.fixture()).markdownTables
        XCTAssertTrue(table.contains("| a (layer 12) | +0.5000 (p=1) | +0.0000 (p=1) |"), table)
        let r = GnuplotRenderer()
        guard r.binary != nil else { throw XCTSkip("gnuplot not installed") }
        let (files, _) = try r.render(charts[0], dir: tmp, files: true, inline: false)
        let png = try Data(contentsOf: URL(fileURLWithPath: try XCTUnwrap(files.first { $0.hasSuffix(".png") })))
        XCTAssertEqual(Array(png.prefix(4)), [0x89, 0x50, 0x4E, 0x47])
    }

    /// End to end on the default model: vectors with provenance, one saved and loaded back, composed
    /// on held-out items only, plotted and written to the notebook.
    func testComposeOnTheRealModelUsesHeldOutItemsAndReports() throws {
        do { _ = try ModelRegistry().resolve("smollm2-135m") } catch where ProcessInfo.processInfo.environment["AFT_REQUIRE_MODELS"] == nil {
            throw XCTSkip("smollm2-135m not fetched")
        }
        var u = URL(fileURLWithPath: #filePath)
        for _ in 0..<4 { u.deleteLastPathComponent() }
        var out: [String] = []
        let s = Session(output: { out.append($0) })
        s.chartRenderer = GnuplotRenderer()
        s.settings.out = tmp + "/runs"
        s.settings.data = u.path + "/shared/data"
        s.settings.plot = .file
        try s.run(source: "load smollm2-135m", file: "t.aft")
        let d = try XCTUnwrap(s.model).config.hidden
        var g = SeededRandom(seed: 9)
        func vec(_ name: String, _ task: String, _ layer: Int, splitSeed: Int) -> SteeringVector {
            SteeringVector(name: name, values: (0..<d).map { _ in Float(Double.random(in: -0.5...0.5, using: &g)) }, layer: layer,
                           metadata: ["model": "smollm2-135m", "task": task, "split_seed": String(splitSeed), "train": "8", "val": "8", "test": "20"])
        }
        s.vectors["hs"] = vec("hs", "hellaswag", 12, splitSeed: 1)
        s.vectors["hs-other"] = vec("hs-other", "hellaswag", 10, splitSeed: 2)   // different splits: its training items must be excluded too
        s.vectors["arc"] = vec("arc", "arc-easy", 8, splitSeed: 1)
        // Every further positional of compose completes as a vector name.
        XCTAssertTrue(completions(line: "compose hs ar", word: "ar", session: s).contains("arc"))
        XCTAssertTrue(completions(line: "compose hs arc ", word: "", session: s).contains("hs-other"))
        let file = tmp + "/arc.safetensors"
        try s.run(source: "save arc to \(file)\nload \(file) as arc2", file: "t.aft")
        XCTAssertEqual(s.vectors["arc2"]?.values, s.vectors["arc"]?.values)
        XCTAssertEqual(s.vectors["arc2"]?.metadata["task"], "arc-easy")

        try s.run(source: "c = compose hs hs-other arc2 limit=3\nplot c", file: "t.aft")
        guard let c = s.variables["c"]?.as(CompositionResult.self) else { return XCTFail("compose stores its result") }
        XCTAssertEqual(c.rows, ["hs", "hs-other", "arc2", "sum", "routed (keyword)", "routed (centroid)", "5-shot prompt"])
        XCTAssertEqual(c.tasks, ["hellaswag", "arc-easy"])
        XCTAssertEqual(c.vectorTasks, ["hellaswag", "hellaswag", "arc-easy"])
        let hsN = try Dataset.load("hellaswag", dataDir: s.settings.data).items.count
        let a = try Splits(count: hsN, train: 8, val: 8, test: 20, seed: 1), b = try Splits(count: hsN, train: 8, val: 8, test: 20, seed: 2)
        let seen = Set(a.train + a.val + b.train + b.val)
        let docs = c.base[0].map { $0.doc }
        XCTAssertEqual(docs.count, 3)
        XCTAssertTrue(docs.allSatisfy { a.test.contains($0) && !seen.contains($0) }, "test items of hs's split, none trained or selected on: \(docs)")
        XCTAssertTrue(out.joined(separator: "\n").contains("compose on smollm2-135m: Δ acc_norm vs base"), out.joined(separator: "\n"))
        XCTAssertTrue(s.notebook.cells.last?.chartFiles.contains { $0.hasSuffix("interference.png") } ?? false)

        let path = try s.writeReport(to: tmp + "/report", title: "compose", generator: "aft test")
        let md = try String(contentsOfFile: path, encoding: .utf8)
        XCTAssertTrue(md.contains("| steered with | hellaswag (n=3, acc_norm) | arc-easy (n=3, acc_norm) |"), md)
        XCTAssertTrue(md.contains("-interference.png"), md)
        let jsonFile = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: tmp + "/report/results").first { $0.hasSuffix("compose.json") })
        let j = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: tmp + "/report/results/" + jsonFile))) as? [String: Any])
        XCTAssertEqual((j["matrix"] as? [[Any]])?.count, 7)
        XCTAssertEqual(((j["items"] as? [[Any]])?.first)?.count, 3)
    }

    /// What cannot be composed is refused with what was wrong and where.
    func testComposeErrorsNameTheProblem() throws {
        let s = Session(output: { _ in })
        XCTAssertThrowsError(try s.run(source: "compose", file: "e.aft")) { XCTAssertTrue("\($0)".contains("needs <vector>"), "\($0)") }
        XCTAssertThrowsError(try s.run(source: "compose a", file: "e.aft")) { XCTAssertTrue("\($0)".contains("no model loaded"), "\($0)") }
        XCTAssertThrowsError(try s.run(source: "compose a tasks=1", file: "e.aft")) { XCTAssertTrue("\($0)".contains("tasks"), "\($0)") }
        XCTAssertThrowsError(try s.run(source: "load /nonexistent/v.safetensors as x", file: "e.aft"))
        let bad = tmp + "/bad.safetensors"
        try Data("not a safetensors file".utf8).write(to: URL(fileURLWithPath: bad))
        XCTAssertThrowsError(try s.run(source: "load \(bad)", file: "e.aft")) { XCTAssertTrue("\($0)".contains("is not a steering vector saved by aft"), "\($0)") }
        do { _ = try ModelRegistry().resolve("smollm2-135m") } catch { return }
        var u = URL(fileURLWithPath: #filePath)
        for _ in 0..<4 { u.deleteLastPathComponent() }
        s.settings.data = u.path + "/shared/data"
        try s.run(source: "load smollm2-135m", file: "e.aft")
        let d = try XCTUnwrap(s.model).config.hidden
        s.vectors["hs"] = SteeringVector(name: "hs", values: [Float](repeating: 0, count: d), layer: 3,
                                         metadata: ["model": "smollm2-135m", "task": "hellaswag", "split_seed": "0", "train": "4", "val": "4", "test": "4"])
        s.vectors["bare"] = SteeringVector(name: "bare", values: [Float](repeating: 0, count: d), layer: 3, metadata: ["task": "hellaswag"])
        s.vectors["other"] = SteeringVector(name: "other", values: [Float](repeating: 0, count: d), layer: 3, metadata: ["model": "qwen2.5-coder-0.5b", "task": "hellaswag"])
        XCTAssertThrowsError(try s.run(source: "compose hz", file: "e.aft")) { XCTAssertTrue("\($0)".contains("did you mean 'hs'"), "\($0)") }
        XCTAssertThrowsError(try s.run(source: "compose hs hs", file: "e.aft")) { XCTAssertTrue("\($0)".contains("named twice"), "\($0)") }
        XCTAssertThrowsError(try s.run(source: "compose bare", file: "e.aft")) { XCTAssertTrue("\($0)".contains("lacks split provenance"), "\($0)") }
        XCTAssertThrowsError(try s.run(source: "compose other", file: "e.aft")) { XCTAssertTrue("\($0)".contains("trained on qwen2.5-coder-0.5b"), "\($0)") }
        XCTAssertThrowsError(try s.run(source: "compose hs route=centroid limit=2", file: "e.aft")) {
            XCTAssertTrue("\($0)".contains("route=centroid needs vectors for two or more tasks"), "\($0)")
        }
        XCTAssertThrowsError(try s.run(source: "compose hs tasks=nosuch", file: "e.aft")) { XCTAssertTrue("\($0)".contains("nosuch"), "\($0)") }
    }
}
