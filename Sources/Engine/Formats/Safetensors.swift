import Foundation

/// A safetensors file: JSON header (u64 length + JSON), then raw little-endian tensor bytes.
public final class SafetensorsFile {
    public struct Entry { public let dtype: String; public let shape: [Int]; public let start: Int; public let end: Int }
    public let path: String
    public let entries: [String: Entry]
    /// The header's `__metadata__` (string to string, as the format defines it); empty when absent.
    public let metadata: [String: String]
    let file: MappedFile
    let dataStart: Int

    public init(path: String) throws {
        file = try MappedFile(path: path)
        self.path = path
        var r = file.reader()
        let n = try r.read(UInt64.self, "header length")
        guard n <= UInt64(file.count - 8) else {
            throw EngineError.truncated(path: path, what: "JSON header of \(n) bytes", offset: 8, fileSize: file.count)
        }
        let headerData = Data(bytes: file.base + 8, count: Int(n))
        guard let obj = try? JSONSerialization.jsonObject(with: headerData), let dict = obj as? [String: Any] else {
            throw EngineError.malformed(path: path, what: "header is not a JSON object")
        }
        dataStart = 8 + Int(n)
        if let m = dict["__metadata__"], !(m is NSNull) {
            guard let strings = m as? [String: String] else {
                throw EngineError.malformed(path: path, what: "'__metadata__' must map strings to strings")
            }
            metadata = strings
        } else { metadata = [:] }
        var entries: [String: Entry] = [:]
        for (name, v) in dict where name != "__metadata__" {
            guard let e = v as? [String: Any], let dt = e["dtype"] as? String,
                  let shape = (e["shape"] as? [NSNumber])?.map({ $0.intValue }),
                  let offs = (e["data_offsets"] as? [NSNumber])?.map({ $0.intValue }), offs.count == 2 else {
                throw EngineError.malformed(path: path, what: "bad header entry for tensor '\(name)'")
            }
            let width: Int
            switch dt {
            case "F32": width = 4
            case "F16", "BF16": width = 2
            default: throw EngineError.unsupportedDType(path: path, tensor: name, dtype: dt)
            }
            let region = "tensor '\(name)'"
            guard shape.allSatisfy({ $0 >= 0 }) else {
                throw EngineError.malformed(path: path, what: "\(region) has a negative dimension in shape \(shape)")
            }
            guard let n = checkedProduct(shape), n <= Int(1) << 40 else {
                throw EngineError.malformed(path: path, what: "\(region) has an impossibly large shape \(shape)")
            }
            guard offs[0] >= 0, offs[0] <= offs[1] else {
                throw EngineError.malformed(path: path, what: "\(region) has data_offsets \(offs): not a start and an end at or after it")
            }
            guard offs[1] - offs[0] == n * width else {
                throw EngineError.malformed(path: path, what: "\(region) has data_offsets \(offs) (\(offs[1] - offs[0]) bytes) but shape \(shape) of \(dt) needs \(n * width) bytes")
            }
            guard offs[1] <= file.count - dataStart else {
                throw EngineError.truncated(path: path, what: "data of \(region) (bytes \(offs[0])..<\(offs[1]) of the data section)",
                                            offset: dataStart + offs[0], fileSize: file.count)
            }
            entries[name] = Entry(dtype: dt, shape: shape, start: offs[0], end: offs[1])
        }
        // Two tensors sharing bytes would make one file mean two things.
        let byStart = entries.filter { $0.value.end > $0.value.start }.sorted { $0.value.start < $1.value.start }
        for (a, b) in zip(byStart, byStart.dropFirst()) where b.value.start < a.value.end {
            throw EngineError.malformed(path: path, what: "tensors '\(a.key)' and '\(b.key)' overlap (bytes \(a.value.start)..<\(a.value.end) and \(b.value.start)..<\(b.value.end))")
        }
        self.entries = entries
    }

    public func tensor(_ name: String) throws -> Tensor {
        guard let e = entries[name] else { throw EngineError.missingTensor(path: path, tensor: name) }
        let p = file.base + dataStart + e.start
        let n = e.shape.reduce(1, *)
        let type: GGMLType = e.dtype == "F32" ? .f32 : (e.dtype == "F16" ? .f16 : .bf16)
        defer { file.release(offset: dataStart + e.start, count: e.end - e.start) }
        if type == .f32 {
            return Tensor(shape: e.shape, data: [Float](unsafeUninitializedCapacity: n) { b, c in
                memcpy(b.baseAddress!, p, n * 4); c = n
            })
        }
        return Tensor(shape: e.shape, data: dequantize(type: type, from: p, count: n))
    }

    /// An f16 or bf16 tensor's bytes as stored (nil for f32).
    public func packed(_ name: String) throws -> PackedTensor? {
        guard let e = entries[name] else { throw EngineError.missingTensor(path: path, tensor: name) }
        guard e.dtype != "F32" else { return nil }
        defer { file.release(offset: dataStart + e.start, count: e.end - e.start) }
        let p = (file.base + dataStart + e.start).assumingMemoryBound(to: UInt8.self)
        return PackedTensor(type: e.dtype == "F16" ? .f16 : .bf16, shape: e.shape, bytes: Array(UnsafeBufferPointer(start: p, count: e.end - e.start)))
    }
}

/// The product of `dims`, or nil when it overflows `Int`.
func checkedProduct(_ dims: [Int]) -> Int? {
    var n = 1
    for d in dims {
        let (p, overflow) = n.multipliedReportingOverflow(by: d)
        if overflow { return nil }
        n = p
    }
    return n
}

/// A Hugging Face model directory: `model.safetensors` or shards listed in `model.safetensors.index.json`.
public final class SafetensorsWeights: WeightSource {
    public let path: String
    public var format: ModelFormat { .huggingFace }
    var files: [SafetensorsFile] = []
    var index: [String: SafetensorsFile] = [:]

    public init(directory: String) throws {
        path = directory
        let single = directory + "/model.safetensors", idx = directory + "/model.safetensors.index.json"
        let fm = FileManager.default
        if fm.fileExists(atPath: idx) {
            guard let d = fm.contents(atPath: idx), let o = try? JSONSerialization.jsonObject(with: d) as? [String: Any],
                  let map = o["weight_map"] as? [String: String] else {
                throw EngineError.malformed(path: idx, what: "no weight_map")
            }
            var opened: [String: SafetensorsFile] = [:]
            for shard in Set(map.values).sorted() { opened[shard] = try SafetensorsFile(path: directory + "/" + shard) }
            files = Array(opened.values)
            for (name, shard) in map { index[name] = opened[shard] }
        } else if fm.fileExists(atPath: single) {
            let f = try SafetensorsFile(path: single)
            files = [f]
            for k in f.entries.keys { index[k] = f }
        } else {
            throw EngineError.fileNotFound(path: single + " (or model.safetensors.index.json)")
        }
    }

    public func has(_ name: String) -> Bool { index[name]?.entries[name] != nil }
    public var names: [String] { Array(index.keys) }

    public func tensor(_ name: String) throws -> Tensor {
        guard let f = index[name] else { throw EngineError.missingTensor(path: path, tensor: name) }
        return try f.tensor(name)
    }

    public func packed(_ name: String) throws -> PackedTensor? {
        guard let f = index[name] else { throw EngineError.missingTensor(path: path, tensor: name) }
        return try f.packed(name)
    }
}
