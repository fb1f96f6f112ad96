import Foundation

/// Why a continuation ended.
public enum StopReason: Equatable {
    /// The text reached this stop sequence (it is cut off before it).
    case stopSequence(String)
    /// The model produced an end-of-sequence token.
    case eos
    /// `maxTokens` new tokens were produced.
    case maxTokens
}

/// One prompt's greedy continuation.
public struct Generation: Equatable {
    /// Index of the prompt in the request.
    public let index: Int
    public let promptTokens: Int
    /// Generated token ids (an EOS that ended it is not included).
    public var tokens: [Int]
    /// The continuation's text, cut before the first stop sequence.
    public var text: String
    public var stop: StopReason
}

/// Greedy decoding with per-sequence KV caches and continuous batching: prompts are prefilled
/// and decoded together, each step's GEMMs have one row per live sequence (plus the prompts being
/// prefilled), and a finished sequence's slot goes to the next prompt at once.
///
/// Every step runs the model's one block function over `.cached` spans; steering vectors are added
/// after their blocks at every prompt and generated position.
public final class Generator {
    public let model: LanguageModel
    /// Vectors added after their blocks (−1: to the embeddings) at every position.
    public var steering: SteeringSet = []
    /// Sequences decoded together (rows of a decode step).
    public var maxBatch = 16
    /// A common prompt prefix at least this long is run once and shared (see `generate`).
    public var minSharedPrefix = 16
    /// Prompt tokens prefilled in one step at most (a longer prompt still goes in whole).
    public var maxPrefillTokens = 2048
    /// `AFT_GEN_TRACE=1`: each step's rows, sequences and milliseconds on stderr (where time goes: prefill or decode).
    let trace = ProcessInfo.processInfo.environment["AFT_GEN_TRACE"] != nil
    /// Token ids that end a sequence.
    public var eos: Set<Int>

    public init(model: LanguageModel) {
        self.model = model
        eos = model.tokenizer.eosIds
    }

    /// A live sequence.
    final class Slot {
        let index: Int, cache: KVCache, promptCount: Int
        var tokens: [Int] = []
        var next: [Int]            // tokens to run this step (the prompt, then one token)
        var text = ""
        /// Characters of `text` already streamed.
        var streamed = 0
        /// A sequence whose cache already holds the first `prefix.length` prompt tokens (a copy of `prefix`).
        init(index: Int, prompt: [Int], config: ModelConfig, prefix: KVCache?) {
            self.index = index; promptCount = prompt.count
            cache = prefix?.copy() ?? KVCache(config: config)
            next = Array(prompt[cache.length...])
        }
    }

    /// Checks that every prompt plus `maxTokens` fits the model's context; the error says by how much.
    public func checkLengths(_ prompts: [[Int]], maxTokens: Int) throws {
        guard maxTokens > 0 else { throw EngineError.invalidArgument("max_tokens must be at least 1 (got \(maxTokens))") }
        for (i, p) in prompts.enumerated() {
            guard !p.isEmpty else { throw EngineError.invalidArgument("prompt \(i) is empty") }
            if let n = model.config.maxPositions, p.count + maxTokens > n {
                throw EngineError.invalidArgument("prompt \(i) has \(p.count) tokens; with max_tokens=\(maxTokens) it needs \(p.count + maxTokens), \(p.count + maxTokens - n) more than \(model.name)'s context of \(n)")
            }
        }
    }

    /// Greedy continuations of `prompts` (token ids), in prompt order.
    ///
    /// - Parameters:
    ///   - stop: stop sequences, checked on the decoded text; the text is cut before the first one found.
    ///   - shouldStop: polled before each step; on a stop, the finished continuations that form an
    ///     in-order prefix are returned (the rest are dropped).
    ///   - onText: the newly decoded text of prompt `index` after each step (streaming).
    ///   - onFinish: each continuation as it finishes (any order).
    public func generate(_ prompts: [[Int]], maxTokens: Int, stop: [String] = [], shouldStop: () -> Bool = { false },
                         onText: ((_ index: Int, _ delta: String) -> Void)? = nil,
                         onFinish: (Generation) -> Void = { _ in }) throws -> [Generation] {
        try checkLengths(prompts, maxTokens: maxTokens)
        let tf = model.transformer, c = model.config, d = c.hidden
        // Prompts that share a long token prefix (one fixed set of few-shot examples): the prefix
        // runs once and every sequence's cache starts as a copy of it.
        var prefix: KVCache? = nil
        let shared = Generator.commonPrefix(prompts)
        if prompts.count > 1 && shared >= minSharedPrefix {
            let pc = KVCache(config: c), pos = Array(0..<shared)
            _ = forward(Array(prompts[0][0..<shared]), positions: pos,
                        spans: [CacheSpan(cache: pc, positions: pos, segments: [Int](repeating: 0, count: shared))])
            pc.commit(shared)
            prefix = pc
        }
        var done = [Generation?](repeating: nil, count: prompts.count)
        var live: [Slot] = []
        var nextPrompt = 0
        while nextPrompt < prompts.count || !live.isEmpty {
            if shouldStop() { break }
            // Admit prompts while there are free slots and prefill room this step.
            var prefill = 0
            func own(_ i: Int) -> Int { prompts[i].count - (prefix?.length ?? 0) }
            while nextPrompt < prompts.count && live.count < maxBatch
                    && (prefill == 0 || prefill + own(nextPrompt) <= maxPrefillTokens) {
                prefill += own(nextPrompt)
                live.append(Slot(index: nextPrompt, prompt: prompts[nextPrompt], config: c, prefix: prefix))
                nextPrompt += 1
            }
            // One forward over every live sequence's new tokens.
            var tokens: [Int] = [], positions: [Int] = [], spans: [CacheSpan] = []
            for s in live {
                let pos = (0..<s.next.count).map { s.cache.length + $0 }
                tokens += s.next; positions += pos
                spans.append(CacheSpan(cache: s.cache, positions: pos, segments: [Int](repeating: 0, count: pos.count)))
            }
            let tStep = Date()
            defer { if trace { FileHandle.standardError.write(Data("step rows \(tokens.count) seqs \(spans.count) \(String(format: "%.1f", Date().timeIntervalSince(tStep) * 1000)) ms\n".utf8)) } }
            let x = forward(tokens, positions: positions, spans: spans)
            // The last row of each span predicts the sequence's next token.
            var lastRows: [Int] = [], r = 0
            for s in live { r += s.next.count; lastRows.append(r - 1); s.cache.commit(s.next.count) }
            let last = Kernels.gatherRows(x, lastRows, width: d)
            let hidden = tf.normed(tf.finalNorm, last, rows: live.count, d: d)
            let picks = tf.greedy(hidden: hidden, rows: live.count)
            var still: [Slot] = []
            for (s, tok) in zip(live, picks) {
                var reason: StopReason? = nil
                if eos.contains(tok) { reason = .eos; emit(s, s.text, final: true, onText) } else {
                    s.tokens.append(tok)
                    let full = model.tokenizer.decode(s.tokens, skipSpecial: true)
                    if let (cut, seq) = Generator.firstStop(in: full, stop) {
                        reason = .stopSequence(seq)
                        emit(s, String(full[..<cut]), final: true, onText)
                    } else {
                        if s.tokens.count >= maxTokens { reason = .maxTokens }
                        emit(s, full, final: reason != nil, onText)
                    }
                    s.next = [tok]
                }
                if let reason = reason {
                    let g = Generation(index: s.index, promptTokens: s.promptCount, tokens: s.tokens, text: s.text, stop: reason)
                    done[s.index] = g
                    onFinish(g)
                } else {
                    still.append(s)
                }
            }
            live = still
        }
        var out: [Generation] = []
        for g in done { guard let g = g else { break }; out.append(g) }
        return out
    }

    /// The last blocks' output [rows, hidden] for `tokens` continuing the spans' caches, steering applied.
    func forward(_ tokens: [Int], positions: [Int], spans: [CacheSpan]) -> [Float] {
        let tf = model.transformer
        var x = tf.embed(tokens: tokens, positions: positions)
        Transformer.add(steering, at: -1, to: &x)
        for l in 0..<model.config.layers {
            x = tf.blockForward(l, x, .cached(spans), record: false).0
            Transformer.add(steering, at: l, to: &x)
        }
        return x
    }

    /// Length of the token prefix every prompt shares, leaving each at least one token of its own.
    static func commonPrefix(_ prompts: [[Int]]) -> Int {
        guard var n = prompts.map({ $0.count }).min(), let first = prompts.first else { return 0 }
        n -= 1
        for p in prompts.dropFirst() {
            var k = 0
            while k < n && p[k] == first[k] { k += 1 }
            n = k
        }
        return max(n, 0)
    }

    /// Records the decoded text so far and streams its new part; the tail is held back while it
    /// ends in an incomplete UTF-8 sequence (U+FFFD), unless the sequence is finished.
    func emit(_ s: Slot, _ text: String, final: Bool, _ onText: ((Int, String) -> Void)?) {
        s.text = text
        var ready = text.count
        if !final { while ready > s.streamed && text[text.index(text.startIndex, offsetBy: ready - 1)] == "\u{FFFD}" { ready -= 1 } }
        guard ready > s.streamed else { return }
        let from = text.index(text.startIndex, offsetBy: s.streamed), to = text.index(text.startIndex, offsetBy: ready)
        onText?(s.index, String(text[from..<to]))
        s.streamed = ready
    }

    /// The earliest occurrence of any stop sequence in `text`: where to cut, and which one.
    public static func firstStop(in text: String, _ stops: [String]) -> (String.Index, String)? {
        var best: (String.Index, String)? = nil
        for s in stops where !s.isEmpty {
            if let r = text.range(of: s), best == nil || r.lowerBound < best!.0 { best = (r.lowerBound, s) }
        }
        return best
    }
}

extension Transformer {
    /// The highest-scoring token of each of `rows` final hidden states [rows, hidden] (the first on a tie, as torch's argmax).
    public func greedy(hidden: [Float], rows: Int) -> [Int] {
        let V = config.vocabSize
        let lg = logits(hidden: hidden, rows: Array(0..<rows))
        return (0..<rows).map { r in
            var best = 0, bv = -Float.infinity
            for j in 0..<V where lg[r * V + j] > bv { bv = lg[r * V + j]; best = j }
            return best
        }
    }
}
