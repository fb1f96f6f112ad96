@testable import AFTShell
@testable import Engine
import Foundation
@testable import Lang
import XCTest

/// A real Slurm: a one-node cluster on this machine (scripts/slurm-local: munged, slurmctld,
/// slurmd), a 4-task job array from scripts/slurm-submit on a small smollm2 grid, one task
/// cancelled mid-run with scancel and requeued, and the merged notebook's cells equal to one
/// process's run of the same grid, cell for cell. Skips, saying why, where Slurm cannot run.
final class SlurmTests: XCTestCase {
    var root: String { URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path }
    var tmp = ""
    var startedHere = false
    var env: [String: String] = ProcessInfo.processInfo.environment

    @discardableResult
    func sh(_ cmd: String, check: Bool = true) throws -> String {
        // Output goes through a file, not a pipe: the daemons a command starts may keep a pipe open.
        let p = Process(), log = tmp + "/sh-\(UUID().uuidString).log"
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = ["-c", "(\(cmd)) > '\(log)' 2>&1 < /dev/null"]
        p.environment = env
        try p.run()
        p.waitUntilExit()
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        unlink(log)
        if check && p.terminationStatus != 0 { throw NSError(domain: "sh", code: Int(p.terminationStatus), userInfo: [NSLocalizedDescriptionKey: "\(cmd): \(text)"]) }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    override func setUpWithError() throws {
        guard getuid() == 0 else { throw XCTSkip("the one-node Slurm cluster needs root (slurmd and munged run as root)") }
        do { _ = try ModelRegistry().resolve("smollm2-135m") } catch where ProcessInfo.processInfo.environment["AFT_REQUIRE_MODELS"] == nil {
            throw XCTSkip("smollm2-135m not fetched")
        }
        guard FileManager.default.isExecutableFile(atPath: root + "/.build/release/aft") else { throw XCTSkip("no release aft binary (swift build -c release)") }
        tmp = NSTemporaryDirectory() + "aft-slurm-test-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        env["AFT_SLURM_DIR"] = tmp + "/cluster"
        env["AFT_SLURM_PORT"] = String(17000 + Int(getpid() % 500) * 2)
        do { try sh("\(root)/scripts/slurm-local start") } catch {
            throw XCTSkip("a local Slurm could not be started here: \(error.localizedDescription.suffix(400))")
        }
        startedHere = true
        env["SLURM_CONF"] = tmp + "/cluster/slurm.conf"
    }

    override func tearDown() {
        if startedHere { _ = try? sh("squeue -h -o %i | xargs -r scancel; \(root)/scripts/slurm-local stop", check: false) }
        try? FileManager.default.removeItem(atPath: tmp)
    }

    func state(_ job: String) throws -> String { try sh("squeue -h -j \(job) -o %T 2>/dev/null", check: false) }

    func testJobArrayWithACancelledAndRequeuedTaskEqualsOneProcess() throws {
        let grid = "g = grid arc-easy layers 25%,75% lr=5e-2,5e-1 epochs=1,2 train=12 val=16 test=8"
        let plan = tmp + "/plan.aft"
        try "load smollm2-135m\nset out=\(tmp)/runs threads=1\n\(grid)\nreport \(tmp)/nb overwrite=yes\n".write(toFile: plan, atomically: true, encoding: .utf8)
        let submitted = try sh("cd \(tmp) && \(root)/scripts/slurm-submit \(plan) 4 --cpus-per-task=1 -o \(tmp)/slurm-%A_%a.out")
        let ids = submitted.components(separatedBy: CharacterSet.decimalDigits.inverted).filter { !$0.isEmpty }
        XCTAssertGreaterThanOrEqual(ids.count, 2, submitted)
        let (array, merge) = (ids[0], ids[ids.count >= 4 ? 3 : 1])
        XCTAssertTrue(submitted.contains("merge: job \(merge)"), submitted)

        // Task 2, once it runs: cancelled mid-run, then requeued (released at once rather than after
        // Slurm's requeue delay).
        let task = "\(array)_2"
        var waited = 0
        while try state(task) != "RUNNING" && waited < 300 { Thread.sleep(forTimeInterval: 0.5); waited += 1 }
        Thread.sleep(forTimeInterval: 2)
        XCTAssertEqual(try state(task), "RUNNING", "task 2 is cancelled while it runs")
        try sh("scancel \(task)")
        waited = 0
        while try state(task) == "RUNNING" && waited < 60 { Thread.sleep(forTimeInterval: 1); waited += 1 }
        try sh("scontrol requeue \(task) && scontrol update jobid=\(task) StartTime=now")

        // One process's run of the same grid, meanwhile (the reference).
        let one = Session(output: { _ in })
        one.settings.out = tmp + "/single"
        one.settings.threads = 1
        try one.run(source: "load smollm2-135m\n\(grid)")
        let single = try XCTUnwrap(one.variables["g"]?.as(GridResult.self))

        // The merge job runs once every task has ended; wait for it.
        waited = 0
        while !(try state(merge)).isEmpty && waited < 900 { Thread.sleep(forTimeInterval: 2); waited += 2 }
        let logs = try sh("cat \(tmp)/slurm-*.out", check: false)
        XCTAssertTrue(try state(merge).isEmpty, "merge still queued after 15 min:\n\(logs)")
        XCTAssertTrue(logs.contains("shard 2/4"), logs)

        // The merged notebook's grid equals the single run, cell for cell.
        let results = try FileManager.default.contentsOfDirectory(atPath: tmp + "/nb/results").filter { $0.hasSuffix("-grid.json") }
        let merged = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: tmp + "/nb/results/" + XCTUnwrap(results.first)))) as? [String: Any], logs)
        let cells = try XCTUnwrap(merged["cells"] as? [[String: Any]])
        let want = single.json["cells"] as? [[String: Any]] ?? []
        XCTAssertEqual(cells.count, 8)
        XCTAssertEqual(cells.count, want.count)
        for (a, b) in zip(cells, want) {
            for k in ["layer", "lr", "epochs", "val", "best_epoch"] { XCTAssertEqual("\(a[k] ?? "-")", "\(b[k] ?? "-")", "cell \(b): \(k)") }
        }
        let mb = try XCTUnwrap(merged["best"] as? [String: Any]), sb = try XCTUnwrap(single.json["best"] as? [String: Any])
        for k in ["layer", "lr", "epochs", "val", "best_epoch"] { XCTAssertEqual("\(mb[k] ?? "-")", "\(sb[k] ?? "-")", "best cell: \(k)") }
        // The merge trained nothing: every training was read back.
        let mergeLog = try sh("cat \(tmp)/slurm-\(merge)_*.out \(tmp)/slurm-\(merge).out 2>/dev/null", check: false)
        XCTAssertEqual(mergeLog.components(separatedBy: "(resumed from run directory)").count - 1, 4, mergeLog)
    }
}
