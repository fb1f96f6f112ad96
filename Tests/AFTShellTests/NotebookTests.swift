@testable import AFTShell
@testable import Engine
import Foundation
@testable import Lang
import XCTest

/// The notebook report: cells with output, results and errors; markdown, JSON and charts on disk;
/// training-curve charts; `aft FILE --report DIR` from the real binary; file-path completion.
final class NotebookTests: XCTestCase {
    var tmp = ""
    override func setUpWithError() throws {
        tmp = NSTemporaryDirectory() + "aft-nb-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: tmp) }

    static func fixtureTrain() -> TrainResult {
        func rec(_ e: Int, _ tl: Double, _ vl: Double, _ v: Double) -> EpochRecord {
            EpochRecord(epoch: e, trainLoss: tl, valLoss: vl, valAcc: v - 0.05, valAccNorm: v)
        }
        let r1 = TrainRun(layer: 7, seed: 11, vector: [0.1, 0.2], history: [rec(0, .nan, 1.30, 0.40), rec(1, 1.25, 1.20, 0.45), rec(2, 1.10, 1.22, 0.44)],
                          bestEpoch: 1, bestVal: 0.45, interrupted: false)
        let r2 = TrainRun(layer: 7, seed: 12, vector: [0.1, 0.3], history: [rec(0, .nan, 1.30, 0.40), rec(1, 1.20, 1.15, 0.47), rec(2, 1.00, 1.12, 0.50)],
                          bestEpoch: 2, bestVal: 0.50, interrupted: false)
        let base = [ItemScore(doc: 0, gold: 0, ll: [-1, -2], choiceChars: [3, 3]), ItemScore(doc: 1, gold: 1, ll: [-1, -2], choiceChars: [3, 3])]
        let steered = [ItemScore(doc: 0, gold: 0, ll: [-1, -2], choiceChars: [3, 3]), ItemScore(doc: 1, gold: 1, ll: [-2, -1], choiceChars: [3, 3])]
        return TrainResult(name: "hs7", layer: 7, metricName: "acc_norm", runs: [r1, r2], selectedSeed: 12,
                           report: SteeringReport(layer: 7, base: base, steered: steered, vectorNorm: 0.3, meanResidualNorm: 3))
    }

    func testTrainingCurvesOneLinePerSeedWithEarlyStopMarked() {
        let charts = Session.charts(of: NotebookTests.fixtureTrain())
        XCTAssertEqual(charts.map { $0.name }, ["train-loss", "train-val"])
        // Loss: train and validation per seed; epoch 0 has no training loss (NaN is left out, not drawn as 0).
        XCTAssertEqual(charts[0].series.map { $0.label }, ["train (seed 11)", "validation (seed 11)", "train (seed 12)", "validation (seed 12)"])
        XCTAssertEqual(charts[0].series[0].points.map { $0.0 }, [1, 2])
        XCTAssertEqual(charts[0].series[1].points.map { $0.1 }, [1.30, 1.20, 1.22])
        XCTAssertEqual(charts[0].marks.map { $0.1 }, [1.20, 1.12], "each seed's early-stop epoch on its validation loss")
        // Validation metric (acc_norm) per epoch, one line per seed; each seed's best epoch marked, the selected one labelled.
        XCTAssertEqual(charts[1].series.map { $0.label }, ["seed 11", "seed 12"])
        XCTAssertEqual(charts[1].series[1].points.map { $0.1 }, [0.40, 0.47, 0.50])
        XCTAssertEqual(charts[1].marks.map { $0.0 }, [1, 2])
        XCTAssertEqual(charts[1].marks.map { $0.1 }, [0.45, 0.50])
        XCTAssertEqual(charts[1].marks.map { $0.2 }, ["", "early stop: epoch 2"])
        let script = GnuplotRenderer.script(charts[1], dataFile: "d.dat")
        XCTAssertTrue(script.contains("set label \"early stop: epoch 2\" at first 2, first 0.5"), script)
    }

    func testResultJSONAndTables() throws {
        let t = ResultValue.train(NotebookTests.fixtureTrain())
        let j = t.json
        XCTAssertEqual(j["selected_seed"] as? UInt64, 12)
        let runs = try XCTUnwrap(j["runs"] as? [[String: Any]])
        XCTAssertEqual(runs.count, 2)
        let epochs = try XCTUnwrap(runs[0]["epochs"] as? [[String: Any]])
        XCTAssertTrue(epochs[0]["train_loss"] is NSNull, "NaN must become null in JSON")
        XCTAssertNoThrow(try JSONSerialization.data(withJSONObject: j))
        let test = try XCTUnwrap(j["test"] as? [String: Any])
        XCTAssertEqual((test["steered"] as? [String: Any])?["acc"] as? Double, 1.0)
        XCTAssertEqual((test["base"] as? [String: Any])?["acc"] as? Double, 0.5)
        XCTAssertEqual(test["mcnemar_p_acc"] as? Double, 1.0)
        let md = t.markdownTables
        XCTAssertTrue(md.contains("| 12 | 2 | 2 | 0.5000 | selected on validation |"), md)
        XCTAssertTrue(md.contains("| acc | 0.5000 [0.0945, 0.9055] | 1.0000 ["), md)
        let sweep = ResultValue.sweep(GnuplotTests.fixtureSweep()).markdownTables
        XCTAssertTrue(sweep.contains("| **8** (best) | 0.4700 | [0.3700, 0.5700] | +0.0700 | 2 | 0.090 | 1.0 |"), sweep)
        XCTAssertTrue(sweep.contains("| base | 0.4000 | [0.3000, 0.5000] |"), sweep)
    }

    /// A session without a model: text output, an error cell, a parse error; notebook files on disk.
    func testReportRecordsCellsOutputAndErrors() throws {
        let s = Session(output: { _ in })
        s.chartRenderer = GnuplotRenderer()
        try s.run(source: "help set\nset seed=3", file: "a.aft")
        XCTAssertThrowsError(try s.run(source: "show nothing", file: "<repl>"))
        XCTAssertThrowsError(try s.run(source: "evl hellaswag", file: "<repl>"))
        s.variables["t"] = .train(NotebookTests.fixtureTrain())
        try s.run(source: "show t", file: "<repl>")
        XCTAssertEqual(s.notebook.cells.map { $0.source }, ["help set", "set seed=3", "show nothing", "evl hellaswag", "show t"])
        XCTAssertTrue(s.notebook.cells[0].output.contains("threads"))
        XCTAssertEqual(s.notebook.cells[0].file, "a.aft"); XCTAssertEqual(s.notebook.cells[1].line, 2)
        XCTAssertTrue(s.notebook.cells[2].error?.contains("<repl>:1:6: error: no variable 'nothing'") == true, s.notebook.cells[2].error ?? "nil")
        XCTAssertTrue(s.notebook.cells[3].error?.contains("did you mean 'eval'?") == true)
        XCTAssertNil(s.notebook.cells[4].error)

        s.variables["_"] = nil
        try s.run(source: "t2 = show t", file: "<repl>")   // show does not store a result: no result file
        let dir = tmp + "/nb"
        try s.run(source: "report \(dir) title=\"Unit notebook\"", file: "<repl>")
        let md = try String(contentsOfFile: dir + "/notebook.md", encoding: .utf8)
        XCTAssertTrue(md.hasPrefix("# Unit notebook\n"), md)
        XCTAssertTrue(md.contains("## [1] `help set`"), md)
        XCTAssertTrue(md.contains("<sub>a.aft:2 · "), md)
        XCTAssertTrue(md.contains("**Error**"), md)
        XCTAssertTrue(md.contains("Settings: `seed=3`"), md)
        XCTAssertFalse(md.contains("## [7]"), "the report command is not a cell of its own report")
        let nb = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/notebook.json"))) as? [String: Any])
        let cells = try XCTUnwrap(nb["cells"] as? [[String: Any]])
        XCTAssertEqual(cells.count, 6)
        XCTAssertEqual(cells[2]["error"] as? String, s.notebook.cells[2].error)
        XCTAssertTrue(cells[0]["error"] is NSNull)
    }

    /// End to end on the default model: eval, sweep, train, plot and report, with real charts embedded.
    func testReportOfARealSessionEmbedsTablesChartsAndJSON() throws {
        do { _ = try ModelRegistry().resolve("smollm2-135m") } catch where ProcessInfo.processInfo.environment["AFT_REQUIRE_MODELS"] == nil {
            throw XCTSkip("smollm2-135m not fetched")
        }
        var u = URL(fileURLWithPath: #filePath)
        for _ in 0..<4 { u.deleteLastPathComponent() }
        let s = Session(output: { _ in })
        s.smoke = true
        s.chartRenderer = GnuplotRenderer()
        s.settings.out = tmp + "/runs"
        s.settings.data = u.path + "/shared/data"
        s.settings.plot = .file
        try s.run(source: """
            load smollm2-135m
            e = eval arc-easy limit=4
            r = sweep arc-easy layers 10,20 epochs=1 screen=0
            t = train layer=best epochs=2
            plot t
            """, file: "study.aft")
        let dir = tmp + "/report"
        let path = try s.writeReport(to: dir, title: "study.aft", generator: "aft test")
        let md = try String(contentsOfFile: path, encoding: .utf8)
        for needle in ["# study.aft", "Model: **smollm2-135m**", "## [3] `r = sweep arc-easy layers 10,20 epochs=1 screen=0`",
                       "| arc-easy (4 items) | value | 95% Wilson interval |", "| base |", "| test (", "results/02-eval.json",
                       "![", "charts/03-layer-curve.png", "charts/04-train-val.png"] {
            XCTAssertTrue(md.contains(needle), "notebook.md lacks '\(needle)':\n\(md)")
        }
        let eval = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/results/02-eval.json"))) as? [String: Any])
        XCTAssertEqual((eval["items"] as? [[String: Any]])?.count, 4)
        // Beside it, what lm-eval --log_samples writes for the same evaluation, linked from the notebook.
        let lmDir = dir + "/results/02-lmeval/smollm2-135m"
        let lmFiles = try FileManager.default.contentsOfDirectory(atPath: lmDir).sorted()
        XCTAssertEqual(lmFiles.count, 2, "\(lmFiles)")
        XCTAssertTrue(lmFiles[0].hasPrefix("results_") && lmFiles[1].hasPrefix("samples_arc_easy_"), "\(lmFiles)")
        XCTAssertTrue(md.contains("lm-eval files: [`results/02-lmeval/smollm2-135m/results_"), md)
        let samples = try String(contentsOfFile: lmDir + "/" + lmFiles[1], encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(samples.count, 4)
        let first = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(samples[0].utf8)) as? [String: Any])
        XCTAssertEqual(first["acc"] as? Double, (eval["items"] as? [[String: Any]])?.first.map { ($0["pred"] as? Int) == ($0["gold"] as? Int) ? 1.0 : 0.0 })
        let sweep = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/results/03-sweep.json"))) as? [String: Any])
        XCTAssertEqual((sweep["layers"] as? [[String: Any]])?.compactMap { $0["layer"] as? Int }, [10, 20])
        XCTAssertEqual(s.notebook.cells[4].chartFiles.filter { $0.hasSuffix(".png") }.count, 2, "plot t draws the two training charts")
        if GnuplotRenderer.find() != nil {
            for c in ["03-layer-curve", "03-norm-ratio", "03-epochs", "04-train-loss", "04-train-val"] {
                let png = dir + "/charts/\(c).png"
                let data = try Data(contentsOf: URL(fileURLWithPath: png))
                XCTAssertEqual(Array(data.prefix(4)), [0x89, 0x50, 0x4E, 0x47], png)
            }
        }
    }

    /// `aft FILE --report DIR` writes the notebook even when the script fails, and keeps the exit code.
    func testBinaryWritesReportAfterAFailingScript() throws {
        let aft = Bundle.module.bundleURL.deletingLastPathComponent().appendingPathComponent("aft").path
        guard FileManager.default.isExecutableFile(atPath: aft) else { throw XCTSkip("aft binary not built") }
        let script = tmp + "/s.aft"
        try "help load\nset seed=5\nshow nothing\nhelp\n".write(toFile: script, atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: aft)
        p.arguments = [script, "--report", tmp + "/rep"]
        let out = Pipe()
        p.standardOutput = out; p.standardError = out
        try p.run()
        let o = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 1, o)
        XCTAssertTrue(o.contains("report: \(tmp)/rep/notebook.md"), o)
        let md = try String(contentsOfFile: tmp + "/rep/notebook.md", encoding: .utf8)
        XCTAssertTrue(md.contains("# s.aft"), md)
        XCTAssertTrue(md.contains("## [3] `show nothing`") && md.contains("s.aft:3:6: error: no variable 'nothing'"), md)
        XCTAssertFalse(md.contains("## [4]"), "the script stopped at its first error")
        p.arguments = ["--report"]
        let q = Process(); q.executableURL = p.executableURL; q.arguments = ["-e", "help", "--report"]
        q.standardOutput = FileHandle.nullDevice; q.standardError = FileHandle.nullDevice
        try q.run(); q.waitUntilExit()
        XCTAssertEqual(q.terminationStatus, 2, "--report without a directory is a usage error")
    }

    func testCompletionOfFilePathsArgumentsAndValues() throws {
        try FileManager.default.createDirectory(atPath: tmp + "/scripts", withIntermediateDirectories: true)
        try "".write(toFile: tmp + "/study.aft", atomically: true, encoding: .utf8)
        try "".write(toFile: tmp + "/.hidden", atomically: true, encoding: .utf8)
        XCTAssertEqual(completions(line: "run \(tmp)/s", word: "\(tmp)/s", session: nil), ["\(tmp)/scripts/", "\(tmp)/study.aft"])
        XCTAssertEqual(completions(line: "run \(tmp)/", word: "\(tmp)/", session: nil), ["\(tmp)/scripts/", "\(tmp)/study.aft"])
        XCTAssertEqual(completions(line: "eval hellaswag log=\(tmp)/st", word: "log=\(tmp)/st", session: nil), ["log=\(tmp)/study.aft"])
        XCTAssertEqual(completions(line: "eval hellaswag li", word: "li", session: nil), ["limit="])
        // CAA behaviours complete as tasks (where the data is found).
        if !CAA.behaviours(dataDir: nil).isEmpty {
            XCTAssertEqual(completions(line: "extract caa/syc", word: "caa/syc", session: nil), ["caa/sycophancy"])
        }
        XCTAssertEqual(completions(line: "eval arc-e", word: "arc-e", session: nil), ["arc-easy"])
        XCTAssertEqual(completions(line: "set plot=in", word: "plot=in", session: nil), ["plot=inline"])
        XCTAssertEqual(completions(line: "sweep hellaswag loss=", word: "loss=", session: nil), ["loss=choice", "loss=lm"])
        XCTAssertEqual(completions(line: "rep", word: "rep", session: nil), ["report"])
        // Vector names (from `train … as NAME`) complete wherever a vector or variable goes.
        let s = Session(output: { _ in })
        s.vectors["hs12"] = SteeringVector(name: "hs12", values: [0, 1], layer: 12, metadata: [:])
        s.variables["r"] = .text("x")
        XCTAssertEqual(completions(line: "save h", word: "h", session: s), ["hs12"])
        XCTAssertEqual(completions(line: "eval hellaswag with=", word: "with=", session: s), ["with=hs12", "with=r", "with=model"])
        // Each positional argument completes its own kind: vector, then format, then a path.
        XCTAssertEqual(completions(line: "export ", word: "", session: s), ["hs12", "r", "model"])
        XCTAssertEqual(completions(line: "export hs12 g", word: "g", session: s), ["gguf"])
        XCTAssertEqual(completions(line: "export hs12 gguf \(tmp)/st", word: "\(tmp)/st", session: s), ["\(tmp)/study.aft"])
        XCTAssertEqual(completions(line: "sweep hellaswag layers all ep", word: "ep", session: s), ["epochs="])
        XCTAssertTrue(fileCandidates(tmp + "/.h").contains(tmp + "/.hidden"))
        XCTAssertFalse(fileCandidates(tmp + "/").contains(tmp + "/.hidden"))
    }
}

extension NotebookTests {
    /// Marks must be drawn when a chart has no band (gnuplot skips empty blocks, shifting indices):
    /// the data file keeps a placeholder row, and gnuplot reads the marks block at the index the script names.
    func testMarksAreFoundWithoutABand() throws {
        let chart = Session.charts(of: NotebookTests.fixtureTrain())[1]
        XCTAssertTrue(chart.band.isEmpty)
        let data = GnuplotRenderer.data(chart)
        XCTAssertTrue(data.contains("# index 2: band (x low high)\nNaN NaN NaN\n"), data)
        guard let gp = GnuplotRenderer.find() else { throw XCTSkip("gnuplot not installed") }
        let dat = tmp + "/m.dat"
        try data.write(toFile: dat, atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: gp)
        p.arguments = ["-e", "stats '\(dat)' index 3 using 1:2 nooutput; print STATS_records, STATS_max_y"]
        let out = Pipe(); p.standardError = out; p.standardOutput = out
        try p.run()
        let o = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(o.split(separator: "\n").last.map(String.init), "2 0.5", "the marks block (2 points, max 0.5) is index 3: \(o)")
    }
}
