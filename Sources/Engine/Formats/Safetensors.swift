import Foundation

/// A safetensors file: JSON header (u64 length + JSON), then raw little-endian tensor bytes.
public final class SafetensorsFile {
    public struct Entry { public let dtype: String; public let shape: [Int]; public let start: Int; public let end: Int }
    public let path: String
    public let entries: [String: Entry]
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
            let n = shape.reduce(1, *)
            guard offs[0] >= 0, offs[1] - offs[0] == n * width, dataStart + offs[1] <= file.count else {
                throw EngineError.truncated(path: path, what: "data of tensor '\(name)' (bytes \(offs[0])..<\(offs[1]))",
                                            offset: dataStart + max(0, offs[0]), fileSize: file.count)
            }
            entries[name] = Entry(dtype: dt, shape: shape, start: offs[0], end: offs[1])
        }
        self.entries = entries
    }

    public func tensor(_ name: String) throws -> Tensor {
        guard let e = entries[name] else { throw EngineError.missingTensor(path: path, tensor: name) }
        let p = file.base + dataStart + e.start
        let n = e.shape.reduce(1, *)
        let type: GGMLType = e.dtype == "F32" ? .f32 : (e.dtype == "F16" ? .f16 : .bf16)
        if type == .f32 {
            return Tensor(shape: e.shape, data: [Float](unsafeUninitializedCapacity: n) { b, c in
                memcpy(b.baseAddress!, p, n * 4); c = n
            })
        }
        return Tensor(shape: e.shape, data: dequantize(type: type, from: p, count: n))
    }
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
}
