import Foundation

/// A loaded model: config, tokenizer and weights, with where it came from.
public final class LanguageModel {
    public let name: String
    public let path: String
    public let config: ModelConfig
    public let tokenizer: Tokenizer
    public let transformer: Transformer
    public let loadSeconds: Double
    /// The weights' size in each mode, and the mode they were loaded in with why (`auto`'s reason).
    public let footprint: WeightFootprint
    public let weightReason: String
    public var weightMode: WeightMode { transformer.weightMode }

    /// How to keep the weights: one mode, or `auto`: f32 when it fits `budget` bytes, else compact.
    public enum WeightRequest: Equatable {
        case mode(WeightMode)
        case auto(budget: Int)
    }

    public init(name: String, registry: ModelRegistry = ModelRegistry(), weights: WeightRequest = .mode(.f32),
                available: Int? = SystemMemory.availableBytes()) throws {
        let t0 = Date()
        self.name = name
        /// The mode to load in, checked against the memory there is before a byte is loaded.
        func choose(_ fp: WeightFootprint) throws -> (WeightMode, String) {
            let (mode, why): (WeightMode, String)
            switch weights {
            case .mode(let m): (mode, why) = (m, m == .bf16 ? "precision=bf16: bf16 matrices, f32 accumulation" : "weights=\(m.rawValue)")
            case .auto(let budget): (mode, why) = fp.automatic(budget: budget)
            }
            if let avail = available, fp.bytes(mode) > avail {
                var what = "\(name) needs \(gb(fp.bytes(mode))) for its \(mode.rawValue) weights alone, and \(gb(avail)) of memory is available"
                if mode == .f32 && fp.compactBytes <= avail { what += "; weights=compact keeps them as stored (\(gb(fp.compactBytes))) with the same results" }
                else if mode == .bf16 && fp.compactBytes <= avail { what += "; precision=f32 with weights=compact keeps them as stored (\(gb(fp.compactBytes)))" }
                else { what += "; a smaller or more quantised model would fit" }
                throw EngineError.insufficientMemory(what)
            }
            return (mode, why)
        }
        switch try registry.resolve(name) {
        case .gguf(let p):
            path = p
            let g = try GGUFFile(path: p)
            config = try ModelConfig(gguf: g)
            footprint = WeightFootprint(gguf: g)
            let (mode, why) = try choose(footprint)
            weightReason = why
            tokenizer = try Tokenizer(gguf: g)
            transformer = try Transformer(config: config, weights: GGUFWeights(file: g), mode: mode)
        case .hfDirectory(let d):
            path = d
            var c = try ModelConfig(hfConfigAt: d + "/config.json")
            tokenizer = try Tokenizer(directory: d)
            tokenizer.readSpecials(directory: d)
            c.addBos = tokenizer.addBos
            if c.bosTokenId == nil { c.bosTokenId = tokenizer.bosId }
            config = c
            let src = try SafetensorsWeights(directory: d)
            footprint = WeightFootprint(safetensors: src)
            let (mode, why) = try choose(footprint)
            weightReason = why
            transformer = try Transformer(config: c, weights: src, mode: mode)
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
