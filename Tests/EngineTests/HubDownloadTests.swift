@testable import Engine
import Foundation
import XCTest

/// Models from the Hugging Face Hub into the Hub's own cache, against a small Hub server the test
/// starts on 127.0.0.1 (scripts/hub_server.py) serving the tiny fixtures: first download, offline
/// reuse, resume after a dropped connection, a corrupt blob, a gated repo, and a cache written by
/// `huggingface_hub` itself (issue: ecosystem).
final class HubDownloadTests: XCTestCase {
    var tmp = ""
    var server: Process?
    var serverLog = ""
    static var repo: String {
        var u = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { u.deleteLastPathComponent() }
        return u.path
    }

    override func setUp() {
        tmp = NSTemporaryDirectory() + "aft-hub-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
    }
    override func tearDown() {
        stopServer()
        try? FileManager.default.removeItem(atPath: tmp)
    }

    /// Starts the Hub server with `flags`; returns its endpoint.
    func startServer(_ flags: [String] = []) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let fx = Fixtures.root + "/tiny"
        p.arguments = ["python3", Self.repo + "/scripts/hub_server.py", "--repo", "aft-test/tiny-llama=\(fx)/llama",
                       "--repo", "aft-test/tiny-qwen2=\(fx)/qwen2"] + flags
        let out = Pipe()
        serverLog = tmp + "/server-\(UUID().uuidString).log"
        _ = FileManager.default.createFile(atPath: serverLog, contents: nil)
        p.standardOutput = out
        p.standardError = FileHandle(forWritingAtPath: serverLog)
        try p.run()
        server = p
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let d = out.fileHandleForReading.availableData
            if d.isEmpty { throw XCTSkip("the Hub test server did not start (python3 missing?)") }
            line.append(d)
        }
        let port = String(decoding: line, as: UTF8.self).split(separator: " ").last!.trimmingCharacters(in: .whitespacesAndNewlines)
        return "http://127.0.0.1:\(port)"
    }

    func stopServer() { server?.terminate(); server?.waitUntilExit(); server = nil }

    func registry(_ endpoint: String?, _ extra: [String: String] = [:]) -> ModelRegistry {
        var env = ["HOME": tmp, "HF_HUB_CACHE": tmp + "/hub", "AFT_MODELS": tmp + "/models"]
        if let e = endpoint { env["HF_ENDPOINT"] = e } else { env["HF_ENDPOINT"] = "http://127.0.0.1:9" }   // nothing listens on 9
        return ModelRegistry(environment: env.merging(extra) { _, b in b })
    }

    func logits(_ m: LanguageModel) -> [Float] { m.transformer.logits(tokens: m.tokenizer.encode("the cat sat on")) }

    func testDownloadIntoTheHubCacheThenLoadOffline() throws {
        let endpoint = try startServer()
        var progress: [Int64] = []
        var reg = registry(endpoint)
        reg.onDownload = { _, done, _ in progress.append(done) }
        let m = try LanguageModel(name: "aft-test/tiny-llama", registry: reg)
        let direct = try LanguageModel(name: Fixtures.root + "/tiny/llama")
        XCTAssertEqual(logits(m), logits(direct), "the downloaded model is the fixture, bit for bit")
        XCTAssertFalse(progress.isEmpty, "progress was reported")
        // The Hub's layout: refs/main → commit, snapshot files are relative links into blobs/<etag>.
        let dir = tmp + "/hub/models--aft-test--tiny-llama"
        let commit = try String(contentsOfFile: dir + "/refs/main", encoding: .utf8)
        XCTAssertEqual(commit.count, 40)
        let link = try FileManager.default.destinationOfSymbolicLink(atPath: dir + "/snapshots/\(commit)/model.safetensors")
        let sha = try SHA256.file(Fixtures.root + "/tiny/llama/model.safetensors")
        XCTAssertEqual(link, "../../blobs/" + sha, "an LFS file's blob is named by its sha256")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir + "/blobs").filter { $0.hasSuffix(".incomplete") }, [])
        // Offline: the server is gone and HF_HUB_OFFLINE is set; the cache serves the model.
        stopServer()
        let again = try LanguageModel(name: "aft-test/tiny-llama", registry: registry(nil, ["HF_HUB_OFFLINE": "1"]))
        XCTAssertEqual(logits(again), logits(direct))
        XCTAssertThrowsError(try LanguageModel(name: "aft-test/tiny-qwen2", registry: registry(nil, ["HF_HUB_OFFLINE": "1"]))) { e in
            XCTAssertTrue("\(e)".contains("HF_HUB_OFFLINE") && "\(e)".contains("not in the cache"), "\(e)")
        }
        XCTAssertThrowsError(try LanguageModel(name: "aft-test/tiny-qwen2", registry: registry(nil))) { e in
            XCTAssertTrue("\(e)".contains("cannot reach"), "an unreachable Hub says so: \(e)")
        }
    }

    func testShardedRepoAndResumeAfterADroppedConnection() throws {
        let endpoint = try startServer(["--drop", "model.safetensors", "--drop", "model-00002-of-00003.safetensors"])
        let m = try LanguageModel(name: "aft-test/tiny-llama", registry: registry(endpoint))
        XCTAssertEqual(logits(m), logits(try LanguageModel(name: Fixtures.root + "/tiny/llama")))
        let q = try LanguageModel(name: "aft-test/tiny-qwen2@main", registry: registry(endpoint))
        XCTAssertEqual(logits(q), logits(try LanguageModel(name: Fixtures.root + "/tiny/qwen2")))
        let log = try String(contentsOfFile: serverLog, encoding: .utf8)
        let resumed = log.split(separator: "\n").filter { $0.hasPrefix("GET /lfs/") && !$0.hasSuffix("range=-") }
        XCTAssertEqual(resumed.count, 2, "each dropped download resumed with a Range for the rest only:\n\(log)")
    }

    func testCorruptBlobIsRejectedAndNothingIsLinked() throws {
        let endpoint = try startServer(["--corrupt", "model.safetensors"])
        XCTAssertThrowsError(try LanguageModel(name: "aft-test/tiny-llama", registry: registry(endpoint))) { e in
            XCTAssertTrue("\(e)".contains("hash to sha256") && "\(e)".contains("model.safetensors"), "\(e)")
        }
        let dir = tmp + "/hub/models--aft-test--tiny-llama"
        let snaps = (try? FileManager.default.subpathsOfDirectory(atPath: dir + "/snapshots")) ?? []
        XCTAssertFalse(snaps.contains { $0.hasSuffix("model.safetensors") }, "no snapshot link to bytes that failed their check")
        let blobs = try FileManager.default.contentsOfDirectory(atPath: dir + "/blobs")
        XCTAssertFalse(blobs.contains(try SHA256.file(Fixtures.root + "/tiny/llama/model.safetensors")))
    }

    func testGatedRepoNeedsAToken() throws {
        let endpoint = try startServer(["--gated", "aft-test/tiny-llama"])
        XCTAssertThrowsError(try LanguageModel(name: "aft-test/tiny-llama", registry: registry(endpoint))) { e in
            XCTAssertTrue("\(e)".contains("gated or private") && "\(e)".contains("HF_TOKEN"), "\(e)")
        }
        XCTAssertNoThrow(try LanguageModel(name: "aft-test/tiny-llama", registry: registry(endpoint, ["HF_TOKEN": "hf_test_token"])))
        XCTAssertThrowsError(try LanguageModel(name: "aft-test/no-such-repo", registry: registry(endpoint))) { e in
            XCTAssertTrue("\(e)".contains("not found") && "\(e)".contains("HTTP 404"), "\(e)")
        }
    }

    /// The cache is shared both ways with `huggingface_hub` itself: a cache it wrote (hf_hub_download
    /// against the same server) loads in aft offline, and one aft wrote is found by it offline.
    func testCacheSharedWithHuggingFaceHub() throws {
        try Fixtures.requirePython("huggingface_hub", install: "pip install huggingface_hub", why: "the cache it writes cannot be checked here")
        let endpoint = try startServer()
        func python(_ code: String, cache: String) throws -> (Int32, String) {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["python3", "-c", code]
            p.environment = ProcessInfo.processInfo.environment.merging(
                ["HF_ENDPOINT": endpoint, "HF_HUB_CACHE": cache, "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_XET": "1"]) { _, b in b }
            let out = Pipe(); p.standardOutput = out; p.standardError = out
            try p.run()
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            return (p.terminationStatus, text)
        }
        let theirs = tmp + "/theirs"
        let (rc, text) = try python("""
            from huggingface_hub import hf_hub_download
            for f in ["config.json", "tokenizer.json", "model.safetensors"]:
                print(hf_hub_download("aft-test/tiny-llama", f))
            """, cache: theirs)
        XCTAssertEqual(rc, 0, text)
        stopServer()
        let m = try LanguageModel(name: "aft-test/tiny-llama", registry: registry(nil, ["HF_HUB_CACHE": theirs, "HF_HUB_OFFLINE": "1"]))
        XCTAssertEqual(logits(m), logits(try LanguageModel(name: Fixtures.root + "/tiny/llama")))
        // The other way: aft's cache, read by huggingface_hub with no network.
        let ours = tmp + "/ours"
        let second = try startServer()
        _ = try LanguageModel(name: "aft-test/tiny-llama", registry: registry(second, ["HF_HUB_CACHE": ours]))
        stopServer()
        let (rc2, text2) = try python("""
            from huggingface_hub import hf_hub_download
            import hashlib
            p = hf_hub_download("aft-test/tiny-llama", "model.safetensors", local_files_only=True)
            print(hashlib.sha256(open(p, "rb").read()).hexdigest())
            """, cache: ours)
        XCTAssertEqual(rc2, 0, text2)
        XCTAssertTrue(text2.contains(try SHA256.file(Fixtures.root + "/tiny/llama/model.safetensors")), text2)
    }
}
