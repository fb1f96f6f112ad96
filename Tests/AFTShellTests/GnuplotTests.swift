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
        XCTAssertEqual(charts.map { $0.name }, ["layer-curve", "norm-ratio", "epochs", "gradient-screen"])
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
