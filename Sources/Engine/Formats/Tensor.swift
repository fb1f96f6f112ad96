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
}
