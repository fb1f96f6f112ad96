import Engine
import Foundation

/// Result of `explain NAME`: what a vector does, read through the model's own head (logit lens),
/// its size against the residual stream, and how it lines up with the session's other vectors.
public struct ExplainResult: CommandResult {
    public let name: String
    public let layer: Int
    public let norm: Double
    public let residualNorm: Double
    /// Where the residual norm comes from (the vector's provenance, or the texts it was measured on).
    public let residualNormSource: String
    public let promoted: [(token: Int, text: String, logit: Double)]
    public let suppressed: [(token: Int, text: String, logit: Double)]
    /// Every session vector (this one included), and their pairwise cosine similarities.
    public let names: [String]
    /// Each vector's (first) layer, in `names` order: a cosine across layers compares different streams.
    public let layers: [Int]
    public let cosines: [[Double]]

    public var kind: String { "explain" }

    static func show(_ s: String) -> String {
        var out = ""
        for c in s.unicodeScalars {
            switch c {
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "|": out += "\\|"
            default: out.unicodeScalars.append(c)
            }
        }
        return "'\(out)'"
    }

    public var display: String {
        var t = "vector '\(name)' at layer \(layer): ‖v‖ = \(String(format: "%.4f", norm))"
        t += residualNorm > 0 ? String(format: ", %.3f × the mean residual norm %.2f there (%@)\n", norm / residualNorm, residualNorm, residualNormSource) : "\n"
        t += "  logit lens (final norm, unembedding) — promotes:\n"
        t += promoted.map { String(format: "    %+9.3f  %@", $0.logit, ExplainResult.show($0.text)) }.joined(separator: "\n") + "\n"
        t += "  suppresses:\n"
        t += suppressed.map { String(format: "    %+9.3f  %@", $0.logit, ExplainResult.show($0.text)) }.joined(separator: "\n")
        if let me = names.firstIndex(of: name), names.count > 1 {
            t += "\n  cosine similarity with the session's other vectors:"
            for (k, n) in names.enumerated() where k != me {
                t += String(format: "\n    %+.4f  %@ (layer %d%@)", cosines[me][k], n, layers[k], layers[k] == layer ? "" : ", another layer")
            }
        }
        return t
    }

    public var json: [String: Any] {
        ["kind": "explain", "vector": name, "layer": layer, "norm": jnum(norm), "mean_residual_norm": jnum(residualNorm),
         "mean_residual_norm_source": residualNormSource,
         "promoted": promoted.map { ["token": $0.token, "text": $0.text, "logit": jnum($0.logit)] },
         "suppressed": suppressed.map { ["token": $0.token, "text": $0.text, "logit": jnum($0.logit)] },
         "vectors": names, "layers": layers, "cosine": cosines.map { $0.map(jnum) }]
    }

    public var markdownTables: String {
        var t = "| promotes | logit | suppresses | logit |\n|---|---:|---|---:|\n"
        for i in 0..<max(promoted.count, suppressed.count) {
            let a = i < promoted.count ? "`\(ExplainResult.show(promoted[i].text))` | \(String(format: "%+.3f", promoted[i].logit))" : " | "
            let b = i < suppressed.count ? "`\(ExplainResult.show(suppressed[i].text))` | \(String(format: "%+.3f", suppressed[i].logit))" : " | "
            t += "| \(a) | \(b) |\n"
        }
        if names.count > 1 {
            t += "\n| cosine | " + names.joined(separator: " | ") + " |\n|---|" + String(repeating: "---:|", count: names.count) + "\n"
            for (r, n) in names.enumerated() { t += "| \(n) | " + cosines[r].map { String(format: "%+.3f", $0) }.joined(separator: " | ") + " |\n" }
        }
        return t
    }

    public func charts(what: String?) -> [Chart] {
        guard names.count > 1 else { return [] }
        var c = Chart(name: "cosine-\(name)", title: "cosine similarity of the session's vectors", xLabel: "", yLabel: "", series: [])
        let labels = zip(names, layers).map { "\($0) (L\($1))" }
        var h = Heatmap(rowLabels: labels, columnLabels: labels, values: cosines, valueLabel: "cosine similarity")
        h.centered = true; h.topDown = true
        c.heatmap = h
        return [c]
    }

    public func plotDirectory(outDir: String) -> String? { "\(outDir)/vectors/\(name)" }
}
