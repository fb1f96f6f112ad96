import Engine
import Foundation

extension Session {
    /// Writes the session's notebook to `dir`: `notebook.md` (each statement as a cell with its output,
    /// result tables and charts), `notebook.json` (every cell), `results/NN-KIND.json` (raw results) and
    /// `charts/NN-NAME.{png,svg,dat,gp}`. Returns the markdown file's path.
    @discardableResult
    /// A directory that already holds files is refused unless `overwrite`, which first removes the
    /// notebook a report writes there (notebook.md, notebook.json, results/, charts/), so two
    /// sessions' files are never mixed.
    public func writeReport(to dir: String, title: String? = nil, generator: String = "aft", overwrite: Bool = false) throws -> String {
        let fm = FileManager.default
        let root = (dir as NSString).expandingTildeInPath
        if let existing = try? fm.contentsOfDirectory(atPath: root), !existing.isEmpty {
            guard overwrite else {
                throw EngineError.io(path: root, message: "already holds \(existing.count) file(s) (\(existing.sorted().prefix(3).joined(separator: ", "))…); give overwrite=yes to replace its notebook, or choose another directory")
            }
            for own in ["notebook.md", "notebook.json", "results", "charts"] where fm.fileExists(atPath: root + "/" + own) {
                do { try fm.removeItem(atPath: root + "/" + own) } catch {
                    throw EngineError.io(path: root + "/" + own, message: "cannot remove the old notebook: \(error.localizedDescription)")
                }
            }
        }
        do {
            for sub in ["", "/results", "/charts"] { try fm.createDirectory(atPath: root + sub, withIntermediateDirectories: true) }
        } catch {
            throw EngineError.io(path: root, message: "cannot create the report directory: \(error.localizedDescription)")
        }
        let cells = notebook.cells
        let iso = ISO8601DateFormatter()
        var md = "# \(title ?? "AFT session")\n\n"
        let total = cells.reduce(0) { $0 + $1.seconds }
        let failed = cells.filter { $0.error != nil }.count
        md += "_\(generator) · started \(iso.string(from: notebook.started)) · \(cells.count) cell\(cells.count == 1 ? "" : "s")"
        md += String(format: " · %.1f s of work", total) + (failed > 0 ? " · \(failed) failed" : "") + "_\n\n"
        if let m = model { md += "Model: **\(m.name)** (\(m.config.arch.name), \(m.config.layers) layers, hidden \(m.config.hidden)) from `\(m.path)`\n\n" }
        if !settings.changed.isEmpty {
            md += "Settings: " + settings.changed.map { "`\($0.key)=\($0.value)`" }.joined(separator: ", ") + "\n\n"
        }
        if cells.isEmpty { md += "_No commands ran in this session yet._\n" }

        var jsonCells: [[String: Any]] = []
        var chartNotes: [String] = []
        for c in cells {
            let tag = String(format: "%02d", c.index)
            md += "## [\(c.index)] `\(c.source.replacingOccurrences(of: "`", with: "'").replacingOccurrences(of: "\n", with: " ⏎ "))`\n\n"
            md += "<sub>\(c.file):\(c.line) · " + String(format: "%.2f s", c.seconds) + "</sub>\n\n"
            if !c.output.isEmpty { md += fenced(c.output) }
            if let e = c.error { md += "**Error**\n\n" + fenced(e) }
            var cell: [String: Any] = ["index": c.index, "source": c.source, "file": c.file, "line": c.line, "output": c.output,
                                       "seconds": c.seconds, "started": iso.string(from: c.started), "error": c.error as Any? ?? NSNull()]
            if let r = c.result {
                let tables = r.markdownTables
                if !tables.isEmpty { md += tables + "\n" }
                let rel = "results/\(tag)-\(r.kind).json"
                try writeJSON(r.json, to: "\(root)/\(rel)")
                cell["result"] = rel
                var charts: [Chart] = []
                if r.result.plotDirectory(outDir: outDir) != nil { charts = r.result.charts(what: nil) }
                for var ch in charts {
                    ch.name = "\(tag)-\(ch.name)"
                    guard let renderer = chartRenderer else { chartNotes.append("charts need the shell's gnuplot renderer"); break }
                    do {
                        _ = try renderer.render(ch, dir: "\(root)/charts", files: true, inline: false)
                        md += "![\(ch.title)](charts/\(ch.name).png)\n\n"
                    } catch {
                        md += "_Chart `\(ch.name)` not drawn: \(error). Its data and gnuplot script are in `charts/\(ch.name).dat` and `.gp`._\n\n"
                        chartNotes.append("\(error)")
                    }
                }
                md += "Raw result: [`\(rel)`](\(rel))\n\n"
            }
            if !c.chartFiles.isEmpty { cell["chart_files"] = c.chartFiles }
            jsonCells.append(cell)
        }
        try writeJSON(["title": title ?? "AFT session", "generator": generator, "started": iso.string(from: notebook.started),
                       "model": model.map { ["name": $0.name, "path": $0.path] as [String: Any] } ?? NSNull(),
                       "settings": Dictionary(uniqueKeysWithValues: settings.changed.map { ($0.key, $0.value) }), "cells": jsonCells], to: "\(root)/notebook.json")
        let path = "\(root)/notebook.md"
        do { try md.write(toFile: path, atomically: true, encoding: .utf8) }
        catch { throw EngineError.io(path: path, message: error.localizedDescription) }
        if let first = chartNotes.first { output("report: some charts were not drawn (\(first)); their data and scripts are in \(root)/charts") }
        return path
    }

    /// A fenced text block whose fence cannot be closed by the text itself.
    private func fenced(_ text: String) -> String {
        var fence = "```"
        while text.contains(fence) { fence += "`" }
        return "\(fence)text\n\(text)\n\(fence)\n\n"
    }

    private func writeJSON(_ obj: Any, to path: String) throws {
        do {
            let data = try JSONSerialization.data(withJSONObject: obj, options: [.prettyPrinted, .sortedKeys])
            try data.write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch { throw EngineError.io(path: path, message: error.localizedDescription) }
    }

    func report(_ s: Statement) throws {
        let dir = try positional(s, 0)
        let path = try writeReport(to: dir, title: str(s.named("title")), overwrite: word(arg(s, "overwrite")) == "yes")
        output("wrote the notebook of \(notebook.cells.count) cells to \(path)")
    }
}
