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
        defer { file.file.release(offset: info.offset, count: info.byteCount) }
        return Tensor(shape: info.shape, data: try file.floats(name))
    }

    public func packed(_ name: String) throws -> PackedTensor? {
        guard let info = file.tensors[name] else { throw EngineError.missingTensor(path: path, tensor: name) }
        guard info.type != .f32 else { return nil }
        defer { file.file.release(offset: info.offset, count: info.byteCount) }
        let p = (file.file.base + info.offset).assumingMemoryBound(to: UInt8.self)
        return PackedTensor(type: info.type, shape: info.shape, bytes: Array(UnsafeBufferPointer(start: p, count: info.byteCount)))
    }
}

/// The row order that undoes llama.cpp's `permute` of Q/K rows: row i of the original is stored
/// row order[i]. Within a head, stored index 2j+s holds original s·headDim/2 + j.
func unpermutedRowOrder(rows: Int, heads: Int) -> [Int] {
    let hd = rows / heads, half = hd / 2
    var order = [Int](repeating: 0, count: rows)
    for h in 0..<heads { for s in 0..<2 { for j in 0..<half { order[h * hd + s * half + j] = h * hd + 2 * j + s } } }
    return order
}

/// Inverts llama.cpp's `permute` of Q/K rows of a dense [rows, cols] matrix (see `unpermutedRowOrder`).
func unpermuteRows(_ w: [Float], rows: Int, cols: Int, heads: Int) -> [Float] {
    WeightMatrix(dense: w, rows: rows, cols: cols).selectingRows(unpermutedRowOrder(rows: rows, heads: heads)).floats()
}
