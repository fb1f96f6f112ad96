import Foundation

/// A sweep's run directory: `meta.json` with the arguments and split doc ids, and for each
/// finished layer `layer-NN.json` (its `LayerResult`) and `layer-NN.safetensors` (its vector),
/// each written atomically. A rerun with the same key resumes from the layers found here; a layer
/// file that fails verification is set aside and the layer trained again.
public struct SweepRunDirectory {
    public let path: String

    public init(path: String) throws {
        self.path = path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func resultPath(_ l: Int) -> String { String(format: "%@/layer-%02d.json", path, l) }
    func vectorPath(_ l: Int) -> String { SweepRunDirectory.vectorPath(path, layer: l) }
    /// Where a run directory at `path` keeps layer `l`'s vector.
    public static func vectorPath(_ path: String, layer l: Int) -> String { String(format: "%@/layer-%02d.safetensors", path, l) }

    /// Writes the run's arguments (JSON object) to `meta.json`.
    public func writeMeta(_ meta: [String: Any]) throws {
        try writeAtomically(try JSONSerialization.data(withJSONObject: meta, options: [.prettyPrinted, .sortedKeys]), to: path + "/meta.json")
    }

    /// The finished result of layer `l`, if this directory holds one that passes verification:
    /// the file decodes, names layer `l` (a layer the model has), its scores are in range, and its
    /// vector file is there with `hidden` finite values for layer `l`.
    /// - Returns: the result, or nil with `problem` saying why a file that exists was not trusted.
    public func finished(_ l: Int, layers: Int, hidden: Int) -> (result: LayerResult?, problem: String?) {
        guard let d = FileManager.default.contents(atPath: resultPath(l)) else { return (nil, nil) }
        guard let r = try? LayerResult.decoder.decode(LayerResult.self, from: d) else { return (nil, "layer-\(l) result does not decode") }
        guard r.layer == l, l >= -1, l < layers else { return (nil, "layer-\(l) file is for layer \(r.layer) of a model with \(layers) layers") }
        guard r.valMetric.isFinite, (0...1).contains(r.valMetric), r.valN > 0 else { return (nil, "layer-\(l) validation score \(r.valMetric) is not a proportion") }
        guard let v = try? SteeringVector.loadSafetensors(vectorPath(l)) else { return (nil, "layer-\(l) vector file is missing or unreadable") }
        guard v.layer == l, v.values.count == hidden, v.values.allSatisfy({ $0.isFinite }) else {
            return (nil, "layer-\(l) vector has layer \(v.layer) and \(v.values.count) values (want \(l) and \(hidden), all finite)")
        }
        return (r, nil)
    }

    /// Takes the directory for this process: a `lock` file holding the host and pid, created
    /// exclusively. A lock left by a process that no longer runs on this host is taken over; a live
    /// one is an error naming its holder (two processes must not train the same run).
    public func lock() throws -> RunLock {
        guard let l = try lock(name: "lock") else { throw EngineError.io(path: path + "/lock", message: "cannot take the run lock") }
        return l
    }

    /// The lock of one cell (`name`, e.g. "layer-04.lock") for shards sharing the run directory:
    /// nil when a live process holds it (another shard trains that cell); a dead holder's lock on
    /// this host is taken over.
    /// With `wait` (a merge run), a held lock is waited for, polling once a second until it is
    /// free or `shouldStop`; the caller then finds the cell finished by its holder, or trains it.
    public func cellLock(_ name: String, wait: Bool = false, shouldStop: () -> Bool = { false }) throws -> RunLock? {
        while true {
            do { return try lock(name: name) } catch EngineError.io(_, let m) where m.hasPrefix("this run directory is in use") {
                if !wait || shouldStop() { return nil }
                Thread.sleep(forTimeInterval: 1)
            }
        }
    }

    func lock(name: String) throws -> RunLock? {
        let p = path + "/" + name
        let host = ProcessInfo.processInfo.hostName, me = "\(host) \(getpid())\n"
        // The lock appears whole or not at all: written to a temporary file, then hard-linked into
        // place (link fails when the lock exists), so a writer killed at any moment never leaves an
        // empty lock that names no process.
        let tmp = p + ".tmp-\(getpid())"
        guard FileManager.default.createFile(atPath: tmp, contents: Data(me.utf8)) else {
            throw EngineError.io(path: p, message: "cannot create the run lock: \(String(cString: strerror(errno)))")
        }
        defer { unlink(tmp) }
        for _ in 0..<2 {
            if link(tmp, p) == 0 {
                if name == "lock" { removeStaleTemporaries(in: path) }   // what writers killed in this directory left behind
                return RunLock(path: p)
            }
            guard errno == EEXIST else { throw EngineError.io(path: p, message: "cannot create the run lock: \(String(cString: strerror(errno)))") }
            let held = (try? String(contentsOfFile: p, encoding: .utf8))?.split(separator: " ").map(String.init) ?? []
            let pid = held.count > 1 ? Int32(held[1].trimmingCharacters(in: .whitespacesAndNewlines)) : nil
            let sameHost = held.first == host
            if let pid = pid, sameHost, kill(pid, 0) != 0 && errno == ESRCH {
                unlink(p)   // stale: its process is gone; take it over
                continue
            }
            throw EngineError.io(path: path, message: "this run directory is in use by process \(held.count > 1 ? held[1].trimmingCharacters(in: .whitespacesAndNewlines) : "?") on \(held.first ?? "?")"
                                 + (sameHost ? "" : " (another host: remove \(p) if that run is gone)"))
        }
        throw EngineError.io(path: p, message: "cannot take the run lock")
    }

    /// Records a finished layer: the vector first, then the result (its presence marks the layer done).
    public func save(_ r: LayerResult, vector: SteeringVector) throws {
        try vector.saveSafetensors(to: vectorPath(r.layer))
        try writeAtomically(try LayerResult.encoder.encode(r), to: resultPath(r.layer))
    }
}

/// A held run-directory lock; `release` removes it (a crash leaves it, and the next run takes it over).
public final class RunLock {
    let path: String
    init(path: String) { self.path = path }
    public func release() { unlink(path) }
}

/// How a sweep runs its layers: which need training, in which cache groups, and where the cache lives.
public struct SweepPlan: Equatable {
    /// Layers without a verified result in the run directory.
    public let todo: [Int]
    /// Layer groups, each run from one residual cache pass.
    public let groups: [[Int]]
    /// Whether the cache goes to a scratch file in the run directory.
    public let toDisk: Bool

    /// Over `budget` bytes the cache goes to a scratch file (one pass for all layers) unless
    /// `spill` is never, which runs the layers in groups that fit, each group recomputing residuals.
    /// - Parameter bytes: cache bytes for n layers.
    public init(todo: [Int], all layers: [Int], budget: Int, spill: SpillPolicy, bytes: (Int) -> Int) {
        self.todo = todo
        let fits = bytes(todo.count) <= budget
        toDisk = !todo.isEmpty && (spill == .always || (spill == .auto && !fits))
        let perGroup = toDisk ? max(1, todo.count) : max(1, min(todo.count, budget / max(1, bytes(1))))
        let g = stride(from: 0, to: todo.count, by: perGroup).map { Array(todo[$0..<min(todo.count, $0 + perGroup)]) }
        // Nothing to train still makes one pass (for the base line) at the first layer.
        groups = g.isEmpty ? [[layers.first ?? 0]] : g
    }
}
