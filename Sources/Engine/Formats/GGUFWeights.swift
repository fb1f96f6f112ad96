/// Serves a GGUF file's tensors under their llama.cpp names, dequantised to f32.
public final class GGUFWeights: WeightSource {
    public let file: GGUFFile
    public var path: String { file.path }
    public var format: ModelFormat { .gguf }

    public init(file: GGUFFile) { self.file = file }

    public func has(_ name: String) -> Bool { file.tensors[name] != nil }
    public var names: [String] { Array(file.tensors.keys) }

    public func tensor(_ name: String) throws -> Tensor {
        guard let info = file.tensors[name] else { throw EngineError.missingTensor(path: path, tensor: name) }
        return Tensor(shape: info.shape, data: try file.floats(name))
    }
}

/// Inverts llama.cpp's `permute` of Q/K rows: stored row (h, j, s) holds original row (h, s, j).
///
/// `rows` = heads × headDim; within a head, stored index 2j+s maps to original s·headDim/2 + j.
func unpermuteRows(_ w: [Float], rows: Int, cols: Int, heads: Int) -> [Float] {
    let hd = rows / heads, half = hd / 2
    var out = [Float](repeating: 0, count: w.count)
    w.withUnsafeBufferPointer { src in
        out.withUnsafeMutableBufferPointer { dst in
            for h in 0..<heads {
                for s in 0..<2 {
                    for j in 0..<half {
                        let from = (h * hd + 2 * j + s) * cols, to = (h * hd + s * half + j) * cols
                        for c in 0..<cols { dst[to + c] = src[from + c] }
                    }
                }
            }
        }
    }
    return out
}
