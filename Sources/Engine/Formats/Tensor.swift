/// A dense f32 tensor, row-major, `shape` outermost first.
public struct Tensor {
    public var shape: [Int]
    public var data: [Float]
    public init(shape: [Int], data: [Float]) { self.shape = shape; self.data = data }
    public var count: Int { data.count }
}

/// Where weights come from: a tensor name, as the file spells it, resolves to an f32 tensor
/// (shape outermost first). The architecture's naming table for `format` says which names to ask for.
public protocol WeightSource {
    var path: String { get }
    var format: ModelFormat { get }
    func has(_ name: String) -> Bool
    func tensor(_ name: String) throws -> Tensor
    /// Every tensor name the source holds.
    var names: [String] { get }
    /// The tensor's bytes as stored, when they are not f32 (GGML blocks, f16, bf16): what a compact
    /// model keeps; nil for f32 tensors and sources that cannot say.
    func packed(_ name: String) throws -> PackedTensor?
}

/// A tensor as the file stores it: element type, shape (outermost first) and its bytes.
public struct PackedTensor {
    public let type: GGMLType
    public let shape: [Int]
    public let bytes: [UInt8]
}

extension WeightSource {
    public func packed(_ name: String) throws -> PackedTensor? { nil }

    /// The highest layer index in a per-layer tensor name (`blk.N.` in GGUF, `layers.N.` / `h.N.` in
    /// Hugging Face files), so a block count smaller than the file's blocks is caught, not truncated.
    public var highestLayerIndex: Int? {
        var best: Int? = nil
        for n in names {
            let parts = n.split(separator: ".")
            for (i, p) in parts.enumerated() where i + 1 < parts.count && (p == "blk" || p == "layers" || p == "h") {
                if let k = Int(parts[i + 1]) { best = max(best ?? k, k) }
            }
        }
        return best
    }
}
