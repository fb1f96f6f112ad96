import Engine
import Foundation

/// Result of `eval gsm8k`: every problem's generation, both answer filters and their exact match.
public struct GSM8KResult: CommandResult {
    /// "gsm8k", or "gsm8k with NAME (layer L)".
    public let task: String
    public let model: String
    public let scores: [GSM8KScore]
    /// How the prompts were built ("5-shot, lm-eval prompts" or "5-shot, one fixed set of shots").
    public let shots: String
    public let seconds: Double
    public let interrupted: Bool
    /// The arithmetic the generation did (FLOPs by part), when known.
    public var work: ArithmeticWork?
    /// What lm-eval 0.4 --log_samples would have written for this evaluation (a notebook writes it into results/).
    public var lmEval: LMEvalFiles?

    public var kind: String { "gsm8k" }
    public var n: Int { scores.count }
    public var strictHits: Int { scores.filter { $0.correctStrict }.count }
    public var flexibleHits: Int { scores.filter { $0.correctFlexible }.count }
    func rate(_ k: Int) -> Double { n == 0 ? .nan : Double(k) / Double(n) }
    public var generatedTokens: Int { scores.reduce(0) { $0 + $1.tokens } }

    public var display: String {
        let (s0, s1) = Stats.wilson(successes: strictHits, n: n), (f0, f1) = Stats.wilson(successes: flexibleHits, n: n)
        var r = "\(task) on \(model): \(n) problems (\(shots))\(interrupted ? " (interrupted)" : "")\n"
        r += String(format: "  exact_match strict-match      %.4f  [%.4f, %.4f]\n", rate(strictHits), s0, s1)
        r += String(format: "  exact_match flexible-extract  %.4f  [%.4f, %.4f]\n", rate(flexibleHits), f0, f1)
        r += String(format: "  %.1f s, %.2f problems/min, %.1f generated tokens/s (95%% Wilson intervals)",
                    seconds, Double(n) * 60 / max(seconds, 1e-9), Double(generatedTokens) / max(seconds, 1e-9))
        if let w = work, w.total > 0 {
            r += String(format: "\n  compute: %@, %.0f GFLOP/s", w.summary, w.total / max(seconds, 1e-9) / 1e9)
        }
        return r
    }

    public var json: [String: Any] {
        let (s0, s1) = Stats.wilson(successes: strictHits, n: n), (f0, f1) = Stats.wilson(successes: flexibleHits, n: n)
        var j: [String: Any] = ["kind": "gsm8k", "task": task, "model": model, "n": n, "shots": shots, "interrupted": interrupted, "seconds": seconds,
                                "exact_match_strict": jnum(rate(strictHits)), "exact_match_strict_ci95": [s0, s1],
                                "exact_match_flexible": jnum(rate(flexibleHits)), "exact_match_flexible_ci95": [f0, f1],
                                "items": scores.map { ["doc": $0.doc, "generated": $0.generated, "strict": $0.strict, "flexible": $0.flexible,
                                                       "target": $0.target, "exact_match_strict": $0.correctStrict ? 1 : 0,
                                                       "exact_match_flexible": $0.correctFlexible ? 1 : 0, "tokens": $0.tokens] }]
        if let w = work { j["flop"] = ["linear": w.linear, "attention": w.attention, "head": w.head, "total": w.total] }
        return j
    }

    public var markdownTables: String {
        let (s0, s1) = Stats.wilson(successes: strictHits, n: n), (f0, f1) = Stats.wilson(successes: flexibleHits, n: n)
        let f = mdNumber
        return "| \(task) (\(n) problems, \(shots)) | exact match | 95% Wilson interval |\n|---|---:|---|\n"
            + "| strict-match | \(f(rate(strictHits))) | [\(f(s0)), \(f(s1))] |\n| flexible-extract | \(f(rate(flexibleHits))) | [\(f(f0)), \(f(f1))] |\n"
    }
}

extension GSM8KResult {
    /// lm-eval's results and samples files of this evaluation, under `dir/<model>/`.
    public func writeCompanions(to dir: String) throws -> [String] {
        try lmEval.map { let w = try $0.write(to: dir); return [w.results, w.samples] } ?? []
    }
}
