@testable import Engine
import Foundation
@testable import Lang
import XCTest

/// Hostile inputs get a clear error naming what was wrong, and lose nothing (issue: reliability).
final class ReliabilityTests: XCTestCase {
    var tmp = ""
    override func setUpWithError() throws {
        tmp = NSTemporaryDirectory() + "aft-rel-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: tmp) }

    /// A negative (or absurd) token id in tokenizer.json, vocab.json or tokenizer_config.json is refused with the file and token.
    func testTokenizerIdsOutOfRangeAreRefused() throws {
        let tj = #"{"model": {"type": "BPE", "vocab": {"a": 0, "b": -3}, "merges": []}, "added_tokens": []}"#
        try tj.write(toFile: tmp + "/tokenizer.json", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try Tokenizer(directory: tmp)) { e in
            XCTAssertTrue("\(e)".contains("tokenizer.json") && "\(e)".contains("'b' has id -3"), "\(e)")
        }
        let big = #"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "added_tokens": [{"id": 99999999999, "content": "<x>"}]}"#
        try big.write(toFile: tmp + "/tokenizer.json", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try Tokenizer(directory: tmp)) { e in XCTAssertTrue("\(e)".contains("'<x>' has id 99999999999"), "\(e)") }
        try FileManager.default.removeItem(atPath: tmp + "/tokenizer.json")
        try #"{"a": 0, "b": -1}"#.write(toFile: tmp + "/vocab.json", atomically: true, encoding: .utf8)
        try "#version: 0.2\n".write(toFile: tmp + "/merges.txt", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try Tokenizer(directory: tmp)) { e in XCTAssertTrue("\(e)".contains("vocab.json") && "\(e)".contains("id -1"), "\(e)") }
    }

    /// An empty task file is an error, not "acc 0.0000".
    func testEmptyDatasetIsRefused() throws {
        try "\n\n".write(toFile: tmp + "/empty.jsonl", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try Dataset.load(tmp + "/empty.jsonl")) { e in XCTAssertTrue("\(e)".contains("no items"), "\(e)") }
    }

    /// `set data=DIR` is the only place looked in: a wrong one is named, not replaced by another copy.
    func testConfiguredDataDirectoryIsNotSilentlyReplaced() throws {
        XCTAssertThrowsError(try Dataset.load("arc-easy", dataDir: tmp + "/nonexistent")) { e in
            XCTAssertTrue("\(e)".contains(tmp + "/nonexistent") && !"\(e)".contains("shared/data"), "\(e)")
        }
    }

    /// Usage errors from the language: a fractional layer, an unknown help topic, a bad setting (nothing applied).
    func testLanguageRefusesWhatItWouldOtherwiseGuess() throws {
        let s = Session(output: { _ in })
        XCTAssertThrowsError(try s.run(source: "help nosuch", file: "r.aft")) { e in
            XCTAssertEqual((e as? Diagnostic)?.kind, .usage); XCTAssertTrue("\(e)".contains("unknown command 'nosuch'"), "\(e)")
        }
        XCTAssertThrowsError(try s.run(source: "set seed=3 threads=0", file: "r.aft")) { e in XCTAssertTrue("\(e)".contains("threads"), "\(e)") }
        XCTAssertEqual(s.settings.seed, 0, "a statement with a bad setting applies none of them")
        try s.run(source: "set seed=3 keywords.math=\"calculate, how many\" plot=file", file: "r.aft")
        XCTAssertEqual(s.settings.seed, 3); XCTAssertEqual(s.settings.plot, .file)
        XCTAssertEqual(s.settings.keywords["math"], ["calculate", "how many"])
        XCTAssertThrowsError(try s.run(source: "set nosuch=1", file: "r.aft")) { e in XCTAssertTrue("\(e)".contains("nosuch"), "\(e)") }
        XCTAssertTrue(s.settings.changed.contains { $0.key == "keywords.math" })
    }

    /// One writer per run directory: a live lock is refused with its holder, a stale one (its process gone) taken over.
    func testRunDirectoryLock() throws {
        let dir = try SweepRunDirectory(path: tmp + "/run")
        let held = try dir.lock()
        XCTAssertThrowsError(try dir.lock()) { e in XCTAssertTrue("\(e)".contains("in use by process \(getpid())"), "\(e)") }
        held.release()
        let again = try dir.lock()
        again.release()
        // A lock from a process of this host that no longer runs: taken over.
        try "\(ProcessInfo.processInfo.hostName) 999999\n".write(toFile: tmp + "/run/lock", atomically: true, encoding: .utf8)
        let taken = try dir.lock()
        XCTAssertTrue(try String(contentsOfFile: tmp + "/run/lock", encoding: .utf8).contains(" \(getpid())"))
        taken.release()
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp + "/run/lock"))
    }
}

extension ReliabilityTests {
    /// Nothing is lost: a notebook directory in use is refused without overwrite=yes (which replaces
    /// only the notebook's own files), and a file does not silently replace an unsaved vector.
    func testReportAndVectorLoadDoNotLoseWork() throws {
        let s = Session(output: { _ in })
        try s.run(source: "help", file: "r.aft")
        let dir = tmp + "/nb"
        try s.run(source: "report \(dir)", file: "r.aft")
        try "mine".write(toFile: dir + "/keep.txt", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try s.run(source: "report \(dir)", file: "r.aft")) { e in XCTAssertTrue("\(e)".contains("overwrite=yes"), "\(e)") }
        try s.run(source: "report \(dir) overwrite=yes", file: "r.aft")
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/notebook.md"))
        XCTAssertEqual(try String(contentsOfFile: dir + "/keep.txt", encoding: .utf8), "mine", "files that are not the notebook's stay")

        let v = SteeringVector(name: "hs", values: [1, 2, 3], layer: 1, metadata: ["task": "hellaswag"])
        try v.saveSafetensors(to: tmp + "/hs.safetensors")
        s.vectors["hs"] = SteeringVector(name: "hs", values: [9, 9, 9], layer: 1, metadata: [:])
        s.unsaved.insert("hs")
        XCTAssertThrowsError(try s.run(source: "load \(tmp)/hs.safetensors", file: "r.aft")) { e in XCTAssertTrue("\(e)".contains("not saved"), "\(e)") }
        XCTAssertEqual(s.vectors["hs"]?.values, [9, 9, 9])
        try s.run(source: "load \(tmp)/hs.safetensors as hs2", file: "r.aft")
        XCTAssertEqual(s.vectors["hs2"]?.values, [1, 2, 3])
        try s.run(source: "save hs to \(tmp)/hs-mine.safetensors\nload \(tmp)/hs.safetensors", file: "r.aft")
        XCTAssertEqual(s.vectors["hs"]?.values, [1, 2, 3], "once saved, loading onto the name is allowed")
    }

    /// A vector is checked against the loaded model's weights (its provenance sha256), not only its name and size.
    func testVectorFromOtherWeightsIsRefused() throws {
        var u = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { u.deleteLastPathComponent() }
        let model = u.path + "/scripts/fuzz-seeds/gguf/llama-f32.gguf"
        let s = Session(output: { _ in })
        try s.run(source: "load \(model)", file: "r.aft")
        let sha = try XCTUnwrap(s.model).sha256()
        for (name, want, ok) in [("mine", sha, true), ("theirs", String(repeating: "f", count: 64), false)] {
            let v = SteeringVector(name: name, values: [Float](repeating: 0.01, count: 8), layer: 1, metadata: ["model_sha256": want, "model": "m"])
            try v.saveSafetensors(to: tmp + "/\(name).safetensors")
            try s.run(source: "load \(tmp)/\(name).safetensors", file: "r.aft")
            if ok {
                XCTAssertNoThrow(try s.run(source: "generate \"the\" max_tokens=2 with \(name)", file: "r.aft"))
            } else {
                XCTAssertThrowsError(try s.run(source: "generate \"the\" max_tokens=2 with \(name)", file: "r.aft")) { e in
                    XCTAssertTrue("\(e)".contains("trained on other weights") && "\(e)".contains("ffffffffffff"), "\(e)")
                }
            }
        }
    }

    /// `load FILE.gguf as NAME` reads a llama.cpp control vector (not a model); eval and generate
    /// apply every layer; `save` refuses to drop layers; `export` writes them all back.
    func testControlVectorLoadsAndAppliesEveryLayer() throws {
        var u = URL(fileURLWithPath: #filePath)
        for _ in 0..<2 { u.deleteLastPathComponent() }
        let fx = u.path + "/EngineTests/Fixtures"
        var out: [String] = []
        let s = Session(output: { out.append($0) })
        try s.run(source: "load \(fx)/tiny/llama\nload \(fx)/cvec/tiny-llama-cvec.gguf as cv", file: "r.aft")
        XCTAssertEqual(s.vectors["cv"]?.layers, [1, 2])
        XCTAssertTrue(out.last?.contains("layers 1,2") ?? false, out.joined(separator: "\n"))
        XCTAssertNotNil(s.model, "the model stays loaded: a control vector is not a model")
        try s.run(source: "generate \"the cat\" max_tokens=3 with cv", file: "r.aft")
        XCTAssertThrowsError(try s.run(source: "save cv to \(tmp)/cv.safetensors", file: "r.aft")) { e in
            XCTAssertTrue("\(e)".contains("export cv gguf"), "\(e)")
        }
        try s.run(source: "export cv gguf \(tmp)/cv.gguf", file: "r.aft")
        XCTAssertEqual(try SteeringVector.loadControlVector(tmp + "/cv.gguf", name: "x").layers, [1, 2])
    }
}
