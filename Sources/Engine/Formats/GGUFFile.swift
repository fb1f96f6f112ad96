import Foundation

/// A parsed GGUF (v2/v3) file: metadata, tensor table and the memory-mapped data section.
public final class GGUFFile {
    /// One tensor table entry; `shape` is in Hugging Face order (outermost first), i.e. ggml's ne reversed.
    public struct TensorInfo {
        public let name: String
        public let shape: [Int]
        public let type: GGMLType
        public let offset: Int      // absolute byte offset in the file
        public let byteCount: Int
        public var elementCount: Int { shape.reduce(1, *) }
    }

    public let path: String
    public let version: UInt32
    public let metadata: [String: GGUFValue]
    public let tensors: [String: TensorInfo]
    let file: MappedFile

    public init(path: String) throws {
        file = try MappedFile(path: path)
        self.path = path
        var r = file.reader()
        let magic = try r.read(UInt32.self, "magic")
        guard magic == 0x4655_4747 else {   // "GGUF" little-endian
            throw EngineError.badMagic(path: path, found: String(format: "0x%08x", magic))
        }
        version = try r.read(UInt32.self, "version")
        guard version == 2 || version == 3 else {
            throw EngineError.malformed(path: path, what: "unsupported GGUF version \(version)")
        }
        let nTensors = try r.read(UInt64.self, "tensor count")
        let nKV = try r.read(UInt64.self, "metadata count")
        // Each entry needs at least a few bytes: reject absurd counts before allocating.
        guard nTensors < UInt64(file.count / 8), nKV < UInt64(file.count / 8) else {
            throw EngineError.malformed(path: path, what: "tensor count \(nTensors) / metadata count \(nKV) exceed what the file can hold")
        }
        var meta: [String: GGUFValue] = [:]
        for i in 0..<Int(nKV) {
            let key = try GGUFFile.readString(&r, "metadata key #\(i)")
            let type = try r.read(UInt32.self, "type of '\(key)'")
            // A key given twice would make the file mean two things (which block_count is it?).
            guard meta[key] == nil else { throw EngineError.malformed(path: path, what: "metadata key '\(key)' appears twice") }
            meta[key] = try GGUFFile.readValue(&r, type: type, key: key, depth: 0)
        }
        metadata = meta
        var infos: [(String, [Int], UInt32, UInt64)] = []
        for i in 0..<Int(nTensors) {
            let name = try GGUFFile.readString(&r, "tensor name #\(i)")
            let nd = try r.read(UInt32.self, "dims of '\(name)'")
            guard nd >= 1 && nd <= 4 else { throw EngineError.malformed(path: path, what: "tensor '\(name)' has \(nd) dimensions") }
            var ne: [Int] = []
            for _ in 0..<nd {
                let d = try r.read(UInt64.self, "shape of '\(name)'")
                guard d > 0 && d < (1 << 40) else { throw EngineError.malformed(path: path, what: "tensor '\(name)' has dimension \(d)") }
                ne.append(Int(d))
            }
            let t = try r.read(UInt32.self, "dtype of '\(name)'")
            let off = try r.read(UInt64.self, "offset of '\(name)'")
            infos.append((name, ne.reversed(), t, off))
        }
        let alignment = meta["general.alignment"]?.int ?? 32
        guard alignment > 0 && alignment <= 1 << 20 else { throw EngineError.malformed(path: path, what: "alignment \(alignment)") }
        let dataStart = (r.offset + alignment - 1) / alignment * alignment
        var table: [String: TensorInfo] = [:]
        for (name, shape, t, off) in infos {
            guard let type = GGMLType(rawValue: t) else {
                throw EngineError.unsupportedDType(path: path, tensor: name, dtype: "ggml type \(t)")
            }
            guard let n = checkedProduct(shape), n <= Int(1) << 40 else {
                throw EngineError.malformed(path: path, what: "tensor '\(name)' has an impossibly large shape \(shape)")
            }
            guard off % UInt64(alignment) == 0 else {
                throw EngineError.malformed(path: path, what: "tensor '\(name)' starts at data offset \(off), not a multiple of the alignment \(alignment)")
            }
            guard let bytes = type.byteCount(elements: n), shape.last! % type.blockSize == 0 else {
                throw EngineError.malformed(path: path, what: "tensor '\(name)' shape \(shape) is not a whole number of \(type.name) blocks")
            }
            guard off < UInt64(file.count), dataStart + Int(off) <= file.count - bytes else {
                throw EngineError.truncated(path: path, what: "data of tensor '\(name)' (\(bytes) bytes at data offset \(off))",
                                            offset: dataStart + Int(min(off, UInt64(file.count))), fileSize: file.count)
            }
            table[name] = TensorInfo(name: name, shape: shape, type: type, offset: dataStart + Int(off), byteCount: bytes)
        }
        // Two tensors sharing bytes would make one file mean two things.
        let regions = table.values.sorted { $0.offset < $1.offset }
        for (a, b) in zip(regions, regions.dropFirst()) where b.offset < a.offset + a.byteCount {
            throw EngineError.malformed(path: path, what: "tensors '\(a.name)' and '\(b.name)' overlap (data offsets \(a.offset - dataStart) and \(b.offset - dataStart))")
        }
        guard table.count == infos.count else {
            throw EngineError.malformed(path: path, what: "a tensor name appears twice in the tensor table")
        }
        tensors = table
    }

    static func readString(_ r: inout ByteReader, _ what: String) throws -> String {
        let n = try r.read(UInt64.self, what + " length")
        guard n <= UInt64(r.count) else { throw EngineError.truncated(path: r.path, what: what, offset: r.offset, fileSize: r.count) }
        return try r.readString(count: Int(n), what)
    }

    static func readValue(_ r: inout ByteReader, type: UInt32, key: String, depth: Int) throws -> GGUFValue {
        let w = "value of '\(key)'"
        switch type {
        case 0: return .uint(UInt64(try r.read(UInt8.self, w)))
        case 1: return .int(Int64(try r.read(Int8.self, w)))
        case 2: return .uint(UInt64(try r.read(UInt16.self, w)))
        case 3: return .int(Int64(try r.read(Int16.self, w)))
        case 4: return .uint(UInt64(try r.read(UInt32.self, w)))
        case 5: return .int(Int64(try r.read(Int32.self, w)))
        case 6: return .float(Double(try r.readF32(w)))
        case 7: return .bool(try r.read(UInt8.self, w) != 0)
        case 8: return .string(try readString(&r, w))
        case 9:
            guard depth == 0 else { throw EngineError.malformed(path: r.path, what: "nested array in '\(key)'") }
            let et = try r.read(UInt32.self, w)
            let n = try r.read(UInt64.self, w)
            guard n <= UInt64(r.count - r.offset) else { throw EngineError.truncated(path: r.path, what: w, offset: r.offset, fileSize: r.count) }
            var out: [GGUFValue] = []
            out.reserveCapacity(Int(n))
            for _ in 0..<Int(n) { out.append(try readValue(&r, type: et, key: key, depth: depth + 1)) }
            return .array(out)
        case 10: return .uint(try r.read(UInt64.self, w))
        case 11: return .int(try r.read(Int64.self, w))
        case 12: return .float(try r.readF64(w))
        default: throw EngineError.malformed(path: r.path, what: "unknown metadata type \(type) for '\(key)'")
        }
    }

    /// Dequantised f32 values of tensor `name`, row-major in `shape` order.
    public func floats(_ name: String) throws -> [Float] {
        guard let info = tensors[name] else { throw EngineError.missingTensor(path: path, tensor: name) }
        return dequantize(type: info.type, from: file.base + info.offset, count: info.elementCount)
    }

    public func stringArray(_ key: String) -> [String]? { metadata[key]?.array?.compactMap { $0.string } }
}
