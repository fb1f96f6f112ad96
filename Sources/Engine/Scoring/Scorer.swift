import Foundation

/// lm-eval multiple-choice result for one item: per-choice log-likelihoods and predictions.
public struct ItemScore: Equatable {
    public let doc: Int
    public let gold: Int
    public let ll: [Double]            // nats, summed over each continuation's tokens
    public let choiceChars: [Int]      // characters of each choice (lm-eval's acc_norm denominator)
    /// Whether each choice is the greedy continuation (every token the argmax): lm-eval's
    /// `is_greedy`; empty where it was not computed (scores read back from a file).
    public var greedy: [Bool] = []
    public init(doc: Int, gold: Int, ll: [Double], choiceChars: [Int], greedy: [Bool] = []) {
        self.doc = doc; self.gold = gold; self.ll = ll; self.choiceChars = choiceChars; self.greedy = greedy
    }
    /// Equal scores: the same item, gold and log-likelihoods (whether `greedy` was computed aside).
    public static func == (a: ItemScore, b: ItemScore) -> Bool {
        a.doc == b.doc && a.gold == b.gold && a.ll == b.ll && a.choiceChars == b.choiceChars
    }

    public var pred: Int { argmax(ll) }
    public var predNorm: Int { argmax(zip(ll, choiceChars).map { $0 / Double(max($1, 1)) }) }
    public var correct: Bool { pred == gold }
    public var correctNorm: Bool { predNorm == gold }

    func argmax(_ v: [Double]) -> Int { v.indices.max { v[$0] < v[$1] || (v[$0] == v[$1] && $0 > $1) } ?? 0 }

    /// One JSONL line: {"doc", "gold", "ll", "pred", "pred_norm"}.
    public var jsonLine: String {
        // A non-finite log-likelihood is written as null: JSON has no nan.
        let lls = ll.map { $0.isFinite ? String(format: "%.6f", $0) : "null" }.joined(separator: ", ")
        return "{\"doc\": \(doc), \"gold\": \(gold), \"ll\": [\(lls)], \"pred\": \(pred), \"pred_norm\": \(predNorm)}"
    }
}

/// Scores multiple-choice items the way lm-evaluation-harness does, computing each context once.
public final class Scorer {
    public let model: LanguageModel
    /// Items whose context was cut from the left to fit `maxLength` (see `packed`), so far.
    public private(set) var truncatedItems = 0
    let truncationLock = NSLock()
    public init(model: LanguageModel) { self.model = model }

    /// lm-eval's `_encode_pair`: trailing context spaces move to the continuation; continuation
    /// tokens are tok(context + continuation) minus the first len(tok(context)) tokens.
    public func encodePair(context: String, continuation: String) -> (ctx: [Int], cont: [Int]) {
        var ctx = context, cont = continuation
        let trimmed = String(ctx.reversed().drop { $0 == " " }.reversed())
        if trimmed.count < ctx.count {
            cont = String(ctx.suffix(ctx.count - trimmed.count)) + cont
            ctx = trimmed
        }
        let tok = model.tokenizer, bos = model.config.addBos
        let whole = tok.encode(ctx + cont, addSpecial: bos)
        let c = tok.encode(ctx, addSpecial: bos)
        return (c, Array(whole[min(c.count, whole.count)...]))
    }

    /// Log-likelihood of every choice of `item`, with an optional residual hook (steering).
    public func score(_ item: MCItem, hook: Transformer.ResidualHook? = nil) -> ItemScore {
        let tf = model.transformer
        let pairs = item.continuations.map { encodePair(context: item.context, continuation: $0) }
        // lm-eval encodes the context alone once; every choice shares it.
        let ctx = pairs[0].ctx
        let cache = KVCache(config: tf.config)
        let hCtx = tf.forward(ctx, cache: cache, hook: hook)
        // Batch all continuations (minus their last token) after the cached context; each choice
        // is its own segment so choices do not attend to each other.
        var toks: [Int] = [], pos: [Int] = [], seg: [Int] = []
        var targets: [(choice: Int, row: Int, token: Int)] = []   // row -1 = last context position
        for (ci, p) in pairs.enumerated() {
            for (k, t) in p.cont.enumerated() {
                targets.append((ci, k == 0 ? -1 : toks.count - 1, t))
                if k < p.cont.count - 1 { toks.append(t); pos.append(ctx.count + k); seg.append(ci) }
            }
        }
        var ll = [Double](repeating: 0, count: pairs.count)
        let d = tf.config.hidden
        var hidden = Array(hCtx[(ctx.count - 1) * d..<ctx.count * d])
        if !toks.isEmpty {
            hidden += tf.forward(toks, cache: cache, positions: pos, segments: seg, keepInCache: false, hook: hook)
        }
        let (lp, isMax) = tf.logProbsAndGreedy(hidden: hidden, pairs: targets.map { ($0.row + 1, $0.token) })
        var greedy = [Bool](repeating: true, count: pairs.count)
        for (k, t) in targets.enumerated() { ll[t.choice] += lp[k]; greedy[t.choice] = greedy[t.choice] && isMax[k] }
        return ItemScore(doc: item.doc, gold: item.gold, ll: ll, choiceChars: item.choiceChars, greedy: greedy)
    }
}

/// Accuracy summary of a set of scored items.
public struct EvalSummary {
    public let n: Int
    /// Items right by acc and by acc_norm.
    public let hits: Int, hitsNorm: Int
    public let acc: Double
    public let accNorm: Double
    public init(_ s: [ItemScore]) {
        n = s.count
        hits = s.filter { $0.correct }.count
        hitsNorm = s.filter { $0.correctNorm }.count
        acc = n == 0 ? 0 : Double(hits) / Double(n)
        accNorm = n == 0 ? 0 : Double(hitsNorm) / Double(n)
    }

    /// acc_norm when `norm`, else acc.
    public func metric(norm: Bool) -> Double { norm ? accNorm : acc }
    /// 95 % Wilson interval of acc_norm when `norm`, else of acc.
    public func interval(norm: Bool) -> (Double, Double) { Stats.wilson(successes: norm ? hitsNorm : hits, n: n) }
}

extension Scorer {
    /// The item as one packed sequence (shared context + one segment per choice), for training.
    public func packed(_ item: MCItem) -> PackedSequence {
        let pairs = item.continuations.map { encodePair(context: item.context, continuation: $0) }
        var ctx = pairs[0].ctx
        // Longer than the model's context: the context is cut from the left so the longest choice
        // still fits, as lm-eval cuts (context + continuation) to its last max_length + 1 tokens.
        let longest = pairs.map { $0.cont.count }.max() ?? 0
        if ctx.count + longest > maxLength + 1 {
            ctx = Array(ctx.suffix(max(1, maxLength + 1 - longest)))
            truncationLock.lock(); truncatedItems += 1; truncationLock.unlock()
        }
        return PackedSequence(context: ctx, continuations: pairs.map { $0.cont })
    }

    /// The longest input scored: the model's context (`max_position_embeddings`), else lm-eval's default 2048.
    public var maxLength: Int { model.config.maxPositions ?? 2048 }
}
