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
        // A report killed half-way leaves only its staging directory: removed here, and not counted as content.
        let staging = ".notebook-tmp-"
        for e in (try? fm.contentsOfDirectory(atPath: root)) ?? [] where e.hasPrefix(staging) {
            if let pid = Int32(e.dropFirst(staging.count)), pid != getpid(), kill(pid, 0) == 0 { continue }   // another live writer's
            try? fm.removeItem(atPath: root + "/" + e)
        }
        let own = ["notebook.json", "results", "charts", "notebook.md"]
        if let existing = try? fm.contentsOfDirectory(atPath: root).filter({ !$0.hasPrefix(staging) }), !existing.isEmpty {
            guard overwrite else {
                throw EngineError.io(path: root, message: "already holds \(existing.count) file(s) (\(existing.sorted().prefix(3).joined(separator: ", "))…); give overwrite=yes to replace its notebook, or choose another directory")
            }
        }
        // Everything is written into a staging directory first, then moved into place with the
        // notebook.md last: a notebook.md that can be seen always belongs to a complete notebook.
        let stage = root + "/" + staging + "\(getpid())"
        do {
            try? fm.removeItem(atPath: stage)
            for sub in ["", "/results", "/charts"] { try fm.createDirectory(atPath: stage + sub, withIntermediateDirectories: true) }
        } catch {
            throw EngineError.io(path: root, message: "cannot create the report directory: \(error.localizedDescription)")
        }
        defer { try? fm.removeItem(atPath: stage) }
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
                try writeJSON(r.json, to: "\(stage)/\(rel)")
                cell["result"] = rel
                var charts: [Chart] = []
                if r.result.plotDirectory(outDir: outDir) != nil { charts = r.result.charts(what: nil) }
                for var ch in charts {
                    ch.name = "\(tag)-\(ch.name)"
                    guard let renderer = chartRenderer else { chartNotes.append("charts need the shell's gnuplot renderer"); break }
                    do {
                        _ = try renderer.render(ch, dir: "\(stage)/charts", files: true, inline: false)
                        md += "![\(ch.title)](charts/\(ch.name).png)\n\n"
                    } catch {
                        md += "_Chart `\(ch.name)` not drawn: \(error). Its data and gnuplot script are in `charts/\(ch.name).dat` and `.gp`._\n\n"
                        chartNotes.append("\(error)")
                    }
                }
                md += "Raw result: [`\(rel)`](\(rel))\n\n"
                // Files other tools read, beside the raw result (lm-eval's results and samples for an eval).
                let companions = try r.result.writeCompanions(to: "\(stage)/results/\(tag)-lmeval")
                if !companions.isEmpty {
                    let rels = companions.map { String($0.dropFirst(stage.count + 1)) }
                    md += "lm-eval files: " + rels.map { "[`\($0)`](\($0))" }.joined(separator: ", ") + "\n\n"
                    cell["lmeval_files"] = rels
                }
            }
            if !c.chartFiles.isEmpty { cell["chart_files"] = c.chartFiles }
            jsonCells.append(cell)
        }
        try writeJSON(["title": title ?? "AFT session", "generator": generator, "started": iso.string(from: notebook.started),
                       "model": model.map { ["name": $0.name, "path": $0.path] as [String: Any] } ?? NSNull(),
                       "settings": Dictionary(uniqueKeysWithValues: settings.changed.map { ($0.key, $0.value) }), "cells": jsonCells], to: "\(stage)/notebook.json")
        let path = "\(root)/notebook.md"
        do { try Data(md.utf8).write(to: URL(fileURLWithPath: stage + "/notebook.md")) }
        catch { throw EngineError.io(path: stage + "/notebook.md", message: error.localizedDescription) }
        // gnuplot scripts name their output files: the paths they will have, not the staging ones.
        for f in (try? fm.contentsOfDirectory(atPath: stage + "/charts")) ?? [] where f.hasSuffix(".gp") {
            let p = stage + "/charts/" + f
            if let text = try? String(contentsOfFile: p, encoding: .utf8) {
                try? Data(text.replacingOccurrences(of: stage + "/charts", with: root + "/charts").utf8).write(to: URL(fileURLWithPath: p))
            }
        }
        // The swap: the old notebook.md goes first and the new one comes last.
        func remove(_ target: String) throws {
            guard fm.fileExists(atPath: target) else { return }
            do { try fm.removeItem(atPath: target) } catch {
                throw EngineError.io(path: target, message: "cannot remove the old notebook: \(error.localizedDescription)")
            }
        }
        try remove(path)
        for name in own {
            let target = root + "/" + name
            if name != "notebook.md" { try remove(target) }
            if rename(stage + "/" + name, target) != 0 {
                throw EngineError.io(path: target, message: "cannot move the new notebook into place: \(String(cString: strerror(errno)))")
            }
        }
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
