import Foundation
import Lang

/// Draws progress on stderr: a redrawn line with rate and ETA on a terminal, sparse plain lines otherwise.
final class TerminalProgress: ProgressSink {
    let isTTY = isatty(STDERR_FILENO) != 0
    var label = "", total = 0, start = Date(), lastDraw = Date.distantPast, lastPlain = -1
    /// Whether a progress line is on the screen now.
    var drawn = false
    /// Counting bytes: amounts in MB, the rate in MB/s.
    var bytes = false

    func begin(_ label: String, total: Int) {
        self.label = label; self.total = total; start = Date(); lastDraw = .distantPast; lastPlain = -1; bytes = false
    }

    func beginBytes(_ label: String, total: Int) { begin(label, total: total); bytes = true }

    func advance(_ done: Int) {
        let now = Date()
        let line = TerminalProgress.line(label, done: done, total: total, elapsed: now.timeIntervalSince(start), bytes: bytes)
        if isTTY {
            guard now.timeIntervalSince(lastDraw) > 0.1 || done == total else { return }
            lastDraw = now
            drawn = true
            FileHandle.standardError.write(("\r\u{1B}[K" + line).data(using: .utf8)!)
        } else {
            let decile = total > 0 ? done * 10 / total : 0
            guard decile != lastPlain else { return }
            lastPlain = decile
            FileHandle.standardError.write((line + "\n").data(using: .utf8)!)
        }
    }

    func end() { clear() }

    /// Erases the progress line, if one is drawn, so that a printed result starts on a clean line
    /// (the next `advance` draws it again below).
    func clear() {
        guard isTTY, drawn else { return }
        drawn = false
        FileHandle.standardError.write("\r\u{1B}[K".data(using: .utf8)!)
    }

    /// The progress line: `label done/total  rate  elapsed m:ss  ETA m:ss` (rate and ETA once
    /// half a second has passed; amounts in MB when counting bytes).
    static func line(_ label: String, done: Int, total: Int, elapsed el: Double, bytes: Bool) -> String {
        let rate = Double(done) / max(el, 1e-9)
        let eta = rate > 0 ? Double(total - done) / rate : 0
        let amount = TerminalProgress.amount(done, total, bytes: bytes)
        let speed = bytes ? String(format: "%.1f MB/s", rate / 1e6) : String(format: "%.2f/s", rate)
        return el < 0.5 ? "\(label) \(amount)" : "\(label) \(amount)  \(speed)  elapsed \(fmt(el))  ETA \(fmt(eta))"
    }

    /// `done/total`, or `x.x/y.y MB` when counting bytes.
    static func amount(_ done: Int, _ total: Int, bytes: Bool) -> String {
        bytes ? String(format: "%.1f/%.1f MB", Double(done) / 1e6, Double(total) / 1e6) : "\(done)/\(total)"
    }

    static func fmt(_ s: Double) -> String {
        let t = Int(s.rounded())
        return t >= 3600 ? String(format: "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60) : String(format: "%d:%02d", t / 60, t % 60)
    }
}
