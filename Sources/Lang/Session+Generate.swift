import Engine
import Foundation

extension Session {
    /// `generate "text" [max_tokens=N] [with NAME]`: the greedy continuation, streamed as it is produced.
    func generate(_ s: Statement) throws {
        guard let m = model else { throw Diagnostic(.runtime, "no model loaded; run e.g. 'load smollm2-135m' first", at: s.location) }
        let prompt = str(s.positional.first) ?? ""
        let maxTokens = int(arg(s, "max_tokens")) ?? 1
        let gen = Generator(model: m)
        (gen.steering, _) = try steeringSet(s, m)
        let ids = m.tokenizer.encode(prompt, addSpecial: m.config.addBos)
        let t0 = Date()
        var streamed = false
        let out: [Generation]
        do {
            out = try gen.generate([ids], maxTokens: maxTokens, stop: [], shouldStop: { self.cancelled },
                                   onText: { _, delta in if let w = self.stream { w(delta); streamed = true } })
        } catch let e as EngineError {
            throw Diagnostic(.runtime, e.description, at: s.positional.first?.location ?? s.location)
        }
        if streamed { stream?("\n") }
        guard let g = out.first else { output("(interrupted before the first token)"); return }
        let stop: String
        switch g.stop { case .eos: stop = "eos"; case .maxTokens: stop = "max_tokens"; case .stopSequence(let q): stop = q }
        let r = GenerationResult(prompt: prompt, text: g.text, tokens: g.tokens.count, stop: stop, seconds: Date().timeIntervalSince(t0))
        if streamed { cellCapture?(r.display) } else { present(r, s) }
        store(ResultValue(r), s)
    }

    /// `eval gsm8k [limit=N] [offset=N] [shots=5|fixed] [max_tokens=256] [log=FILE] [with NAME]`:
    /// lm-eval's prompts, greedy batched generation, both answer filters and exact match.
    func evalGSM8K(_ s: Statement, _ ds: Dataset) throws {
        guard let m = model else { throw Diagnostic(.runtime, "no model loaded; run e.g. 'load smollm2-135m' first", at: s.location) }
        let train: Dataset
        do { train = try GSM8K.trainSplit(besides: ds.path) } catch {
            throw Diagnostic(.runtime, "GSM8K's few-shot examples come from its train split, which did not load: \(error)", at: s.positional.first?.location)
        }
        let offset = int(arg(s, "offset")) ?? 0
        var limit = int(s.named("limit")) ?? ds.genItems.count
        if smoke { limit = min(limit, 3) }
        let docs = min(offset, ds.genItems.count)..<min(offset + limit, ds.genItems.count)
        let shotsArg = word(s.named("shots")?.value) ?? String(GSM8K.shots)
        let fixed = shotsArg == "fixed"
        guard fixed || Int(shotsArg) != nil else {
            throw Diagnostic(.usage, "shots must be a number or 'fixed', not '\(shotsArg)'", at: s.named("shots")?.valueLocation)
        }
        let k = fixed ? GSM8K.shots : (Int(shotsArg) ?? GSM8K.shots)
        let maxTokens = int(arg(s, "max_tokens")) ?? GSM8K.maxTokens
        let gen = Generator(model: m)
        let (set, vlabel) = try steeringSet(s, m)
        gen.steering = set
        let prompts = GSM8K.prompts(test: ds.genItems, train: train.genItems, docs: docs, shots: k, fixed: fixed)
        let ids = prompts.map { m.tokenizer.encode($0, addSpecial: m.config.addBos) }
        do { try gen.checkLengths(ids, maxTokens: maxTokens) } catch let e as EngineError {
            throw Diagnostic(.runtime, e.description, at: s.named("max_tokens")?.valueLocation ?? s.location)
        }
        // The log is written whole at the end, to a temporary file renamed over the target.
        let logPath = str(s.named("log")).map { ($0 as NSString).expandingTildeInPath }
        let t0 = Date()
        progress?.begin("gsm8k", total: ids.count)
        var finished = 0
        let scores: [GSM8KScore]
        do {
            scores = try gen.solve(docs.map { ds.genItems[$0] }, prompts: prompts, ids: ids, maxTokens: maxTokens, shouldStop: { self.cancelled },
                                   onFinish: { _ in finished += 1; self.progress?.advance(finished) })
        } catch let e as EngineError {
            progress?.end()
            throw Diagnostic(.runtime, e.description, at: s.location)
        }
        progress?.end()
        if let p = logPath {
            do { try writeAtomically(Data(scores.map { $0.jsonLine + "\n" }.joined().utf8), to: p) } catch {
                throw Diagnostic(.runtime, "cannot write '\(p)': \(error)", at: s.named("log")?.valueLocation)
            }
        }
        // lm-eval's files: written now with lmeval=DIR, and by a notebook into its results/.
        let (lines, metrics) = LMEvalOutput.gsm8k(ds, scores: scores, maxTokens: maxTokens, stop: GSM8K.stopSequences)
        let files = fixed ? nil : LMEvalFiles(model: m, task: "gsm8k", shots: k, total: ds.genItems.count, samples: lines, metrics: metrics,
                                              seconds: Date().timeIntervalSince(t0))
        if let dir = str(s.named("lmeval")).map({ ($0 as NSString).expandingTildeInPath }) {
            guard let f = files else {
                throw Diagnostic(.usage, "shots=fixed prompts are not lm-eval's; lm-eval files would misreport them", at: s.named("lmeval")?.location)
            }
            try writeLMEval(dir, f, s)
        }
        let shots = fixed ? "5-shot, one fixed set of shots for every problem (not lm-eval-comparable)"
                          : "\(k)-shot, lm-eval prompts"
        var r = GSM8KResult(task: vlabel.map { "gsm8k with \($0)" } ?? "gsm8k", model: m.name, scores: scores, shots: shots,
                            seconds: Date().timeIntervalSince(t0), interrupted: scores.count < ids.count)
        r.lmEval = files
        r.work = gen.work
        present(r, s)
        store(ResultValue(r), s)
    }

    /// `lmeval=DIR`: lm-eval's results and samples files for this evaluation.
    func writeLMEval(_ dir: String, _ files: LMEvalFiles, _ s: Statement) throws {
        do {
            let (r, sp) = try files.write(to: dir)
            output("  lm-eval files: \(r)\n                 \(sp)")
        } catch {
            throw Diagnostic(.runtime, "cannot write the lm-eval files in '\(dir)': \(error)", at: s.named("lmeval")?.valueLocation)
        }
    }
}
