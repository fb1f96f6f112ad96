@testable import AFTShell
import Engine
import Foundation
import Lang
import XCTest

/// The gnuplot layer: generated data and script against golden files, and real PNG/SVG output.
final class GnuplotTests: XCTestCase {
    static func fixtureSweep() -> SweepResult {
        func lr(_ l: Int, _ m: Double, _ e: Int) -> LayerResult {
            LayerResult(layer: l, valN: 64, valMetric: m, valLow: m - 0.1, valHigh: m + 0.1, valAcc: m - 0.02, valAccNorm: m, bestEpoch: e,
                        vectorNorm: 0.5, normRatio: 0.01 * Double(l + 1), seconds: 1, seedMetrics: [m],
                        epochValMetric: [0.40, m - 0.01, m], epochTrainLoss: [0, 1.2, 1.1])
        }
        return SweepResult(task: "hellaswag", model: "smollm2-135m", metricName: "acc_norm",
                           layers: [lr(0, 0.41, 1), lr(8, 0.47, 2), lr(16, 0.44, 2)], baseMetric: 0.40, baseLow: 0.3, baseHigh: 0.5,
                           runDir: "/tmp/x", screen: [1.0, 0.5, 0.25], interrupted: false)
    }

    func golden(_ name: String) throws -> String {
        let u = try XCTUnwrap(Bundle.module.url(forResource: "Golden/\(name)", withExtension: nil))
        return try String(contentsOf: u, encoding: .utf8)
    }

    func testLayerCurveScriptAndDataMatchGolden() throws {
        let charts = Session.charts(of: GnuplotTests.fixtureSweep())
        XCTAssertEqual(charts.map { $0.name }, ["layer-curve", "norm-ratio", "epochs", "layer-epoch", "gradient-screen"])
        let curve = charts[0]
        XCTAssertEqual(GnuplotRenderer.data(curve), try golden("layer-curve.dat"))
        XCTAssertEqual(GnuplotRenderer.script(curve, dataFile: "layer-curve.dat"), try golden("layer-curve.gp"))
        XCTAssertEqual(curve.marks.first?.2, "best: layer 8")
    }

    func testRendersPNGAndSVGWithGnuplot() throws {
        let r = GnuplotRenderer()
        guard r.binary != nil else { throw XCTSkip("gnuplot not installed") }
        let dir = NSTemporaryDirectory() + "aft-plot-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (files, text) = try r.render(Session.charts(of: GnuplotTests.fixtureSweep())[0], dir: dir, files: true, inline: true)
        let png = try XCTUnwrap(files.first { $0.hasSuffix(".png") })
        let d = try Data(contentsOf: URL(fileURLWithPath: png))
        XCTAssertEqual(Array(d.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], "PNG signature")
        // IHDR width and height (big-endian) at bytes 16..<24: the requested 960×600.
        let w = d[16..<20].reduce(0) { $0 << 8 | Int($1) }, h = d[20..<24].reduce(0) { $0 << 8 | Int($1) }
        XCTAssertEqual(w, 960); XCTAssertEqual(h, 600)
        let svg = try String(contentsOfFile: try XCTUnwrap(files.first { $0.hasSuffix(".svg") }), encoding: .utf8)
        XCTAssertTrue(svg.contains("<svg"))
        XCTAssertTrue(text?.contains("validation acc_norm") ?? false, "inline dumb chart")
    }

    func testMissingGnuplotIsAClearErrorAndDataIsStillWritten() throws {
        let r = GnuplotRenderer(binary: nil)
        let dir = NSTemporaryDirectory() + "aft-plot-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        XCTAssertThrowsError(try r.render(Session.charts(of: GnuplotTests.fixtureSweep())[0], dir: dir, files: true, inline: false)) { e in
            XCTAssertTrue("\(e)".contains("gnuplot is not installed"), "\(e)")
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/layer-curve.dat"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/layer-curve.gp"))
    }
}

extension GnuplotTests {
    /// The layer × epoch heatmap: matrix data and image script against golden files, a text table
    /// inline, and a real PNG where gnuplot is installed.
    func testLayerEpochHeatmap() throws {
        var sweep = GnuplotTests.fixtureSweep()
        sweep.layers[2] = LayerResult(layer: 16, valN: 64, valMetric: 0.44, valLow: 0.34, valHigh: 0.54, valAcc: 0.42, valAccNorm: 0.44,
                                      bestEpoch: 1, vectorNorm: 0.5, normRatio: 0.17, seconds: 1, seedMetrics: [0.44],
                                      epochValMetric: [0.40, 0.44], epochTrainLoss: [0, 1.2])   // stopped early: one missing cell
        let heat = try XCTUnwrap(Session.charts(of: sweep).first { $0.name == "layer-epoch" })
        let h = try XCTUnwrap(heat.heatmap)
        XCTAssertEqual(h.rowLabels, ["0", "8", "16"]); XCTAssertEqual(h.columnLabels, ["0", "1", "2"])
        XCTAssertTrue(h.values[2][2].isNaN)
        let data = GnuplotRenderer.data(heat), script = GnuplotRenderer.script(heat, dataFile: "layer-epoch.dat")
        if ProcessInfo.processInfo.environment["AFT_UPDATE_GOLDEN"] == "1" {   // regenerate after an intended change
            let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().path + "/Golden"
            try data.write(toFile: dir + "/layer-epoch.dat", atomically: true, encoding: .utf8)
            try script.write(toFile: dir + "/layer-epoch.gp", atomically: true, encoding: .utf8)
        }
        XCTAssertEqual(data, try golden("layer-epoch.dat"))
        XCTAssertEqual(script, try golden("layer-epoch.gp"))
        XCTAssertEqual(h.text, "             0      1      2\n      0  0.400  0.400  0.410\n      8  0.400  0.460  0.470\n     16  0.400  0.440      ·\n")
        let r = GnuplotRenderer()
        guard r.binary != nil else { throw XCTSkip("gnuplot not installed") }
        let dir = NSTemporaryDirectory() + "aft-heat-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (files, text) = try r.render(heat, dir: dir, files: true, inline: true)
        let png = try Data(contentsOf: URL(fileURLWithPath: try XCTUnwrap(files.first { $0.hasSuffix(".png") })))
        XCTAssertEqual(Array(png.prefix(4)), [0x89, 0x50, 0x4E, 0x47])
        XCTAssertEqual(png[16..<20].reduce(0) { $0 << 8 | Int($1) }, 960)
        XCTAssertTrue(text?.contains("0.470") == true, text ?? "")
    }
}
