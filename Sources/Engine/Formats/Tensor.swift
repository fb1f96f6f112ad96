/// A dense f32 tensor, row-major, `shape` outermost first.
public struct Tensor {
    public var shape: [Int]
    public var data: [Float]
    public init(shape: [Int], data: [Float]) { self.shape = shape; self.data = data }
    public var count: Int { data.count }
}

/// Where weights come from: a name (Hugging Face naming) resolves to an f32 tensor.
public protocol WeightSource {
    var path: String { get }
    func has(_ name: String) -> Bool
    func tensor(_ name: String) throws -> Tensor
}
