import Engine
import Foundation
import XCTest

/// The real `aft` binary killed (SIGKILL) at random moments and run on a full filesystem: a rerun
/// finishes with the results of an uninterrupted run, no partial file is ever visible, and a write
/// that fails leaves the file it would have replaced as it was (issue: reliability).
///
/// Runs use a tiny random-weight model from the fuzz corpus and a synthetic ARC file, so each
/// process lives well under a second and 20 kills per command stay cheap.
final class FaultInjectionTests: XCTestCase {
    var aft: String { Bundle.module.bundleURL.deletingLastPathComponent().appendingPathComponent("aft").path }
    var fuzz: String { Bundle.module.bundleURL.deletingLastPathComponent().appendingPathComponent("aft-fuzz").path }
    static var repo: String {
        var u = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { u.deleteLastPathComponent() }
        return u.path
    }
    var model: String { Self.repo + "/scripts/fuzz-seeds/gguf/llama-f32.gguf" }
    var tmp = ""

    override func setUpWithError() throws {
        guard FileManager.default.isExecutableFile(atPath: aft) else { throw XCTSkip("aft binary not built at \(aft)") }
        tmp = NSTemporaryDirectory() + "aft-faults-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: tmp + "/data/arc_easy", withIntermediateDirectories: true)
        // 40 synthetic four-choice questions in ARC's layout.
        var lines: [String] = []
        for i in 0..<40 {
            let choices = (0..<4).map { "answer \(i * 7 % 11 + $0) the cat" }
            let row: [String: Any] = ["id": "q\(i)", "question": "Which is right for item \(i)?",
                                      "choices": ["text": choices, "label": ["A", "B", "C", "D"]], "answerKey": ["A", "B", "C", "D"][i % 4]]
            lines.append(String(decoding: try JSONSerialization.data(withJSONObject: row, options: .sortedKeys), as: UTF8.self))
        }
        try (lines.joined(separator: "\n") + "\n").write(toFile: tmp + "/data/arc_easy/arc_easy_test.jsonl", atomically: true, encoding: .utf8)
    }
    override func tearDown() {
        if !tmp.isEmpty { _ = try? shell("umount \(tmp)/full 2>/dev/null; true"); try? FileManager.default.removeItem(atPath: tmp) }
    }

    /// Runs `aft -e SOURCE`; with `killAfter` it is SIGKILLed after that many seconds (if still running).
    @discardableResult
    func runAft(_ source: String, killAfter: Double? = nil, prefix: String = "") throws -> (status: Int32, output: String, killed: Bool) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = ["-c", prefix + "exec \"$0\" -e \"$1\"", aft, source]
        var env = ProcessInfo.processInfo.environment
        env["XDG_CACHE_HOME"] = tmp + "/cache"
        p.environment = env
        let out = Pipe()
        p.standardOutput = out; p.standardError = out
        try p.run()
        var killed = false
        if let k = killAfter {
            let deadline = Date().addingTimeInterval(k)
            while p.isRunning && Date() < deadline { usleep(500) }
            if p.isRunning { kill(p.processIdentifier, SIGKILL); killed = true }
        }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self), killed)
    }

    func shell(_ cmd: String) throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = ["-c", cmd]
        p.standardOutput = FileHandle.nullDevice; p.standardError = FileHandle.nullDevice
        try p.run(); p.waitUntilExit()
        return p.terminationStatus
    }

    /// Every file under `root` that is not a writer's temporary file is complete: JSON parses,
    /// safetensors load, a visible notebook.md has its notebook.json and every result it names.
    func assertNothingPartial(_ root: String, _ when: String, file: StaticString = #filePath, line: UInt = #line) {
        let fm = FileManager.default
        guard let e = fm.enumerator(atPath: root) else { return }
        while let rel = e.nextObject() as? String {
            let p = root + "/" + rel
            if rel.contains(".tmp-") || rel.contains(".notebook-tmp-") { continue }   // a writer's own, never read
            if rel.hasSuffix(".json") {
                guard let d = fm.contents(atPath: p), (try? JSONSerialization.jsonObject(with: d)) != nil else {
                    XCTFail("\(when): \(rel) is not whole JSON", file: file, line: line); continue
                }
            } else if rel.hasSuffix(".safetensors") {
                XCTAssertNoThrow(try SafetensorsFile(path: p), "\(when): \(rel) is partial", file: file, line: line)
            } else if rel.hasSuffix("notebook.md") {
                let dir = (p as NSString).deletingLastPathComponent
                guard let d = fm.contents(atPath: dir + "/notebook.json"),
                      let nb = (try? JSONSerialization.jsonObject(with: d)) as? [String: Any], let cells = nb["cells"] as? [[String: Any]] else {
                    XCTFail("\(when): \(rel) is visible without a whole notebook.json", file: file, line: line); continue
                }
                for c in cells { if let r = c["result"] as? String { XCTAssertTrue(fm.fileExists(atPath: dir + "/" + r), "\(when): \(r) missing", file: file, line: line) } }
            }
        }
    }

    /// Paths of every file under `root`, relative, sorted (the run directory's lock and temporaries left out).
    func files(_ root: String) -> [String] {
        (FileManager.default.enumerator(atPath: root)?.allObjects as? [String] ?? []).filter { r in
            var d: ObjCBool = false
            return FileManager.default.fileExists(atPath: root + "/" + r, isDirectory: &d) && !d.boolValue
        }.sorted()
    }

    /// A sweep's per-layer results without their timings, and its vectors' values.
    func sweepContent(_ out: String) throws -> [String: String] {
        var r: [String: String] = [:]
        for f in files(out) where f.contains("/sweep-") && (f.hasSuffix(".safetensors") || (f.hasSuffix(".json") && f.contains("layer-"))) {
            if f.hasSuffix(".safetensors") {
                r[f] = try SteeringVector.loadSafetensors(out + "/" + f).values.map { String($0.bitPattern) }.joined(separator: ",")
            } else {
                var o = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/" + f))) as? [String: Any])
                o["seconds"] = nil
                r[f] = String(decoding: try JSONSerialization.data(withJSONObject: o, options: .sortedKeys), as: UTF8.self)
            }
        }
        return r
    }

    /// Kills `source` at `count` seeded random moments within an uninterrupted run's duration; after
    /// each kill nothing partial is visible, and the rerun (to completion) gives the reference content.
    func killAndRerun(_ name: String, count: Int = 20, source: (String) -> String, content: (String) throws -> [String: String]) throws {
        let ref = tmp + "/\(name)-ref"
        let t0 = Date()
        let r = try runAft(source(ref))
        XCTAssertEqual(r.status, 0, r.output)
        let duration = Date().timeIntervalSince(t0)
        let want = try content(ref)
        XCTAssertFalse(want.isEmpty, "the reference run wrote its results")
        var rng = SplitMix(seed: 0xA5F7 &+ UInt64(name.utf8.count))
        var kills = 0
        for i in 0..<count {
            let out = tmp + "/\(name)-\(i)"
            let moment = Double(rng.next() % 1000) / 1000 * 0.9 * duration
            if try runAft(source(out), killAfter: moment).killed { kills += 1 }
            assertNothingPartial(out, "\(name) killed at \(String(format: "%.3f", moment)) s")
            let again = try runAft(source(out))
            XCTAssertEqual(again.status, 0, "\(name) rerun after a kill at \(moment) s: \(again.output)")
            XCTAssertEqual(try content(out), want, "\(name): the rerun after a kill at \(String(format: "%.3f", moment)) s differs from an uninterrupted run")
            XCTAssertEqual(files(out).filter { $0.contains(".tmp-") || $0.contains(".notebook-tmp-") }, [], "\(name): temporaries left after the rerun")
        }
        XCTAssertGreaterThan(kills, count / 2, "most runs were really killed mid-way (duration \(duration) s)")
    }

    func testSweepKilledAtRandomMomentsResumesToTheSameResults() throws {
        try killAndRerun("sweep", source: { out in
            "set out=\(out) data=\(self.tmp)/data; load \(self.model); sweep arc-easy layers all epochs=60 patience=60 train=24 val=8 test=8 screen=0"
        }, content: sweepContent)
    }

    func testTrainKilledAtRandomMomentsRerunsToTheSameVector() throws {
        try killAndRerun("train", source: { out in
            "set out=\(out) data=\(self.tmp)/data; load \(self.model); train arc-easy layer=1 epochs=100 patience=100 train=24 val=8 test=8 baseline=0 as v; save v to \(out)/v.safetensors"
        }, content: { out in
            let v = try SteeringVector.loadSafetensors(out + "/v.safetensors")
            return ["v": v.values.map { String($0.bitPattern) }.joined(separator: ","), "layer": String(v.layer)]
        })
    }

    func testReportKilledAtRandomMomentsIsWholeOrAbsent() throws {
        try killAndRerun("report", source: { out in
            "set data=\(self.tmp)/data out=\(out)/runs; load \(self.model); eval arc-easy; show model; "
                + "s = sweep arc-easy layers all epochs=4 train=16 val=8 test=8 screen=0; report \(out)/nb overwrite=yes"
        }, content: { out in
            let nb = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/nb/notebook.json"))) as? [String: Any])
            let sources = (nb["cells"] as? [[String: Any]] ?? []).compactMap { $0["source"] as? String }
            // lm-eval's file names carry the evaluation's time, as lm-eval's own do: compared without it.
            let names = self.files(out + "/nb").map { $0.replacingOccurrences(of: #"\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{6}"#, with: "TIME", options: .regularExpression) }
            return ["files": names.joined(separator: " "),
                    "cells": sources.joined(separator: " | ").replacingOccurrences(of: out, with: "OUT")]
        })
    }

    /// A full filesystem during `eval log=`, `save` and `report`: each fails with exit 1 and a message
    /// naming the file, and the file or notebook it would have replaced is left as it was. A small
    /// tmpfs is mounted when the test may (root); otherwise a zero file-size limit (`ulimit -f 0`)
    /// makes every write fail the same way, and the test says which it used.
    func testFullFilesystemLosesNothing() throws {
        let full = tmp + "/full"
        try FileManager.default.createDirectory(atPath: full, withIntermediateDirectories: true)
        let mounted = try shell("mount -t tmpfs -o size=512k tmpfs \(full)") == 0
        print("full-filesystem test: " + (mounted ? "a 512 KiB tmpfs, filled" : "cannot mount a tmpfs here (not root); using ulimit -f 0 (writes fail with EFBIG)"))
        // What a full disk must not destroy: a log, a vector and a notebook from before.
        let old = try runAft("set data=\(tmp)/data; load \(model); eval arc-easy limit=3 log=\(full)/log.jsonl; "
                             + "train arc-easy layer=1 epochs=1 train=8 val=4 test=4 baseline=0 as v; save v to \(full)/v.safetensors; report \(full)/nb")
        XCTAssertEqual(old.status, 0, old.output)
        let before = ["log.jsonl", "v.safetensors", "nb/notebook.md", "nb/notebook.json"].map { FileManager.default.contents(atPath: full + "/" + $0) }
        XCTAssertFalse(before.contains(nil))
        var prefix = "trap '' XFSZ; ulimit -f 0; "
        if mounted {
            _ = try shell("dd if=/dev/zero of=\(full)/filler bs=4k 2>/dev/null; true")
            prefix = ""
        }
        let cases = [("eval arc-easy limit=6 log=\(full)/log.jsonl", "log.jsonl"),
                     ("train arc-easy layer=1 epochs=1 train=8 val=4 test=4 baseline=0 as v; save v to \(full)/v.safetensors", "v.safetensors"),
                     ("eval arc-easy limit=2; report \(full)/nb overwrite=yes", "nb")]
        for (cmd, what) in cases {
            let r = try runAft("set data=\(tmp)/data; load \(model); " + cmd, prefix: prefix)
            XCTAssertEqual(r.status, 1, "\(what) on a full filesystem: \(r.output)")
            XCTAssertTrue(r.output.contains(full), "the error names the file: \(r.output)")
        }
        let after = ["log.jsonl", "v.safetensors", "nb/notebook.md", "nb/notebook.json"].map { FileManager.default.contents(atPath: full + "/" + $0) }
        XCTAssertEqual(after, before, "every file a failed write would have replaced is as it was")
        if mounted { unlink(full + "/filler") }
        XCTAssertEqual(files(full).filter { $0.contains(".tmp-") || $0.contains("notebook-tmp") }, [], "no temporary file is left behind")
    }

    /// The fuzz targets' committed corpora replay through the same readers without a crash
    /// (scripts/fuzz runs libFuzzer on them; this is the regression check in every test run).
    func testFuzzCorporaReplay() throws {
        guard FileManager.default.isExecutableFile(atPath: fuzz) else { throw XCTSkip("aft-fuzz not built at \(fuzz)") }
        for t in ["lang", "gguf", "safetensors", "tokenizer", "config", "jsonl"] {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: fuzz)
            p.arguments = [t, Self.repo + "/scripts/fuzz-seeds/" + t]
            let out = Pipe(); p.standardOutput = out; p.standardError = out
            try p.run()
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            XCTAssertEqual(p.terminationStatus, 0, "\(t): \(text)")
            XCTAssertTrue(text.contains("without a crash"), text)
        }
    }
}

/// A small seeded generator, so the kill moments are the same on every run.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
