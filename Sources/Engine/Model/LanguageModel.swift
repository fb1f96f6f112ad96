import Foundation

/// A loaded model: config, tokenizer and weights, with where it came from.
public final class LanguageModel {
    public let name: String
    public let path: String
    public let config: ModelConfig
    public let tokenizer: Tokenizer
    public let transformer: Transformer
    public let loadSeconds: Double

    public init(name: String, registry: ModelRegistry = ModelRegistry()) throws {
        let t0 = Date()
        self.name = name
        switch try registry.resolve(name) {
        case .gguf(let p):
            path = p
            let g = try GGUFFile(path: p)
            config = try ModelConfig(gguf: g)
            tokenizer = try Tokenizer(gguf: g)
            transformer = try Transformer(config: config, weights: GGUFWeights(file: g))
        case .hfDirectory(let d):
            path = d
            var c = try ModelConfig(hfConfigAt: d + "/config.json")
            tokenizer = try Tokenizer(directory: d)
            tokenizer.readSpecials(directory: d)
            c.addBos = tokenizer.addBos
            if c.bosTokenId == nil { c.bosTokenId = tokenizer.bosId }
            config = c
            transformer = try Transformer(config: c, weights: SafetensorsWeights(directory: d))
        }
        // Every id the tokenizer can produce must have an embedding row (no silent clamping).
        guard tokenizer.tokens.count <= config.vocabSize else {
            throw EngineError.malformed(path: path, what: "the tokenizer has \(tokenizer.tokens.count) tokens but the embedding table has \(config.vocabSize) rows")
        }
        loadSeconds = Date().timeIntervalSince(t0)
    }

    /// The sha256 of the weight file(s): the model's identity in vector provenance and run keys
    /// (hashed once per file version, then cached; see `ModelDigest`).
    public func sha256() throws -> String { try ModelDigest.sha256(ofModelAt: path) }
}
