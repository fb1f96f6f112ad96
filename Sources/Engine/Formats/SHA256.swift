import Foundation

/// SHA-256 (FIPS 180-4), streamed: `update` any number of times, then `hexDigest`.
///
/// Model identity in vector provenance and sweep run keys is the sha256 of the weight file(s),
/// the same digest the Hugging Face Hub and the model registry publish.
public struct SHA256 {
    private var h: [UInt32] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]
    private var pending: [UInt8] = []
    private var length: UInt64 = 0

    private static let k: [UInt32] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ]

    public init() {}

    /// Feeds `bytes` (any length) into the digest.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        length &+= UInt64(bytes.count)
        var i = 0
        if !pending.isEmpty {
            let take = min(64 - pending.count, bytes.count)
            pending.append(contentsOf: bytes[0..<take])
            i = take
            if pending.count == 64 { pending.withUnsafeBytes { compress($0.baseAddress!) }; pending.removeAll(keepingCapacity: true) }
        }
        guard let base = bytes.baseAddress else { return }
        while bytes.count - i >= 64 { compress(base + i); i += 64 }
        if i < bytes.count { pending.append(contentsOf: bytes[i...]) }
    }

    public mutating func update(_ data: Data) { data.withUnsafeBytes { update($0) } }

    /// The digest as 64 lowercase hex digits (finishes the stream: call once).
    public mutating func hexDigest() -> String {
        let bits = length &* 8
        var tail: [UInt8] = [0x80] + [UInt8](repeating: 0, count: (119 - pending.count) % 64)
        for s in stride(from: 56, through: 0, by: -8) { tail.append(UInt8(truncatingIfNeeded: bits >> UInt64(s))) }
        let saved = length
        tail.withUnsafeBytes { update($0) }
        length = saved
        precondition(pending.isEmpty)
        return h.map { String(format: "%08x", $0) }.joined()
    }

    /// One 64-byte block.
    private mutating func compress(_ p: UnsafeRawPointer) {
        var a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7]
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 64) { w in
            for t in 0..<16 { w[t] = UInt32(bigEndian: p.loadUnaligned(fromByteOffset: t * 4, as: UInt32.self)) }
            for t in 16..<64 {
                let s0 = w[t - 15].rotr(7) ^ w[t - 15].rotr(18) ^ (w[t - 15] >> 3)
                let s1 = w[t - 2].rotr(17) ^ w[t - 2].rotr(19) ^ (w[t - 2] >> 10)
                w[t] = w[t - 16] &+ s0 &+ w[t - 7] &+ s1
            }
            SHA256.k.withUnsafeBufferPointer { k in
                for t in 0..<64 {
                    let t1 = hh &+ (e.rotr(6) ^ e.rotr(11) ^ e.rotr(25)) &+ ((e & f) ^ (~e & g)) &+ k[t] &+ w[t]
                    let t2 = (a.rotr(2) ^ a.rotr(13) ^ a.rotr(22)) &+ ((a & b) ^ (a & c) ^ (b & c))
                    hh = g; g = f; f = e; e = d &+ t1; d = c; c = b; b = a; a = t1 &+ t2
                }
            }
        }
        h[0] &+= a; h[1] &+= b; h[2] &+= c; h[3] &+= d; h[4] &+= e; h[5] &+= f; h[6] &+= g; h[7] &+= hh
    }

    /// The sha256 of a file's bytes, read in 4 MiB pieces.
    public static func file(_ path: String) throws -> String {
        guard let fh = FileHandle(forReadingAtPath: path) else { throw EngineError.fileNotFound(path: path) }
        defer { try? fh.close() }
        var s = SHA256()
        while true {
            let d: Data
            do { d = try fh.read(upToCount: 4 << 20) ?? Data() } catch {
                throw EngineError.io(path: path, message: "cannot read: \(error.localizedDescription)")
            }
            if d.isEmpty { break }
            s.update(d)
        }
        return s.hexDigest()
    }
}

private extension UInt32 {
    func rotr(_ n: UInt32) -> UInt32 { (self >> n) | (self << (32 - n)) }
}

/// The sha256 of model weight files, computed once per file version: memoised in the process and
/// kept in `~/.cache/aft/sha256/` keyed by path, size, modification time and inode, so a model
/// file is hashed once (about 1 s per 300 MB) and again only when it changes.
public enum ModelDigest {
    nonisolated(unsafe) private static var memo: [String: String] = [:]
    private static let lock = NSLock()

    /// The sha256 of a .gguf file, or for a Hugging Face directory the sha256 of its weight files'
    /// names and digests (`model.safetensors` or every shard, sorted), one per line.
    public static func sha256(ofModelAt path: String) throws -> String {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw EngineError.fileNotFound(path: path) }
        if !isDir.boolValue { return try sha256(ofFile: path) }
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).filter { $0.hasSuffix(".safetensors") }.sorted()
        guard !files.isEmpty else { throw EngineError.fileNotFound(path: path + "/model.safetensors") }
        if files.count == 1 { return try sha256(ofFile: path + "/" + files[0]) }
        var s = SHA256()
        for f in files { s.update(Data("\(f) \(try sha256(ofFile: path + "/" + f))\n".utf8)) }
        return s.hexDigest()
    }

    /// One file's sha256, from the memo, the on-disk cache, or by reading it.
    public static func sha256(ofFile path: String) throws -> String {
        var st = stat()
        guard stat(path, &st) == 0 else { throw EngineError.fileNotFound(path: path) }
        let key = "\(path)|\(st.st_size)|\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)|\(st.st_ino)"
        lock.lock(); let hit = memo[key]; lock.unlock()
        if let hit { return hit }
        let cacheFile = cacheDirectory + "/" + String(fnv1a64(Data(key.utf8)), radix: 16)
        if let d = FileManager.default.contents(atPath: cacheFile), let line = String(data: d, encoding: .utf8),
           line.hasPrefix(key + "\t"), case let sha = String(line.dropFirst(key.count + 1)), sha.count == 64 {
            lock.lock(); memo[key] = sha; lock.unlock()
            return sha
        }
        let sha = try SHA256.file(path)
        lock.lock(); memo[key] = sha; lock.unlock()
        try? writeAtomically(Data((key + "\t" + sha).utf8), to: cacheFile)   // a cache: failing to keep it costs a rehash
        return sha
    }

    static var cacheDirectory: String {
        let env = ProcessInfo.processInfo.environment
        let base = env["XDG_CACHE_HOME"] ?? (NSHomeDirectory() + "/.cache")
        return base + "/aft/sha256"
    }
}
