import Foundation

/// Contrastive Activation Addition's behaviour datasets (Rimsky et al.) as multiple-choice items.
///
/// Each row is `{question, answer_matching_behavior, answer_not_matching_behavior}` with answers
/// like "(A)". An item's context is `question + "\n\nAnswer: "` and its two choices are the
/// answers without their closing parenthesis ("(A", "(B"), joined with no delimiter, so that
/// - the text of a choice is CAA's reading text, whose last token is the answer letter, and
/// - the normalised probability of the first choice is CAA's A/B behaviour probability
///   p(matching letter) / (p(A) + p(B)) after "Answer: (" (the shared " (" cancels).
/// Choice 0 (the gold) is always the behaviour-matching answer.
public enum CAA {
    /// The two files of a behaviour: contrastive pairs to extract or train from, and the A/B test set.
    public enum File {
        case generate, test
        func path(_ behaviour: String) -> String {
            switch self {
            case .generate: return "caa/generate/\(behaviour)/generate_dataset.json"
            case .test: return "caa/test/\(behaviour)/test_dataset_ab.json"
            }
        }
    }

    /// The behaviour named by a task `caa/BEHAVIOUR`, or nil for any other task.
    public static func behaviour(_ task: String) -> String? {
        guard task.hasPrefix("caa/") else { return nil }
        let b = String(task.dropFirst(4))
        return b.isEmpty || b.contains("/") || b.hasSuffix(".json") || b.hasSuffix(".jsonl") ? nil : b
    }

    /// Behaviours with a generate file under the data directories searched.
    public static func behaviours(dataDir: String?) -> [String] {
        for d in Dataset.searchDirs(configured: dataDir) {
            let g = d + "/caa/generate"
            if let names = try? FileManager.default.contentsOfDirectory(atPath: g) {
                return names.filter { FileManager.default.fileExists(atPath: "\(g)/\($0)/generate_dataset.json") }.sorted()
            }
        }
        return []
    }

    /// Loads one file of a behaviour as two-choice items (gold 0 = the matching answer).
    public static func load(_ behaviour: String, file: File, dataDir: String?) throws -> Dataset {
        let rel = file.path(behaviour)
        let dirs = Dataset.searchDirs(configured: dataDir)
        guard let dir = dirs.first(where: { FileManager.default.fileExists(atPath: $0 + "/" + rel) }) else {
            let known = behaviours(dataDir: dataDir)
            if !known.isEmpty && !known.contains(behaviour) {
                throw EngineError.unknownTask("caa/\(behaviour)", known: known.map { "caa/" + $0 })
            }
            throw EngineError.dataNotFound(file: rel, lookedIn: dirs)
        }
        return try parse(path: dir + "/" + rel, name: "caa/\(behaviour)")
    }

    /// The item of one row: context `question + "\n\nAnswer: "`, choices the two answers without ")".
    public static func item(doc: Int, question: String, matching: String, notMatching: String) -> MCItem {
        func open(_ a: String) -> String {
            let t = a.trimmingCharacters(in: .whitespaces)
            return t.hasSuffix(")") ? String(t.dropLast()) : t
        }
        var it = MCItem(doc: doc, context: question + "\n\nAnswer: ", choices: [open(matching), open(notMatching)], gold: 0)
        it.delimiter = ""
        return it
    }

    static func parse(path: String, name: String) throws -> Dataset {
        guard let data = FileManager.default.contents(atPath: path) else { throw EngineError.fileNotFound(path: path) }
        guard let rows = (try? JSONSerialization.jsonObject(with: data)) as? [Any] else {
            throw EngineError.dataset(path: path, line: 1, message: "not a JSON array of {question, answer_matching_behavior, answer_not_matching_behavior}")
        }
        var items: [MCItem] = [], raw: [Data] = []
        for (i, r) in rows.enumerated() {
            guard let row = r as? [String: Any], let q = row["question"] as? String,
                  let a = row["answer_matching_behavior"] as? String, let b = row["answer_not_matching_behavior"] as? String else {
                throw EngineError.dataset(path: path, line: 1, message: "row \(i) lacks string fields question, answer_matching_behavior, answer_not_matching_behavior")
            }
            guard !a.isEmpty, !b.isEmpty, a != b else {
                throw EngineError.dataset(path: path, line: 1, message: "row \(i): the matching and non-matching answers must be two different non-empty strings")
            }
            items.append(item(doc: i, question: q, matching: a, notMatching: b))
            raw.append((try? JSONSerialization.data(withJSONObject: row, options: [.sortedKeys])) ?? Data())
        }
        guard !items.isEmpty else { throw EngineError.dataset(path: path, line: 1, message: "no items: the file is an empty list") }
        var ds = Dataset(name: name, path: path, layout: .caa, items: items, genItems: [])
        ds.rawDocs = raw
        ds.fingerprint = String(fnv1a64(data), radix: 16)
        return ds
    }

    /// The behaviour probability of a scored two-choice item: p(choice 0) / (p(choice 0) + p(choice 1)),
    /// in general the gold's probability normalised over the item's choices.
    public static func goldProbability(_ s: ItemScore) -> Double {
        guard s.gold < s.ll.count, let m = s.ll.max(), m.isFinite else { return .nan }
        let z = s.ll.reduce(0.0) { $0 + exp($1 - m) }
        return exp(s.ll[s.gold] - m) / z
    }
}
