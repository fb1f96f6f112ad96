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
/// and decoded together, each step's GEMMs have one row per live sequence plus a chunk of the
/// prompts being prefilled, and a finished sequence's slot goes to the next prompt at once.
///
/// Prompts go in by chunks (`prefillChunk` tokens a step), so every step while prompts remain
/// carries both prompt rows and the decoding rows: the decoding rows then ride in GEMMs of a few
/// hundred rows, which run near the CPU's peak, rather than in steps of a few rows that are bound by
/// reading the weights.
///
/// Every step runs the model's one block function over `.cached` spans; steering vectors are added
/// after their blocks at every prompt and generated position.
public final class Generator {
    public let model: LanguageModel
    /// Vectors added after their blocks (−1: to the embeddings) at every position.
    public var steering: SteeringSet = []
    /// Sequences live at once at most (decoding, or with their prompt going in); fewer when their
    /// KV caches would pass `cacheBudgetBytes`.
    public var maxBatch = 64
    /// Bytes the live sequences' KV caches may take together (bounds `maxBatch` for long prompts).
    public var cacheBudgetBytes = 3 << 30
    /// A common prompt prefix at least this long is run once and shared (see `generate`).
    public var minSharedPrefix = 16
    /// Prompt tokens run in one step at most; a longer prompt goes in over several steps
    /// (`AFT_PREFILL_CHUNK=N` sets it, to compare).
    public var prefillChunk = ProcessInfo.processInfo.environment["AFT_PREFILL_CHUNK"].flatMap { Int($0) }.map { max(1, $0) } ?? 256
    /// Batched generation (more than one prompt) over f32 weights multiplies by packed copies of
    /// them (`Transformer.packForGeneration`), when memory allows; `AFT_NO_PACK=1` turns it off.
    public var packWeights = ProcessInfo.processInfo.environment["AFT_NO_PACK"] == nil
    /// `AFT_GEN_TRACE=1`: each step's rows, sequences and milliseconds on stderr (where time goes: prefill or decode).
    let trace = ProcessInfo.processInfo.environment["AFT_GEN_TRACE"] != nil
    /// Token ids that end a sequence.
    public var eos: Set<Int>
    /// The arithmetic the last `generate` did: every forward step's and the head's FLOPs.
    public private(set) var work = ArithmeticWork()

    public init(model: LanguageModel) {
        self.model = model
        eos = model.tokenizer.eosIds
    }

    /// A live sequence.
    final class Slot {
        let index: Int, cache: KVCache, promptCount: Int
        var tokens: [Int] = []
        /// Prompt tokens not yet run (they go in by chunks), then empty.
        var pending: ArraySlice<Int>
        /// The last token produced, run in the next step once the prompt is in.
        var last = 0
        /// Tokens run in this step.
        var step: [Int] = []
        var text = ""
        /// Characters of `text` already streamed.
        var streamed = 0
        /// A sequence whose cache already holds the first `prefix.length` prompt tokens (a copy of
        /// `prefix`); its cache grows to `prompt.count + maxTokens` rows at most.
        init(index: Int, prompt: [Int], maxTokens: Int, config: ModelConfig, prefix: KVCache?) {
            self.index = index; promptCount = prompt.count
            cache = prefix?.copy() ?? KVCache(config: config)
            cache.maxRows = prompt.count + maxTokens
            pending = prompt[cache.length...]
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
        let packed = packWeights && prompts.count > 1 && tf.packForGeneration()
        work = ArithmeticWork()
        // Prompts that share a long token prefix (one fixed set of few-shot examples): the prefix
        // runs once and every sequence's cache starts as a copy of it.
        var prefix: KVCache? = nil
        let shared = Generator.commonPrefix(prompts)
        if prompts.count > 1 && shared >= minSharedPrefix {
            let pc = KVCache(config: c), pos = Array(0..<shared)
            let span = [CacheSpan(cache: pc, positions: pos, segments: [Int](repeating: 0, count: shared))]
            _ = forward(Array(prompts[0][0..<shared]), positions: pos, spans: span, keepRows: [], packed: packed)
            work += tf.forwardWork(spans: span, keptRows: 0)
            pc.commit(shared)
            prefix = pc
        }
        var done = [Generation?](repeating: nil, count: prompts.count)
        var live: [Slot] = []
        var nextPrompt = 0
        let batch = batchLimit(prompts, maxTokens: maxTokens)
        while nextPrompt < prompts.count || !live.isEmpty {
            if shouldStop() { break }
            // Admit prompts while slots are free and the prompts already in leave less than a
            // step's chunk to prefill.
            var queued = live.reduce(0) { $0 + $1.pending.count }
            while nextPrompt < prompts.count && live.count < batch && queued < prefillChunk {
                let s = Slot(index: nextPrompt, prompt: prompts[nextPrompt], maxTokens: maxTokens, config: c, prefix: prefix)
                queued += s.pending.count
                live.append(s)
                nextPrompt += 1
            }
            // One forward over a token of every decoding sequence and the next chunk of the
            // prompts going in (in the order they came).
            var room = prefillChunk
            var tokens: [Int] = [], positions: [Int] = [], spans: [CacheSpan] = [], running: [Slot] = []
            for s in live {
                if s.pending.isEmpty { s.step = [s.last] } else {
                    let n = min(s.pending.count, room)
                    room -= n
                    s.step = Array(s.pending.prefix(n))
                }
                guard !s.step.isEmpty else { continue }
                let pos = (0..<s.step.count).map { s.cache.length + $0 }
                tokens += s.step; positions += pos; running.append(s)
                spans.append(CacheSpan(cache: s.cache, positions: pos, segments: [Int](repeating: 0, count: pos.count)))
            }
            let tStep = Date()
            defer { if trace { FileHandle.standardError.write(Data("step rows \(tokens.count) seqs \(spans.count) \(String(format: "%.1f", Date().timeIntervalSince(tStep) * 1000)) ms\n".utf8)) } }
            // The last row of a span that ends its prompt, or decodes, predicts the next token:
            // only those rows go through the last block past attention.
            var lastRows: [Int] = [], picking: [Slot] = [], r = 0
            for s in running {
                r += s.step.count
                if s.pending.count <= s.step.count { lastRows.append(r - 1); picking.append(s) }
            }
            let last = Profile.time("forward") { forward(tokens, positions: positions, spans: spans, keepRows: lastRows, packed: packed) }
            work += tf.forwardWork(spans: spans, keptRows: lastRows.count)
            work += tf.headWork(rows: picking.count)
            for s in running {
                s.cache.commit(s.step.count)
                if !s.pending.isEmpty { s.pending = s.pending.dropFirst(s.step.count) }
            }
            var finished = Set<Int>()
            if !picking.isEmpty {
                let hidden = tf.normed(tf.finalNorm, last, rows: picking.count, d: d)
                let picks = Profile.time("head") { tf.greedy(hidden: hidden, rows: picking.count, packed: packed) }
                for (s, tok) in zip(picking, picks) {
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
                        s.last = tok
                    }
                    if let reason = reason {
                        let g = Generation(index: s.index, promptTokens: s.promptCount, tokens: s.tokens, text: s.text, stop: reason)
                        done[s.index] = g
                        finished.insert(s.index)
                        onFinish(g)
                    }
                }
            }
            live.removeAll { finished.contains($0.index) }
        }
        Profile.report()
        if trace {
            let s = ScreenedHead.stats
            FileHandle.standardError.write(Data("screened head: \(s.rows) rows, \(s.candidates) f32 logits, \(s.fullRows) rows by the full head\n".utf8))
            FileHandle.standardError.write(Data("work: \(work.summary)\n".utf8))
        }
        var out: [Generation] = []
        for g in done { guard let g = g else { break }; out.append(g) }
        return out
    }

    /// The last block's output [rows, hidden] for `tokens` continuing the spans' caches, steering
    /// applied; `packed`: by the weights' packed copies. With `keepRows` (ascending), only those
    /// rows' output [keepRows.count, hidden]: the last block runs past attention for them alone
    /// (every row's keys and values still go into the caches).
    func forward(_ tokens: [Int], positions: [Int], spans: [CacheSpan], keepRows: [Int]? = nil, packed: Bool = false) -> [Float] {
        let tf = model.transformer, L = model.config.layers
        var x = tf.embed(tokens: tokens, positions: positions)
        Transformer.add(steering, at: -1, to: &x)
        for l in 0..<L {
            x = tf.blockForward(l, x, .cached(spans), record: false, keepRows: l == L - 1 ? keepRows : nil, packed: packed).0
            Transformer.add(steering, at: l, to: &x)
        }
        return x
    }

    /// Sequences live at once: `maxBatch`, fewer when that many caches of the longest prompt plus
    /// `maxTokens` rows would pass `cacheBudgetBytes`.
    func batchLimit(_ prompts: [[Int]], maxTokens: Int) -> Int {
        let rows = (prompts.map { $0.count }.max() ?? 0) + maxTokens
        let perSequence = max(1, rows * KVCache.bytesPerRow(model.config))
        return max(1, min(maxBatch, cacheBudgetBytes / perSequence))
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
    /// The highest-scoring token of each of `rows` final hidden states [rows, hidden] (the first on
    /// a tie, as torch's argmax); `packed`: the logits by the head's packed copy when it has one.
    public func greedy(hidden: [Float], rows: Int, packed: Bool = false) -> [Int] {
        let V = config.vocabSize
        /// Row r's pick by the full f32 logits.
        func full(_ rs: [Int]) -> [Int] {
            let lg = logits(hidden: hidden, rows: rs, packed: packed)
            var picks = [Int](repeating: 0, count: rs.count)
            lg.withUnsafeBufferPointer { l in picks.withUnsafeMutableBufferPointer { p in
                Kernels.forRows(rs.count, cost: V) { r in p[r] = Kernels.argmax(l.baseAddress! + r * V, V) }
            } }
            return picks
        }
        let w = head ?? embed
        guard headBias == nil, let screen = screenedHead() else { return full(Array(0..<rows)) }
        return hidden.withUnsafeBufferPointer { x in
            w.withFloats { wf in screen.greedy(x.baseAddress!, rows: rows, f32Head: wf) { full([$0])[0] } }
        }
    }

    /// Whether greedy picks screen the vocabulary with bf16 logits first (`ScreenedHead`): on by
    /// default where the CPU has AVX512_BF16; `AFT_NO_SCREEN=1` turns it off.
    static let screensHead = ProcessInfo.processInfo.environment["AFT_NO_SCREEN"] == nil

    /// Bytes a greedy pick reads from the head: its bf16 copy and row norms when it is screened
    /// (plus the few f32 rows it rescores), else the head as stored.
    public var greedyHeadBytes: Int {
        let w = head ?? embed
        return screenedHead() != nil ? ScreenedHead.bytes(for: w) : w.residentBytes
    }

    /// The head's greedy screen, made on first use when the head is dense f32, bf16 runs natively and
    /// MemAvailable leaves a gigabyte beside its bytes (half the head's); nil otherwise.
    func screenedHead() -> ScreenedHead? {
        let w = head ?? embed
        guard Transformer.screensHead, BF16.support.available, !w.isPacked, !w.isBF16 else { return nil }
        return w.prepared.screen.value {
            guard let free = SystemMemory.availableBytes(), free >= ScreenedHead.bytes(for: w) + (1 << 30) else { return nil }
            return ScreenedHead(w)
        }
    }

    /// `AFT_SEPARATE_KV=1`: k and v packed each on its own (to compare with `Block.kvPacked`).
    static let separateKV = ProcessInfo.processInfo.environment["AFT_SEPARATE_KV"] != nil

    /// Packs every dense f32 matrix a generation step multiplies by (the blocks' linear layers and
    /// the head) for `PackedF32` products, when MemAvailable leaves a gigabyte and half again to
    /// spare: as many bytes again as those weights, kept with the model. A block's k and v are
    /// packed together as one matrix (`Block.kvPacked`): one product of 2 kvDim columns splits
    /// over the cores better than two narrow ones (qwen's are 128 wide). Returns whether they are
    /// packed (false for compact or bf16 weights, short memory, or a oneDNN failure).
    public func packForGeneration() -> Bool {
        let separate = Transformer.separateKV
        var matrices = blocks.flatMap { b in (separate ? [b.q, b.k, b.v] : [b.q]).map(\.w) + [b.o, b.up, b.down].map(\.w) + (b.gate.map { [$0.w] } ?? []) }
        matrices.append(head ?? embed)
        let dense = { (w: WeightMatrix) in !w.isPacked && !w.isBF16 }
        guard matrices.allSatisfy(dense), blocks.allSatisfy({ dense($0.k.w) && dense($0.v.w) }) else { return false }
        var need = matrices.reduce(0) { $0 + $1.packF32Bytes }
        for b in blocks where !separate && b.kvPacked.value == nil { need += 4 * b.k.inDim * (b.k.outDim + b.v.outDim) }
        if need > 0 {
            guard let free = SystemMemory.availableBytes(), free >= need + need / 2 + (1 << 30) else { return false }
        }
        let fused = separate || blocks.allSatisfy { b in
            b.kvPacked.value {
                let w = b.k.w.floats() + b.v.w.floats()
                return w.withUnsafeBufferPointer { PackedF32($0.baseAddress!, rows: b.k.outDim + b.v.outDim, cols: b.k.inDim, parts: BLAS.threads) }
            } != nil
        }
        return fused && matrices.allSatisfy { $0.packF32() != nil }
    }
}
