import Foundation
import XCTest

/// Drives the real `aft` binary in a pseudo-terminal (tmux): typing, Tab, Ctrl-C, Ctrl-D, history.
final class TerminalTests: XCTestCase {
    var session = "aft-test-\(getpid())"
    var aft: String { Bundle.module.bundleURL.deletingLastPathComponent().appendingPathComponent("aft").path }

    /// Runs tmux through the shell (Foundation's Process can hang waiting on tmux's forked server).
    @discardableResult
    func tmux(_ args: String...) -> String {
        let out = NSTemporaryDirectory() + "aft-tmux-\(getpid()).out"
        let cmd = "tmux " + args.map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
            + " > \(out) 2>\(out).err < /dev/null"
        let rc = system(cmd)
        if rc != 0 { print("tmux rc", rc, (try? String(contentsOfFile: out + ".err", encoding: .utf8)) ?? "") }
        defer { unlink(out) }
        return (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
    }
    var screen: String { tmux("capture-pane", "-t", session, "-p") }

    /// Waits until the screen contains `text` (up to `timeout` seconds).
    func waitFor(_ text: String, timeout: Double = 30, file: StaticString = #filePath, line: UInt = #line) {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end { if screen.contains(text) { return }; usleep(100_000) }
        XCTFail("screen never showed '\(text)':\n\(screen)", file: file, line: line)
    }

    override func setUpWithError() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/tmux") else { throw XCTSkip("tmux not installed (scripts/setup installs it)") }
        guard FileManager.default.isExecutableFile(atPath: aft) else { throw XCTSkip("aft binary not built at \(aft)") }
    }
    override func tearDown() { tmux("kill-session", "-t", session) }

    func testLineEditingCompletionInterruptAndHistory() throws {
        let hist = NSTemporaryDirectory() + "aft-hist-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: hist) }
        let work = NSTemporaryDirectory() + "aft-term-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: work + "/scripts", withIntermediateDirectories: true)
        try "help\n".write(toFile: work + "/study.aft", atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: work) }
        tmux("new-session", "-d", "-s", session, "-x", "150", "-y", "45", "-c", work, "env AFT_HISTORY=\(hist) \(aft)")
        waitFor("aft>")   // capture-pane drops trailing blanks: the prompt's space is not on the screen
        // Tab completes a command name and a task name.
        tmux("send-keys", "-t", session, "hel", "Tab")
        waitFor("aft> help")
        tmux("send-keys", "-t", session, "C-u", "eval arc-ch", "Tab")
        waitFor("eval arc-challenge")
        // Tab completes argument names, choice values and file paths (relative to the working directory).
        tmux("send-keys", "-t", session, "C-u", "eval hellaswag li", "Tab")
        waitFor("eval hellaswag limit=")
        tmux("send-keys", "-t", session, "C-u", "set plot=in", "Tab")
        waitFor("set plot=inline")
        tmux("send-keys", "-t", session, "C-u", "run stu", "Tab")
        waitFor("run study.aft")
        tmux("send-keys", "-t", session, "C-u", "run scr", "Tab")
        waitFor("run scripts/")
        // Ctrl-C at the prompt discards the line and does not exit.
        tmux("send-keys", "-t", session, "C-c")
        usleep(500_000)
        XCTAssertTrue(tmux("list-sessions").contains(session), "Ctrl-C at the prompt must not exit")
        // A typo gets a suggestion and the session continues.
        tmux("send-keys", "-t", session, "evl hellaswag", "Enter")
        waitFor("did you mean 'eval'?")
        // Ctrl-R searches the history: the typo comes back and runs again.
        tmux("send-keys", "-t", session, "C-r")
        usleep(300_000)
        tmux("send-keys", "-t", session, "evl h")
        usleep(300_000)
        tmux("send-keys", "-t", session, "Enter")
        usleep(300_000)
        tmux("send-keys", "-t", session, "Enter")
        let end0 = Date().addingTimeInterval(10)
        while Date() < end0 && screen.components(separatedBy: "did you mean 'eval'?").count < 3 { usleep(100_000) }
        XCTAssertEqual(screen.components(separatedBy: "did you mean 'eval'?").count, 3, "Ctrl-R found and re-ran the line:\n\(screen)")
        let haveModel = FileManager.default.fileExists(atPath: NSHomeDirectory() + "/.cache/aft/models/SmolLM2-135M-Instruct.Q4_1.gguf")
            || ProcessInfo.processInfo.environment["AFT_MODELS"] != nil
        if haveModel {
            tmux("send-keys", "-t", session, "load smollm2-135m", "Enter")
            waitFor("loaded in")
            tmux("send-keys", "-t", session, "eval hellaswag limit=5000", "Enter")
            waitFor("eval hellaswag", timeout: 60)
            usleep(2_000_000)
            tmux("send-keys", "-t", session, "C-c")
            waitFor("(interrupted)", timeout: 60)
            tmux("send-keys", "-t", session, "show _", "Enter")
            waitFor("acc_norm")
        }
        // Ctrl-D exits; history was written after every line.
        tmux("send-keys", "-t", session, "C-d")
        let end = Date().addingTimeInterval(10)
        while Date() < end && tmux("list-sessions").contains(session) { usleep(100_000) }
        XCTAssertFalse(tmux("list-sessions").contains(session), "Ctrl-D exits")
        let h = (try? String(contentsOfFile: hist, encoding: .utf8)) ?? ""
        XCTAssertTrue(h.contains("evl\\040hellaswag") || h.contains("evl hellaswag"), "history file: \(h)")
    }

    func testBatchModesAndExitCodes() throws {
        func run(_ args: [String], stdin: String? = nil) -> (Int32, String) {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: aft)
            p.arguments = args
            let out = Pipe(), inp = Pipe()
            p.standardOutput = out; p.standardError = out; p.standardInput = inp
            try? p.run()
            if let s = stdin { inp.fileHandleForWriting.write(s.data(using: .utf8)!) }
            try? inp.fileHandleForWriting.close()
            let o = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            return (p.terminationStatus, o)
        }
        XCTAssertEqual(run(["--version"]).0, 0)
        XCTAssertTrue(run(["--help"]).1.contains("aft FILE.aft"))
        XCTAssertEqual(run(["-e", "help eval"]).0, 0)
        let (c2, o2) = run(["-e", "help\nevl x"])
        XCTAssertEqual(c2, 2); XCTAssertTrue(o2.contains("<-e>:2:1: error: unknown command 'evl'"), o2)
        XCTAssertEqual(run(["-e", "show nothing"]).0, 1)
        XCTAssertEqual(run(["--bogus"]).0, 2)
        let script = NSTemporaryDirectory() + "aft-\(UUID().uuidString).aft"
        try "help\nload no/such/model.gguf\n".write(toFile: script, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: script) }
        let (c3, o3) = run([script])
        XCTAssertEqual(c3, 1); XCTAssertTrue(o3.contains(":2:1: error:"), o3)
        // Not a terminal: plain line reading, errors do not end the session.
        let (c4, o4) = run([], stdin: "evl\nhelp set\n")
        XCTAssertEqual(c4, 0); XCTAssertTrue(o4.contains("did you mean") && o4.contains("threads"), o4)
    }
}
