import Foundation
import Lang

/// Progress of the running cell as one updating output line: `display_data` with a display id,
/// then `update_display_data` at most four times a second, and a last update when the work ends.
final class KernelProgress: ProgressSink {
    weak var kernel: JupyterKernel?
    private let lock = NSLock()
    private var label = "", total = 0, done = 0, bytes = false, start = Date(), lastSent = Date.distantPast
    private var displayID: String?

    func begin(_ label: String, total: Int) { open(label, total, bytes: false) }
    func beginBytes(_ label: String, total: Int) { open(label, total, bytes: true) }

    private func open(_ label: String, _ total: Int, bytes: Bool) {
        lock.lock(); defer { lock.unlock() }
        finishLocked()
        self.label = label; self.total = total; self.bytes = bytes; done = 0; start = Date(); lastSent = Date()
        let id = UUID().uuidString.lowercased()
        displayID = id
        send("display_data", "\(label) 0/\(total)", id)
    }

    func advance(_ done: Int) {
        lock.lock(); defer { lock.unlock() }
        self.done = done
        guard let id = displayID else { return }
        let now = Date()
        guard now.timeIntervalSince(lastSent) >= 0.25 || done == total else { return }
        lastSent = now
        send("update_display_data", TerminalProgress.line(label, done: done, total: total, elapsed: now.timeIntervalSince(start), bytes: bytes), id)
    }

    func end() { finish() }

    /// The line's last state (what finished, in how long); called at the end of every cell too.
    func finish() { lock.lock(); finishLocked(); lock.unlock() }

    private func finishLocked() {
        guard let id = displayID else { return }
        displayID = nil
        send("update_display_data", "\(label) \(TerminalProgress.amount(done, total, bytes: bytes)) in \(TerminalProgress.fmt(Date().timeIntervalSince(start)))", id)
    }

    private func send(_ type: String, _ line: String, _ id: String) {
        guard let k = kernel, k.running != nil, !k.silent else { return }
        k.publish(type, JupyterKernel.display(["text/plain": line], id: id), parent: k.running)
    }
}

/// Draws `plot` charts with gnuplot and shows them in the notebook: `display_data` with the PNG,
/// the SVG and gnuplot's text rendering as the `text/plain` fallback. `plot=file` writes files only;
/// `plot=inline` shows them without keeping files; a report's charts are files only.
final class KernelChartRenderer: ChartRenderer {
    let base: GnuplotRenderer
    weak var kernel: JupyterKernel?

    init(base: GnuplotRenderer) { self.base = base }

    func render(_ c: Chart, dir: String, files: Bool, inline: Bool) throws -> (files: [String], text: String?) {
        guard inline, let k = kernel, k.running != nil else { return try base.render(c, dir: dir, files: files, inline: inline) }
        let fm = FileManager.default
        let target = files ? dir : NSTemporaryDirectory() + "aft-kernel-chart-\(UUID().uuidString)"
        defer { if !files { try? fm.removeItem(atPath: target) } }
        let (written, text) = try base.render(c, dir: target, files: true, inline: true)
        guard let png = fm.contents(atPath: "\(target)/\(c.name).png") else {
            throw GnuplotRenderer.Failure.failed("no PNG at \(target)/\(c.name).png after drawing")
        }
        var data: [String: Any] = ["image/png": png.base64EncodedString(), "text/plain": text ?? c.title]
        if let svg = try? String(contentsOfFile: "\(target)/\(c.name).svg", encoding: .utf8) { data["image/svg+xml"] = svg }
        k.output("display_data", JupyterKernel.display(data, metadata: ["image/png": ["width": 640, "height": 400]]))
        return (files ? written : [], nil)
    }
}
