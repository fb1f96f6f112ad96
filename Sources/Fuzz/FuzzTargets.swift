import Foundation
import Engine
import Lang

/// One fuzz target: the readers one input goes through, by the same public entry points `aft` uses.
///
/// A crash, a trap, a sanitizer report or a hang inside `run` is a bug; a thrown error is the
/// reader doing its job (the input was refused with a message).
struct FuzzTarget {
    let name: String
    let summary: String
    let run: (UnsafeRawBufferPointer) -> Void
}

enum FuzzTargets {
    static let all: [FuzzTarget] = [
        FuzzTarget(name: "lang", summary: "lexer, parser, keyword normaliser, checker and help lookup", run: lang),
        FuzzTarget(name: "gguf", summary: "a .gguf model file: header, metadata, tensor table, config, tokenizer, weights, one forward pass", run: gguf),
        FuzzTarget(name: "safetensors", summary: "a .safetensors file: header, every tensor, and as a steering-vector file", run: safetensors),
        FuzzTarget(name: "tokenizer", summary: "a tokenizer.json: vocabulary, merges, added tokens, then encode and decode", run: tokenizer),
        FuzzTarget(name: "config", summary: "a Hugging Face config.json: architecture, every field, shape checks", run: config),
        FuzzTarget(name: "jsonl", summary: "a task file read as HellaSwag, ARC and GSM8K, then the prompts built from it", run: jsonl),
    ]

    static func named(_ name: String) -> FuzzTarget? { all.first { $0.name == name } }

    /// The REPL feeds every typed line to the same code.
    static func lang(_ bytes: UnsafeRawBufferPointer) {
        let source = String(decoding: bytes, as: UTF8.self)
        guard var parser = try? Parser(source: source), let statements = try? parser.parse() else { return }
        for s in statements {
            let n = CommandTable.normalize(s)
            _ = try? CommandTable.check(n)
            _ = CommandTable.help(n.command)
        }
    }

    /// `load FILE.gguf` end to end; a model that loads is also run on a few tokens.
    static func gguf(_ bytes: UnsafeRawBufferPointer) {
        let path = Scratch.write(bytes, as: "model.gguf")
        guard let m = try? LanguageModel(name: path) else { return }
        exercise(m.tokenizer)
        let ids = m.tokenizer.encode("Hi there, 42!").filter { $0 < m.config.vocabSize }
        _ = m.transformer.logits(tokens: Array((ids.isEmpty ? [0] : ids).prefix(4)))
    }

    /// A safetensors file's header and every tensor, then the same bytes as a saved steering vector.
    static func safetensors(_ bytes: UnsafeRawBufferPointer) {
        let path = Scratch.write(bytes, as: "weights.safetensors")
        if let f = try? SafetensorsFile(path: path) {
            for name in f.entries.keys.sorted() { _ = try? f.tensor(name) }
        }
        _ = try? SteeringVector.loadSafetensors(path)
    }

    /// `tokenizer.json` in a model directory, then text through it both ways.
    static func tokenizer(_ bytes: UnsafeRawBufferPointer) {
        let dir = Scratch.directory("tok")
        _ = Scratch.write(bytes, as: "tok/tokenizer.json")
        guard let t = try? Tokenizer(directory: dir) else { return }
        t.readSpecials(directory: dir)
        exercise(t)
    }

    /// `config.json` of a Hugging Face model directory.
    static func config(_ bytes: UnsafeRawBufferPointer) {
        let path = Scratch.write(bytes, as: "config.json")
        _ = try? ModelConfig(hfConfigAt: path)
    }

    /// The same bytes as each built-in task's file, then few-shot prompts and GSM8K prompts and scores.
    static func jsonl(_ bytes: UnsafeRawBufferPointer) {
        let root = Scratch.directory("data")
        for t in Dataset.tasks {
            let dir = root + "/" + (t.file as NSString).deletingLastPathComponent
            try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            _ = Scratch.write(bytes, as: "data/" + t.file)
            guard let ds = try? Dataset.load(t.name, dataDir: root) else { continue }
            if ds.layout == .gsm8k {
                let n = min(ds.genItems.count, 3)
                let prompts = GSM8K.prompts(test: ds.genItems, train: ds.genItems, docs: 0..<n, shots: min(2, ds.genItems.count))
                for (p, item) in zip(prompts, ds.genItems) {
                    _ = GSM8K.exactMatch(GSM8K.flexible(p), reference: item.answer)
                    _ = GSM8K.exactMatch(GSM8K.strict(item.answer), reference: item.answer)
                }
            } else {
                _ = FewShot.items(Array(ds.items.prefix(3)), pool: ds.items, shots: 2, sameSplit: true)
            }
        }
    }

    /// Encodes and decodes a fixed text (bytes outside ASCII, digits, spaces) and every id back.
    static func exercise(_ t: Tokenizer) {
        let ids = t.encode("Hello, wörld! 123  \n\tÄ🙂<|im_end|>", addSpecial: true)
        _ = t.decode(ids)
        _ = t.decode(Array(0..<min(t.tokens.count, 64)), skipSpecial: true)
    }
}

/// A private directory (in /dev/shm when there is one) where file readers find their input.
enum Scratch {
    static let root: String = {
        let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        let d = base + "/aft-fuzz-\(getpid())"
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(atPath: Scratch.root) }
        return d
    }()

    /// Creates `root/name` and returns its path.
    static func directory(_ name: String) -> String {
        let d = root + "/" + name
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    /// Writes the bytes to `root/name` (replacing it) and returns the path.
    static func write(_ bytes: UnsafeRawBufferPointer, as name: String) -> String {
        let p = root + "/" + name
        let fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        if fd >= 0 {
            if let b = bytes.baseAddress, bytes.count > 0 { _ = Foundation.write(fd, b, bytes.count) }
            close(fd)
        }
        return p
    }
}
