import Foundation

/// One multiple-choice item in lm-eval form: the model scores `context` + " " + choice.
public struct MCItem: Equatable {
    public let doc: Int              // index of the row in its file (0-based)
    public let context: String
    public let choices: [String]
    public let gold: Int
    /// What goes between the context and a choice: lm-eval's `target_delimiter` (" "; "" for CAA's
    /// A/B items, whose context ends "Answer: " and whose choices are "(A", "(B").
    public var delimiter = " "
    /// Continuation strings actually scored (target delimiter + choice).
    public var continuations: [String] { choices.map { delimiter + $0 } }
    /// Each choice's whole text, context and continuation (what an extracted vector reads at its last token).
    public var texts: [String] { continuations.map { context + $0 } }
    /// Characters (Unicode scalars) of each choice: lm-eval's acc_norm denominator.
    public var choiceChars: [Int] { choices.map { $0.unicodeScalars.count } }
}

/// A GSM8K-style generation item (question, reference answer and its final number).
public struct GenItem: Equatable {
    public let doc: Int
    public let question: String
    public let answer: String
    public var finalAnswer: String? {
        answer.components(separatedBy: "####").last.map { $0.trimmingCharacters(in: .whitespaces) }
    }
}

/// FNV-1a 64 of `d`: a cheap, stable content hash for run keys.
func fnv1a64(_ d: Data) -> UInt64 {
    var h: UInt64 = 0xCBF2_9CE4_8422_2325
    for b in d { h ^= UInt64(b); h = h &* 0x100_0000_01B3 }
    return h
}

/// A task's items loaded from JSONL.
public struct Dataset {
    public enum Layout: String { case hellaswag, arc, gsm8k, caa }
    public let name: String
    public let path: String
    public let layout: Layout
    public let items: [MCItem]
    public let genItems: [GenItem]
    /// The file's content hash (FNV-1a 64, hex), taken from the bytes already read to parse it.
    public var fingerprint = ""
    /// Each document's JSON line as the file holds it, by doc index (lm-eval's logged `doc`).
    public var rawDocs: [Data] = []
    public var count: Int { layout == .gsm8k ? genItems.count : items.count }

    /// Built-in tasks → file under the data directory.
    public static let tasks: [(name: String, file: String, layout: Layout)] = [
        ("hellaswag", "hellaswag/hellaswag_val.jsonl", .hellaswag),
        ("arc-challenge", "arc_challenge/arc_challenge_test.jsonl", .arc),
        ("arc-easy", "arc_easy/arc_easy_test.jsonl", .arc),
        ("gsm8k", "gsm8k/test.jsonl", .gsm8k),
    ]
    public static var taskNames: [String] { tasks.map { $0.name } }

    /// Directories searched for a built-in task's file when no data directory is given, in order:
    /// $AFT_DATA, ./data, ../shared/data, shared/data. The application may add its own (the shell
    /// adds the `shared/data` beside the checkout its binary was built in).
    nonisolated(unsafe) public static var defaultSearchDirs: [String] = {
        let cwd = FileManager.default.currentDirectoryPath
        return (ProcessInfo.processInfo.environment["AFT_DATA"].map { [$0] } ?? []) + [cwd + "/data", cwd + "/../shared/data", cwd + "/shared/data"]
    }()

    /// Where a built-in task is looked for: only the configured directory when there is one (a
    /// wrong `set data=` is reported, not silently replaced by another copy), else `defaultSearchDirs`.
    public static func searchDirs(configured: String?) -> [String] {
        configured.map { [($0 as NSString).expandingTildeInPath] } ?? defaultSearchDirs
    }

    /// Loads a built-in task by name, or any JSONL file in one of the supported layouts.
    public static func load(_ task: String, dataDir: String? = nil) throws -> Dataset {
        if let behaviour = CAA.behaviour(task) { return try CAA.load(behaviour, file: .generate, dataDir: dataDir) }
        if task.hasSuffix(".jsonl") || task.contains("/") {
            let p = (task as NSString).expandingTildeInPath
            guard FileManager.default.fileExists(atPath: p) else { throw EngineError.fileNotFound(path: p) }
            return try parse(path: p, name: (p as NSString).lastPathComponent, layout: nil)
        }
        guard let t = tasks.first(where: { $0.name == task }) else {
            throw EngineError.unknownTask(task, known: taskNames)
        }
        let dirs = searchDirs(configured: dataDir)
        for d in dirs where FileManager.default.fileExists(atPath: d + "/" + t.file) {
            return try parse(path: d + "/" + t.file, name: t.name, layout: t.layout)
        }
        throw EngineError.dataNotFound(file: t.file, lookedIn: dirs)
    }

    static func parse(path: String, name: String, layout: Layout?) throws -> Dataset {
        guard let data = FileManager.default.contents(atPath: path) else { throw EngineError.fileNotFound(path: path) }
        var items: [MCItem] = [], gen: [GenItem] = [], raw: [Data] = []
        var lay = layout
        var doc = 0
        for (i, lineSub) in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            let line = i + 1
            if lineSub.allSatisfy({ $0 == 32 || $0 == 13 || $0 == 9 }) { continue }
            guard let obj = try? JSONSerialization.jsonObject(with: Data(lineSub)), let row = obj as? [String: Any] else {
                throw EngineError.dataset(path: path, line: line, message: "not a JSON object")
            }
            if lay == nil {
                if row["endings"] != nil { lay = .hellaswag }
                else if row["choices"] != nil { lay = .arc }
                else if row["answer"] != nil { lay = .gsm8k }
                else { throw EngineError.dataset(path: path, line: line, message: "unknown layout: expected fields ctx/endings/label, question/choices/answerKey, or question/answer") }
            }
            func fail(_ m: String) -> EngineError { .dataset(path: path, line: line, message: m) }
            switch lay! {
            case .hellaswag:
                guard let ctx = row["ctx"] as? String else { throw fail("missing string field 'ctx'") }
                guard let endings = row["endings"] as? [String], endings.count >= 2 else { throw fail("'endings' must be a list of at least 2 strings") }
                let label = (row["label"] as? NSNumber)?.intValue ?? (row["label"] as? String).flatMap { Int($0) }
                guard let g = label, g >= 0, g < endings.count else { throw fail("'label' must be an index into 'endings'") }
                items.append(MCItem(doc: doc, context: ctx, choices: endings, gold: g))
            case .arc:
                guard let q = row["question"] as? String else { throw fail("missing string field 'question'") }
                guard let ch = row["choices"] as? [String: Any], let texts = ch["text"] as? [String],
                      let labels = ch["label"] as? [String], texts.count == labels.count, texts.count >= 2 else {
                    throw fail("'choices' must have equal-length 'text' and 'label' lists")
                }
                guard let key = row["answerKey"] as? String, let g = labels.firstIndex(of: key) else {
                    throw fail("'answerKey' is not one of the choice labels \(labels)")
                }
                items.append(MCItem(doc: doc, context: "Question: \(q)\nAnswer:", choices: texts, gold: g))
            case .gsm8k:
                guard let q = row["question"] as? String, let a = row["answer"] as? String else {
                    throw fail("expected string fields 'question' and 'answer'")
                }
                gen.append(GenItem(doc: doc, question: q, answer: a))
            case .caa:
                throw fail("CAA behaviour files are JSON arrays; load them as caa/BEHAVIOUR")
            }
            raw.append(Data(lineSub))
            doc += 1
        }
        guard !items.isEmpty || !gen.isEmpty else {
            throw EngineError.dataset(path: path, line: 1, message: "no items: the file is empty (a score over no items would mean nothing)")
        }
        var ds = Dataset(name: name, path: path, layout: lay ?? .arc, items: items, genItems: gen)
        ds.rawDocs = raw
        ds.fingerprint = String(fnv1a64(data), radix: 16)
        return ds
    }
}
