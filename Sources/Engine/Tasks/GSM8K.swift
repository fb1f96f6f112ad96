import Foundation

/// GSM8K exactly as lm-evaluation-harness 0.4 runs it (`gsm8k.yaml`, version 3.0): few-shot
/// prompts from the train split, greedy generation until a stop sequence, the strict and
/// flexible answer filters, and exact match after the same normalisation.
public enum GSM8K {
    /// lm-eval's `until` for gsm8k.
    public static let stopSequences = ["Question:", "</s>", "<|im_end|>"]
    /// Few-shot examples per problem in lm-eval's gsm8k (`num_fewshot`).
    public static let shots = 5
    /// lm-eval's default `max_gen_toks`.
    public static let maxTokens = 256
    /// lm-eval's few-shot seed (`fewshot_random_seed`).
    public static let fewshotSeed: UInt64 = 1234

    /// `doc_to_text`: the question as the model sees it.
    public static func question(_ q: String) -> String { "Question: \(q)\nAnswer:" }

    /// One solved example: `doc_to_text + target_delimiter + doc_to_target`.
    public static func shot(_ item: GenItem) -> String { question(item.question) + " " + item.answer }

    /// Indices into `train` of the shots lm-eval draws for each of the test documents 0..<count:
    /// one `random.Random(1234)` shared by the documents in order, `sample(train, k)` per document.
    public static func shotIndices(count: Int, trainCount: Int, shots k: Int) -> [[Int]] {
        guard k > 0 else { return [[Int]](repeating: [], count: count) }
        var rnd = PythonRandom(seed: fewshotSeed)
        return (0..<count).map { _ in rnd.sample(trainCount, min(k, trainCount)) }
    }

    /// The prompt of each test document in `docs`, byte-identical to lm-eval's: shots joined by
    /// `fewshot_delimiter` "\n\n", then the question. `fixed`: every document gets document 0's
    /// shots (one shared prefix; not lm-eval-comparable).
    public static func prompts(test: [GenItem], train: [GenItem], docs: Range<Int>, shots k: Int, fixed: Bool = false) -> [String] {
        prompts(test: test, train: train, docs: Array(docs), shots: k, fixed: fixed)
    }

    /// `prompts` for any documents (indices into `test`, in any order).
    public static func prompts(test: [GenItem], train: [GenItem], docs: [Int], shots k: Int, fixed: Bool = false) -> [String] {
        let draws = shotIndices(count: fixed ? 1 : (docs.max() ?? -1) + 1, trainCount: train.count, shots: k)
        return docs.map { doc in
            let idx = fixed ? draws[0] : draws[doc]
            let parts = idx.map { shot(train[$0]) } + [question(test[doc].question)]
            return parts.joined(separator: "\n\n")
        }
    }

    /// strict-match: the first `#### (\-?[0-9\.\,]+)` group, stripped, else "[invalid]".
    public static func strict(_ text: String) -> String {
        let m = matches(#"#### (\-?[0-9\.\,]+)"#, text)
        return m.first.map { $0[1].trimmingCharacters(in: .whitespacesAndNewlines) } ?? invalid
    }

    /// flexible-extract: the last match of `(-?[$0-9.,]{2,})|(-?[0-9]+)`, its first non-empty group, stripped.
    public static func flexible(_ text: String) -> String {
        guard let last = matches(#"(-?[$0-9.,]{2,})|(-?[0-9]+)"#, text).last else { return invalid }
        return (last.dropFirst().first { !$0.isEmpty } ?? invalid).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The filters' fallback.
    public static let invalid = "[invalid]"

    /// `exact_match`'s normalisation: `regexes_to_ignore` removed in order, then lower case.
    public static func normalise(_ s: String) -> String {
        var s = s
        for p in [",", #"\$"#, #"(?s).*#### "#, #"\.$"#] {
            let re = try! NSRegularExpression(pattern: p)   // constant patterns
            s = re.stringByReplacingMatches(in: s, range: NSRange(s.startIndex..., in: s), withTemplate: "")
        }
        return s.lowercased()
    }

    /// Whether a filtered answer matches the reference answer (both normalised).
    public static func exactMatch(_ prediction: String, reference: String) -> Bool {
        normalise(prediction) == normalise(reference)
    }

    /// Every match of `pattern` in `text`: the whole match and each group ("" where a group did not take part).
    static func matches(_ pattern: String, _ text: String) -> [[String]] {
        let re = try! NSRegularExpression(pattern: pattern)   // constant patterns
        return re.matches(in: text, range: NSRange(text.startIndex..., in: text)).map { m in
            (0..<m.numberOfRanges).map { i in Range(m.range(at: i), in: text).map { String(text[$0]) } ?? "" }
        }
    }
}

/// One scored GSM8K problem: what was asked, generated and extracted, and both verdicts.
public struct GSM8KScore: Equatable {
    public let doc: Int
    public let prompt: String
    /// The continuation before the first stop sequence.
    public let generated: String
    public let strict: String, flexible: String
    /// The reference answer after normalisation (the final number).
    public let target: String
    public let correctStrict: Bool, correctFlexible: Bool
    /// New tokens produced (an EOS that ended it not counted).
    public let tokens: Int

    public init(doc: Int, prompt: String, generated: String, answer: String, tokens: Int) {
        self.doc = doc; self.prompt = prompt; self.generated = generated; self.tokens = tokens
        strict = GSM8K.strict(generated); flexible = GSM8K.flexible(generated)
        target = GSM8K.normalise(answer)
        correctStrict = GSM8K.exactMatch(strict, reference: answer)
        correctFlexible = GSM8K.exactMatch(flexible, reference: answer)
    }

    /// One JSONL line: {"doc", "prompt", "generated", "strict", "flexible", "target", "exact_match_strict", "exact_match_flexible"}.
    public var jsonLine: String {
        let obj: [String: Any] = ["doc": doc, "prompt": prompt, "generated": generated, "strict": strict, "flexible": flexible,
                                  "target": target, "exact_match_strict": correctStrict ? 1 : 0, "exact_match_flexible": correctFlexible ? 1 : 0]
        let data = (try? JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}
