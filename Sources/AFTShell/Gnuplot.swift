import Foundation
import Lang

/// Renders charts with the gnuplot binary run as a process: data and script are written to the
/// output directory (so a chart can be re-drawn by hand), then gnuplot draws PNG, SVG and,
/// for the terminal, a `dumb` text chart. gnuplot's stderr is checked.
final class GnuplotRenderer: ChartRenderer {
    enum Failure: Error, CustomStringConvertible {
        case missing, failed(String)
        var description: String {
            switch self {
            case .missing: return "gnuplot is not installed (apt-get install gnuplot-nox, or run scripts/setup); the chart data and script were still written"
            case .failed(let e): return "gnuplot failed: \(e)"
            }
        }
    }

    let binary: String?
    init(binary: String? = GnuplotRenderer.find()) { self.binary = binary }

    static func find() -> String? {
        for d in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let p = "\(d)/gnuplot"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }

    /// The data file: one gnuplot index block per series, then the band (x, low, high), then marks.
    /// gnuplot does not count a block without data lines, so an empty block holds one NaN row
    /// (an undefined point) to keep the later blocks' index numbers.
    static func data(_ c: Chart) -> String {
        var s = "# \(c.title)\n"
        if let h = c.heatmap {
            // Grid form (x = column, y = row, value), a blank line after each row; NaN = missing cell.
            s += "# heatmap: column row value (\(h.valueLabel))\n"
            for (r, row) in h.values.enumerated() {
                for (k, v) in row.enumerated() { s += v.isNaN ? "\(k) \(r) NaN\n" : String(format: "%d %d %.6g\n", k, r, v) }
                s += "\n"
            }
            return s
        }
        for (i, se) in c.series.enumerated() {
            s += "# index \(i): \(se.label)\n"
            for (x, y) in se.points { s += String(format: "%.6g %.6g\n", x, y) }
            if se.points.isEmpty { s += "NaN NaN\n" }
            s += "\n\n"
        }
        s += "# index \(c.series.count): band (x low high)\n"
        for (x, lo, hi) in c.band { s += String(format: "%.6g %.6g %.6g\n", x, lo, hi) }
        if c.band.isEmpty { s += "NaN NaN NaN\n" }
        s += "\n\n# index \(c.series.count + 1): marks (x y)\n"
        for (x, y, _) in c.marks { s += String(format: "%.6g %.6g\n", x, y) }
        return s
    }

    static func quote(_ s: String) -> String { "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\"" }

    /// The plotting commands (without terminal/output lines), reading `dataFile`.
    static func script(_ c: Chart, dataFile: String, dumb: Bool = false) -> String {
        var s = "set title \(quote(c.title))\nset xlabel \(quote(c.xLabel))\nset ylabel \(quote(c.yLabel))\n"
        if let h = c.heatmap {
            func tics(_ labels: [String]) -> String { "(" + labels.enumerated().map { "\(quote($0.element)) \($0.offset)" }.joined(separator: ", ") + ")" }
            s += "set datafile missing 'NaN'\nset xtics \(tics(h.columnLabels))\nset ytics \(tics(h.rowLabels))\n"
            let rows = Double(h.rowLabels.count) - 0.5
            // Top-down: an explicit reversed range (gnuplot ignores `reverse` on a fixed range).
            s += String(format: "set xrange [-0.5:%.1f]\nset yrange [%.1f:%.1f]\n", Double(h.columnLabels.count) - 0.5,
                        h.topDown ? rows : -0.5, h.topDown ? -0.5 : rows)
            // Light palette so the printed values stay readable; each cell is a filled box, so a
            // missing (NaN) cell is simply left blank (an image plot needs a complete grid).
            s += "set cblabel \(quote(h.valueLabel))\n"
            if h.centered {
                // Signed changes: red below 0, white at 0, blue above, the same scale both ways.
                let m = max(h.values.flatMap { $0 }.filter { $0.isFinite }.map { abs($0) }.max() ?? 0, 1e-9)
                s += "set palette defined (-1 '#ef8a62', 0 '#f7f7f7', 1 '#67a9cf')\n" + String(format: "set cbrange [%.6g:%.6g]\n", -m, m)
            } else {
                s += "set palette defined (0 '#f7fbff', 1 '#c6dbef', 2 '#6baed6')\n"
            }
            s += "unset key\n"
            let f = quote(dataFile)
            return s + "plot \(f) using 1:2:(0.5):(0.5):3 with boxxyerror fill solid 1.0 noborder lc palette, \\\n"
                + "     \(f) using 1:2:(sprintf('\(h.valueFormat)', $3)) with labels font ',9'\n"
        }
        s += "set key outside right top\nset grid\n"
        if let h = c.hLine { s += String(format: "set arrow from graph 0, first %.6g to graph 1, first %.6g nohead dashtype 2\n", h.value, h.value) }
        for (x, y, label) in c.marks where !label.isEmpty {
            s += String(format: "set label %@ at first %.6g, first %.6g offset 1,-1 front\n", quote(label), x, y)
        }
        let f = quote(dataFile)
        var parts: [String] = []
        if !c.band.isEmpty && !dumb {
            parts.append("\(f) index \(c.series.count) using 1:2:3 with filledcurves lc rgb '#c6dbef' title '95% Wilson interval'")
        }
        for (i, se) in c.series.enumerated() {
            parts.append("\(f) index \(i) using 1:2 with \(se.withPoints ? "linespoints" : "lines") lw 2 title \(quote(se.label))")
        }
        if let h = c.hLine { parts.append(String(format: "%.6g with lines dashtype 2 lc rgb 'gray40' title %@", h.value, quote(h.label))) }
        if !c.marks.isEmpty {
            parts.append("\(f) index \(c.series.count + 1) using 1:2 with points pt 7 ps 2 lc rgb 'red' title \(dumb ? "'marked'" : "'best'")")
        }
        return s + "plot " + parts.joined(separator: ", \\\n     ") + "\n"
    }

    func run(_ script: String) throws -> String {
        guard let bin = binary else { throw ChartToolMissing(Failure.missing.description) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: bin)
        let inp = Pipe(), out = Pipe(), err = Pipe()
        p.standardInput = inp; p.standardOutput = out; p.standardError = err
        try p.run()
        inp.fileHandleForWriting.write(script.data(using: .utf8)!)
        try inp.fileHandleForWriting.close()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let errText = String(decoding: e, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if p.terminationStatus != 0 || errText.lowercased().contains("error") {
            throw Failure.failed(errText.isEmpty ? "exit \(p.terminationStatus)" : errText)
        }
        return String(decoding: o, as: UTF8.self)
    }

    func render(_ c: Chart, dir: String, files: Bool, inline: Bool) throws -> (files: [String], text: String?) {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let dat = "\(dir)/\(c.name).dat", gp = "\(dir)/\(c.name).gp"
        try GnuplotRenderer.data(c).write(toFile: dat, atomically: true, encoding: .utf8)
        let body = GnuplotRenderer.script(c, dataFile: dat)
        var written = [dat, gp]
        let png = "\(dir)/\(c.name).png", svg = "\(dir)/\(c.name).svg"
        func script(_ png: String, _ svg: String) -> String {
            "set terminal pngcairo size 960,600 noenhanced font 'sans,11'\nset output \(GnuplotRenderer.quote(png))\n" + body
                + "set terminal svg size 960,600 noenhanced font 'sans,11'\nset output \(GnuplotRenderer.quote(svg))\nreplot\nset output\n"
        }
        // The saved script draws to the real names; the run draws to temporary ones, renamed into
        // place only when gnuplot succeeded, so a failed or interrupted drawing leaves no half image.
        try script(png, svg).write(toFile: gp, atomically: true, encoding: .utf8)
        if files {
            let tmpPNG = png + ".tmp-\(getpid()).png", tmpSVG = svg + ".tmp-\(getpid()).svg"
            defer { unlink(tmpPNG); unlink(tmpSVG) }
            _ = try run(script(tmpPNG, tmpSVG))
            for (from, to) in [(tmpPNG, png), (tmpSVG, svg)] where rename(from, to) != 0 {
                throw Failure.failed("cannot move the drawn chart into place at \(to): \(String(cString: strerror(errno)))")
            }
            written += [png, svg]
        }
        var text: String? = nil
        if inline, let h = c.heatmap {
            text = c.title + "\n" + h.text
        } else if inline {
            let cols = Int(ProcessInfo.processInfo.environment["COLUMNS"] ?? "") ?? 100
            text = try run("set terminal dumb size \(max(60, min(cols, 160))),24\n" + GnuplotRenderer.script(c, dataFile: dat, dumb: true))
        }
        return (files ? written : [dat, gp], text)
    }
}
