import Foundation

/// A trained steering vector with its provenance.
public struct SteeringVector {
    public var name: String
    public var values: [Float]          // [hidden]
    public var layer: Int               // added to the residual after this block (0-based)
    /// Provenance: model, model_sha256, task, splits, seed, hyperparameters, scores (all strings).
    public var metadata: [String: String]
    /// Vectors at further layers, applied together with (`layer`, `values`): a llama.cpp control
    /// vector (repeng, cvector-generator) steers several layers at once. Empty for a trained vector.
    public var more: SteeringSet = []

    public init(name: String, values: [Float], layer: Int, metadata: [String: String], more: SteeringSet = []) {
        self.name = name; self.values = values; self.layer = layer; self.metadata = metadata; self.more = more
    }

    /// Every (layer, values) this vector adds, its own layer first.
    public var steering: SteeringSet { [(layer, values)] + more }
    public var layers: [Int] { steering.map { $0.layer } }

    /// The `format` written into every saved vector's metadata; a file with another is refused.
    public static let format = "aft-steering-vector/1"

    public var norm: Double { l2Norm(values) }

    /// Writes `steering.vector` (F32 [hidden]) and the provenance as safetensors `__metadata__`, atomically.
    public func saveSafetensors(to path: String) throws {
        var meta = metadata
        meta["layer"] = String(layer); meta["name"] = name; meta["format"] = SteeringVector.format
        let header: [String: Any] = [
            "__metadata__": meta,
            "steering.vector": ["dtype": "F32", "shape": [values.count], "data_offsets": [0, values.count * 4]],
        ]
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while (json.count + 8) % 8 != 0 { json.append(0x20) }
        var out = Data()
        var n = UInt64(json.count).littleEndian
        out.append(Data(bytes: &n, count: 8))
        out.append(json)
        values.withUnsafeBytes { out.append(contentsOf: $0) }
        try writeAtomically(out, to: path)
    }

    /// Reads a vector written by `saveSafetensors`.
    public static func loadSafetensors(_ path: String) throws -> SteeringVector {
        let f = try SafetensorsFile(path: path)
        let t = try f.tensor("steering.vector")
        let meta = f.metadata
        if let format = meta["format"], format != SteeringVector.format {
            throw EngineError.malformed(path: path, what: "format '\(format)' is not one this aft reads (\(SteeringVector.format)); it was written by another version")
        }
        guard let layer = meta["layer"].flatMap(Int.init) else { throw EngineError.malformed(path: path, what: "no 'layer' in metadata") }
        guard t.shape.count == 1, !t.data.isEmpty else {
            throw EngineError.malformed(path: path, what: "tensor 'steering.vector' has shape \(t.shape); a steering vector is one row of hidden-size floats")
        }
        if let bad = t.data.firstIndex(where: { !$0.isFinite }) {
            throw EngineError.malformed(path: path, what: "tensor 'steering.vector' has a non-finite value (\(t.data[bad])) at index \(bad)")
        }
        return SteeringVector(name: meta["name"] ?? (path as NSString).lastPathComponent, values: t.data, layer: layer, metadata: meta)
    }

    /// Reads a llama.cpp control vector: GGUF of architecture `controlvector` with one F32 tensor
    /// `direction.N` [hidden] per steered layer (as llama.cpp's cvector-generator and repeng write
    /// them); `direction.N` is added after block N, as llama.cpp applies it.
    public static func loadControlVector(_ path: String, name: String) throws -> SteeringVector {
        let g = try GGUFFile(path: path)
        guard g.metadata["general.architecture"]?.string == "controlvector" else {
            throw EngineError.malformed(path: path, what: "general.architecture is '\(g.metadata["general.architecture"]?.string ?? "missing")', not 'controlvector': this is not a llama.cpp control vector")
        }
        var set: SteeringSet = []
        for (tname, info) in g.tensors {
            guard tname.hasPrefix("direction."), let n = Int(tname.dropFirst("direction.".count)) else {
                throw EngineError.malformed(path: path, what: "tensor '\(tname)' is not named direction.N")
            }
            guard n >= 1 else { throw EngineError.malformed(path: path, what: "tensor '\(tname)': llama.cpp's loader rejects layer 0 (directions start at 1)") }
            guard info.shape.count == 1 else {
                throw EngineError.malformed(path: path, what: "tensor '\(tname)' has shape \(info.shape); a direction is one row of hidden-size floats")
            }
            let v = try g.floats(tname)
            if let bad = v.firstIndex(where: { !$0.isFinite }) {
                throw EngineError.malformed(path: path, what: "tensor '\(tname)' has a non-finite value (\(v[bad])) at index \(bad)")
            }
            set.append((n, v))
        }
        set.sort { $0.layer < $1.layer }
        guard let first = set.first else { throw EngineError.malformed(path: path, what: "no direction.N tensors") }
        guard set.allSatisfy({ $0.values.count == first.values.count }) else {
            throw EngineError.malformed(path: path, what: "directions of different lengths \(Set(set.map { $0.values.count }).sorted())")
        }
        var meta = ["source": path, "format": "llama.cpp control vector"]
        if let hint = g.metadata["controlvector.model_hint"]?.string { meta["model_hint"] = hint }
        if let n = g.metadata["controlvector.layer_count"]?.int { meta["layer_count"] = String(n) }
        return SteeringVector(name: name, values: first.values, layer: first.layer, metadata: meta, more: Array(set.dropFirst()))
    }

    /// Writes a llama.cpp control vector: GGUF with one F32 tensor `direction.N` per layer.
    ///
    /// llama.cpp (common_control_vector_load_one) stores `direction.N` at offset n_embd·(N−1) and
    /// llama_adapter_cvec applies offset n_embd·(il−1) at the output of block il, so `direction.N`
    /// is added after block N, the same point as this vector's `layer`. N = 0 is rejected there:
    /// a vector after block 0 cannot be exported.
    public func exportControlVector(to path: String, architecture: String, layerCount: Int) throws {
        guard let low = layers.min(), low >= 1 else {
            throw EngineError.invalidArgument("llama.cpp control vectors cannot address block 0 (direction.0 is rejected by its loader); this vector is at layer \(layers.min() ?? layer)")
        }
        func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
        func str(_ s: String) -> [UInt8] { le(UInt64(s.utf8.count)) + Array(s.utf8) }
        let parts = steering
        var b = le(UInt32(0x4655_4747)) + le(UInt32(3)) + le(UInt64(parts.count)) + le(UInt64(3))
        b += str("general.architecture") + le(UInt32(8)) + str("controlvector")
        b += str("controlvector.model_hint") + le(UInt32(8)) + str(architecture)
        b += str("controlvector.layer_count") + le(UInt32(5)) + le(Int32(layerCount))
        var offset = 0
        for (l, v) in parts {
            b += str("direction.\(l)") + le(UInt32(1)) + le(UInt64(v.count)) + le(UInt32(0)) + le(UInt64(offset))
            offset += (v.count * 4 + 31) / 32 * 32
        }
        while b.count % 32 != 0 { b.append(0) }
        for (_, v) in parts {
            for x in v { b += le(x.bitPattern) }
            while b.count % 32 != 0 { b.append(0) }
        }
        try writeAtomically(Data(b), to: path)
    }
}

/// Writes `data` to a temporary file beside `path`, then renames it into place.
public func writeAtomically(_ data: Data, to path: String) throws {
    let dir = (path as NSString).deletingLastPathComponent
    if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
    let tmp = path + ".tmp-\(getpid())"
    guard FileManager.default.createFile(atPath: tmp, contents: data) else {
        unlink(tmp)   // a partial temporary file (a full disk) is not left behind
        throw EngineError.io(path: path, message: "cannot write (disk full, or the directory is not writable?)")
    }
    if rename(tmp, path) != 0 { unlink(tmp); throw EngineError.io(path: path, message: "cannot rename into place") }
    removeStaleTemporaries(of: path)
}

/// Removes `path.tmp-PID` files that a process killed while writing `path` left behind (PID no
/// longer running); a live writer's temporary file is left alone.
func removeStaleTemporaries(of path: String) {
    let dir = (path as NSString).deletingLastPathComponent
    removeStaleTemporaries(in: dir.isEmpty ? "." : dir, prefix: (path as NSString).lastPathComponent + ".tmp-")
}

/// Removes every `NAME.tmp-PID` in `dir` (names starting `prefix` when given) whose writer is gone.
func removeStaleTemporaries(in dir: String, prefix: String = "") {
    for e in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] where e.hasPrefix(prefix) {
        guard let r = e.range(of: ".tmp-", options: .backwards), let pid = Int32(e[r.upperBound...]),
              pid != getpid(), kill(pid, 0) != 0, errno == ESRCH else { continue }
        unlink(dir + "/" + e)
    }
}
