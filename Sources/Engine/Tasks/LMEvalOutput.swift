import Foundation

/// What lm-evaluation-harness 0.4 writes with `--output_path DIR --log_samples`, for aft's own
/// results: `DIR/<model>/results_<time>.json` and `samples_<task>_<time>.jsonl`, with the same keys
/// and value types, so tools built for lm-eval's files read aft's.
///
/// Samples carry the document as the task file holds it, the request arguments, the responses
/// (log-likelihood and is-greedy as strings for multiple choice; the generation for GSM8K), the
/// filtered responses, per-item metrics, and lm-eval's sha256 hashes of the document
/// (`json.dumps(doc, indent=2, ensure_ascii=False)`), the prompt and the target. Standard errors
/// are lm-eval's `mean_stderr` (sample standard deviation over √n; "N/A" below two items).
public enum LMEvalOutput {
    /// lm-eval's name and version of a built-in task.
    public static func task(_ name: String) -> (name: String, version: Double) {
        switch name {
        case "arc-easy": return ("arc_easy", 1.0)
        case "arc-challenge": return ("arc_challenge", 1.0)
        case "gsm8k": return ("gsm8k", 3.0)
        default: return (name.replacingOccurrences(of: "-", with: "_"), 1.0)
        }
    }

    static func sha(_ s: String) -> String { var h = SHA256(); h.update(Data(s.utf8)); return h.hexDigest() }

    /// lm-eval's `mean_stderr`, or "N/A" for fewer than two values.
    public static func stderr(_ xs: [Double]) -> PythonJSON {
        guard xs.count > 1 else { return .string("N/A") }
        let n = Double(xs.count), mu = xs.reduce(0, +) / n
        return .double((xs.reduce(0) { $0 + ($1 - mu) * ($1 - mu) } / (n - 1)).squareRoot() / n.squareRoot())
    }

    /// The document as lm-eval logs it: the row, and for HellaSwag the fields its `process_docs`
    /// adds to the row (`query`, `choices`, `gold`, preprocessed as lm-eval's `preprocess` does).
    static func doc(_ ds: Dataset, _ i: Int) -> PythonJSON {
        guard i < ds.rawDocs.count, let row = PythonJSON.parse(ds.rawDocs[i]) else { return .null }
        guard ds.layout == .hellaswag, case .object(var kv) = row, i < ds.items.count else { return row }
        let item = ds.items[i]
        let added: [(String, PythonJSON)] = [("query", .string(hellaswagPreprocess(item.context))),
                                             ("choices", .array(item.choices.map { .string(hellaswagPreprocess($0)) })),
                                             ("gold", .int(String(item.gold)))]
        // datasets.map keeps the row's columns and adds (or replaces) the new ones after them.
        for (k, v) in added {
            if let at = kv.firstIndex(where: { $0.0 == k }) { kv[at].1 = v } else { kv.append((k, v)) }
        }
        return .object(kv)
    }

    /// lm-eval's HellaSwag `preprocess`: strip, " [title]" → ". ", drop "[…]" tags, "  " → " ".
    static func hellaswagPreprocess(_ text: String) -> String {
        var t = text.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: " [title]", with: ". ")
        t = t.replacingOccurrences(of: "\\[.*?\\]", with: "", options: .regularExpression)
        return t.replacingOccurrences(of: "  ", with: " ")
    }

    static func sample(docId: Int, doc: PythonJSON, target: String, arguments: [(String, PythonJSON)], resps: [PythonJSON],
                       filtered: [PythonJSON], filter: String, metrics: [(String, Double)]) -> PythonJSON {
        let args = PythonJSON.object(arguments.enumerated().map { k, a in
            ("gen_args_\(k)", .object([("arg_0", .string(a.0)), ("arg_1", a.1)]))
        })
        return .object([("doc_id", .int(String(docId))), ("doc", doc), ("target", .string(target)), ("arguments", args),
                        ("resps", .array(resps)), ("filtered_resps", .array(filtered)), ("filter", .string(filter)),
                        ("metrics", .array(metrics.map { .string($0.0) })),
                        ("doc_hash", .string(sha(doc.dumps(indent: 2)))), ("prompt_hash", .string(sha(arguments.first?.0 ?? ""))),
                        ("target_hash", .string(sha(target)))] + metrics.map { ($0.0, .double($0.1)) })
    }

    /// Samples and the task's results entry for a multiple-choice evaluation.
    public static func multipleChoice(_ ds: Dataset, items: [MCItem], scores: [ItemScore]) -> (samples: [PythonJSON], metrics: [(String, [Double])]) {
        var lines: [PythonJSON] = [], acc: [Double] = [], accNorm: [Double] = []
        for (item, s) in zip(items, scores) {
            let pairs = item.continuations.enumerated().map { k, c -> PythonJSON in
                .array([.string(PythonJSON.repr(s.ll[k])), .string(k < s.greedy.count && s.greedy[k] ? "True" : "False")])
            }
            let a = s.correct ? 1.0 : 0.0, b = s.correctNorm ? 1.0 : 0.0
            acc.append(a); accNorm.append(b)
            lines.append(sample(docId: item.doc, doc: doc(ds, item.doc), target: String(item.gold),
                                arguments: item.continuations.map { (item.context, .string($0)) }, resps: pairs.map { .array([$0]) },
                                filtered: pairs, filter: "none", metrics: [("acc", a), ("acc_norm", b)]))
        }
        return (lines, [("acc", acc), ("acc_norm", accNorm)])
    }

    /// Samples (one per document and filter, strict-match first) and metrics for GSM8K.
    public static func gsm8k(_ ds: Dataset, scores: [GSM8KScore], maxTokens: Int, stop: [String]) -> (samples: [PythonJSON], metrics: [(String, [Double])]) {
        let kwargs = PythonJSON.object([("until", .array(stop.map { .string($0) })), ("do_sample", .bool(false)),
                                        ("temperature", .double(0)), ("max_gen_toks", .int(String(maxTokens)))])
        var lines: [PythonJSON] = [], strict: [Double] = [], flexible: [Double] = []
        for (filter, extract) in [("strict-match", \GSM8KScore.strict), ("flexible-extract", \GSM8KScore.flexible)] {
            for s in scores {
                let d = doc(ds, s.doc)
                let target: String = { if case .string(let a)? = d["answer"] { return a }; return s.target }()
                let hit = (filter == "strict-match" ? s.correctStrict : s.correctFlexible) ? 1.0 : 0.0
                if filter == "strict-match" { strict.append(hit) } else { flexible.append(hit) }
                lines.append(sample(docId: s.doc, doc: d, target: target, arguments: [(s.prompt, kwargs)],
                                    resps: [.array([.string(s.generated)])], filtered: [.string(s[keyPath: extract])],
                                    filter: filter, metrics: [("exact_match", hit)]))
            }
        }
        return (lines, [("exact_match,strict-match", strict), ("exact_match,flexible-extract", flexible)])
    }

    /// The tokenizer facts lm-eval records in a results file: (text, id) of the pad, EOS and BOS
    /// tokens, the end-of-text id, and the longest input.
    public struct TokenizerFacts {
        public var pad: (String, Int)?, eos: (String, Int)?, bos: (String, Int)?
        public var maxLength: Int
        public init(pad: (String, Int)?, eos: (String, Int)?, bos: (String, Int)?, maxLength: Int) {
            self.pad = pad; self.eos = eos; self.bos = bos; self.maxLength = maxLength
        }
        /// A model's: EOS is its lowest end-of-sequence id, pad falls back to EOS (as lm-eval's HF model sets it).
        public init(_ m: LanguageModel) {
            let tok = m.tokenizer
            let e = tok.eosIds.min().map { (tok.decode([$0]), $0) }
            eos = e; pad = e
            bos = m.config.bosTokenId.map { (tok.decode([$0]), $0) }
            maxLength = m.config.maxPositions ?? 2048
        }
    }

    /// lm-eval's record of a special token: [text, "id"], or [null, "None"] when the tokenizer has none.
    static func tokenPair(_ p: (String, Int)?) -> PythonJSON { p.map { .array([.string($0.0), .string(String($0.1))]) } ?? .array([.null, .string("None")]) }

    /// Writes `dir/<model>/results_<time>.json` and `samples_<task>_<time>.jsonl`; returns their paths.
    /// `metrics`: per-item values by lm-eval's metric key (`acc`, or `exact_match,strict-match`).
    public static func write(to dir: String, model: String, modelPath: String, task taskName: String, shots: Int, total: Int,
                             samples: [PythonJSON], metrics: [(String, [Double])], seconds: Double, date: Date = Date(),
                             tokenizer: TokenizerFacts? = nil) throws -> (String, String) {
        let (task, version) = task(taskName)
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX"); f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyy-MM-dd'T'HH-mm-ss.SSSSSS"
        let stamp = f.string(from: date)
        let sanitized = model.replacingOccurrences(of: "/", with: "__")
        let base = dir + "/" + sanitized
        let n = metrics.first?.1.count ?? 0
        var entry: [(String, PythonJSON)] = [("name", .string(task)), ("alias", .string(task)), ("sample_len", .int(String(n)))]
        var better: [(String, PythonJSON)] = []
        for (key, values) in metrics {
            let (metric, filter) = key.contains(",") ? (String(key.split(separator: ",")[0]), String(key.split(separator: ",")[1])) : (key, "none")
            entry.append(("\(metric),\(filter)", .double(values.isEmpty ? 0 : values.reduce(0, +) / Double(values.count))))
            entry.append(("\(metric)_stderr,\(filter)", stderr(values)))
            if !better.contains(where: { $0.0 == metric }) { better.append((metric, .bool(true))) }
        }
        let results = PythonJSON.object([
            ("results", .object([(task, .object(entry))])),
            ("group_subtasks", .object([(task, .array([]))])),
            ("configs", .object([(task, .object([("task", .string(task)), ("output_type", .string(task == "gsm8k" ? "generate_until" : "multiple_choice")),
                                                   ("num_fewshot", .int(String(shots))), ("metadata", .object([("version", .double(version))]))]))])),
            ("versions", .object([(task, .double(version))])),
            ("n-shot", .object([(task, .int(String(shots)))])),
            ("higher_is_better", .object([(task, .object(better))])),
            ("n-samples", .object([(task, .object([("original", .int(String(total))), ("effective", .int(String(n)))]))])),
            ("config", .object([("model", .string("aft")), ("model_args", .string(modelPath)), ("batch_size", .string("auto")),
                                ("limit", n < total ? .double(Double(n)) : .null), ("bootstrap_iters", .int("0"))])),
            ("git_hash", .null), ("date", .double(date.timeIntervalSince1970)),
            ("pretty_env_info", .string("AFT Shell (aft), f32 over OpenBLAS; files in lm-eval 0.4's layout")),
            ("transformers_version", .string("none (aft)")), ("lm_eval_version", .string("none (aft, lm-eval 0.4 file layout)")),
            ("upper_git_hash", .null),
            ("tokenizer_pad_token", tokenPair(tokenizer?.pad ?? nil)),
            ("tokenizer_eos_token", tokenPair(tokenizer?.eos ?? nil)),
            ("tokenizer_bos_token", tokenPair(tokenizer?.bos ?? nil)),
            ("eot_token_id", tokenizer?.eos.map { .int(String($0.1)) } ?? .null),
            ("max_length", tokenizer.map { .int(String($0.maxLength)) } ?? .null),
            ("task_hashes", .object([])), ("model_source", .string("aft")),
            ("model_name", .string(model)), ("model_name_sanitized", .string(sanitized)),
            ("system_instruction", .null), ("system_instruction_sha", .null), ("fewshot_as_multiturn", .bool(false)),
            ("chat_template", .null), ("chat_template_sha", .null),
            ("total_evaluation_time_seconds", .string(PythonJSON.repr(seconds))),
        ])
        let rp = base + "/results_\(stamp).json", sp = base + "/samples_\(task)_\(stamp).jsonl"
        try writeAtomically(Data(samples.map { $0.dumps() + "\n" }.joined().utf8), to: sp)
        try writeAtomically(Data(results.dumps(indent: 2).utf8), to: rp)
        return (rp, sp)
    }
}

/// One evaluation's lm-eval files, ready to write: kept with its result, so that `eval … lmeval=DIR`
/// and a notebook's `results/` write the same files.
public struct LMEvalFiles {
    public let model: String, modelPath: String, task: String
    public let shots: Int, total: Int
    public let samples: [PythonJSON]
    public let metrics: [(String, [Double])]
    public let seconds: Double
    public let date: Date
    public let tokenizer: LMEvalOutput.TokenizerFacts

    public init(model: LanguageModel, task: String, shots: Int, total: Int, samples: [PythonJSON], metrics: [(String, [Double])],
                seconds: Double, date: Date = Date()) {
        self.model = model.name; modelPath = model.path; self.task = task; self.shots = shots; self.total = total
        self.samples = samples; self.metrics = metrics; self.seconds = seconds; self.date = date
        tokenizer = LMEvalOutput.TokenizerFacts(model)
    }

    /// Writes `dir/<model>/results_<time>.json` and `samples_<task>_<time>.jsonl`; returns their paths.
    public func write(to dir: String) throws -> (results: String, samples: String) {
        try LMEvalOutput.write(to: dir, model: model, modelPath: modelPath, task: task, shots: shots, total: total,
                               samples: samples, metrics: metrics, seconds: seconds, date: date, tokenizer: tokenizer)
    }
}
