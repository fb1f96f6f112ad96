import Engine
import Foundation

/// Result of `eval` on a multiple-choice task: per-item scores and the summary with intervals.
public struct EvalResult: CommandResult {
    public let task: String
    public let model: String
    public let scores: [ItemScore]
    public let seconds: Double
    public let interrupted: Bool
    /// What lm-eval 0.4 --log_samples would have written for this evaluation (a notebook writes it into results/).
    public var lmEval: LMEvalFiles?

    public var kind: String { "eval" }

    public var display: String {
        let s = EvalSummary(scores)
        let (a0, a1) = s.interval(norm: false), (b0, b1) = s.interval(norm: true)
        var r = "\(task) on \(model): \(s.n) items\(interrupted ? " (interrupted)" : "")\n"
        r += String(format: "  acc      %.4f  [%.4f, %.4f]\n", s.acc, a0, a1)
        r += String(format: "  acc_norm %.4f  [%.4f, %.4f]\n", s.accNorm, b0, b1)
        r += String(format: "  %.1f s, %.2f items/s (95%% Wilson intervals)", seconds, Double(s.n) / max(seconds, 1e-9))
        // A NaN or infinite log-likelihood means the numbers broke down: said, never silently scored as wrong.
        let broken = scores.filter { $0.ll.contains { !$0.isFinite } }
        if let first = broken.first {
            r += "\n  warning: \(broken.count) item(s) have non-finite log-likelihoods (first: doc \(first.doc)); their verdicts mean nothing"
        }
        return r
    }

    public var json: [String: Any] {
        let s = EvalSummary(scores)
        let (a0, a1) = s.interval(norm: false), (b0, b1) = s.interval(norm: true)
        return ["kind": "eval", "task": task, "model": model, "n": s.n, "interrupted": interrupted, "seconds": seconds,
                "acc": s.acc, "acc_ci95": [a0, a1], "acc_norm": s.accNorm, "acc_norm_ci95": [b0, b1],
                "items": scores.map { $0.json }]
    }

    public var markdownTables: String {
        let s = EvalSummary(scores), f = mdNumber
        let (a0, a1) = s.interval(norm: false), (b0, b1) = s.interval(norm: true)
        return "| \(task) (\(s.n) items) | value | 95% Wilson interval |\n|---|---:|---|\n"
            + "| acc | \(f(s.acc)) | [\(f(a0)), \(f(a1))] |\n| acc_norm | \(f(s.accNorm)) | [\(f(b0)), \(f(b1))] |\n"
    }
}

extension EvalResult {
    /// lm-eval's results and samples files of this evaluation, under `dir/<model>/`.
    public func writeCompanions(to dir: String) throws -> [String] {
        try lmEval.map { let w = try $0.write(to: dir); return [w.results, w.samples] } ?? []
    }
}
