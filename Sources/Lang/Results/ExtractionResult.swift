import Engine
import Foundation

/// Result of `extract`: a vector read off contrastive pairs (no training), at one or more layers.
public struct ExtractionResult: CommandResult {
    public let name: String
    public let source: String
    public let method: ExtractionMethod
    public let pairs: Int
    /// Per layer: ‖v‖ and the mean ‖h‖ of the texts' last tokens there.
    public let layers: [(layer: Int, norm: Double, residualNorm: Double)]
    public let seconds: Double

    public var kind: String { "extract" }

    public var display: String {
        var t = "vector '\(name)': \(method == .mean ? "mean difference (CAA)" : "first principal component of the differences (repeng pca_diff)")"
            + " of \(pairs) contrastive pairs from \(source), \(String(format: "%.1f", seconds)) s\n"
        for l in layers {
            t += String(format: "  layer %2d  ‖v‖ = %.4f  (%.3f × mean last-token ‖h‖ %.2f)\n", l.layer, l.norm,
                        l.residualNorm > 0 ? l.norm / l.residualNorm : 0, l.residualNorm)
        }
        return String(t.dropLast())
    }

    public var json: [String: Any] {
        ["kind": "extract", "vector": name, "source": source, "method": method.rawValue, "pairs": pairs, "seconds": seconds,
         "layers": layers.map { ["layer": $0.layer, "norm": jnum($0.norm), "mean_residual_norm": jnum($0.residualNorm)] }]
    }

    public var markdownTables: String {
        "| layer | ‖v‖ | mean last-token ‖h‖ | ratio |\n|---:|---:|---:|---:|\n"
            + layers.map { "| \($0.layer) | \(mdNumber($0.norm)) | \(mdNumber($0.residualNorm)) | \(mdNumber($0.residualNorm > 0 ? $0.norm / $0.residualNorm : .nan)) |" }
            .joined(separator: "\n") + "\n"
    }
}
