import Foundation

/// A fixed-size array of f16 values (as `UInt16`) in process memory or in a memory-mapped file.
///
/// On disk, the file is mapped shared and unlinked at once: the kernel pages it in and out (so the
/// resident size stays bounded however large it is) and nothing is left behind, even after a crash.
/// Distinct ranges may be written from several threads at once.
public final class HalfStorage {
    /// Number of f16 values.
    public let count: Int
    public let pointer: UnsafeMutablePointer<UInt16>
    /// The scratch file's path when the values live on disk (already unlinked; for messages).
    public let diskPath: String?

    /// Bytes the values occupy.
    public var bytes: Int { count * 2 }

    /// Allocates `count` zeroed values, in memory or (with `spillDirectory`) in a scratch file there.
    public init(count: Int, spillDirectory: String? = nil) throws {
        self.count = count
        guard let dir = spillDirectory else {
            pointer = .allocate(capacity: max(count, 1))
            pointer.initialize(repeating: 0, count: max(count, 1))
            diskPath = nil
            return
        }
        let bytes = max(count * 2, 2)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        if let free = (try? FileManager.default.attributesOfFileSystem(forPath: dir))?[.systemFreeSize] as? Int, free < bytes {
            throw EngineError.io(path: dir, message: String(format: "not enough disk space for the residual cache: %.1f GB needed, %.1f GB free (set cache_gb higher, or spill=never to recompute in layer groups)",
                                                            Double(bytes) / 1e9, Double(free) / 1e9))
        }
        let path = "\(dir)/residuals-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).f16"
        let fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw EngineError.io(path: path, message: "cannot create the residual cache file: \(String(cString: strerror(errno)))") }
        defer { close(fd); unlink(path) }
        guard ftruncate(fd, off_t(bytes)) == 0 else {
            throw EngineError.io(path: path, message: "cannot size the residual cache file to \(bytes) bytes: \(String(cString: strerror(errno)))")
        }
        guard let p = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), p != MAP_FAILED else {
            throw EngineError.io(path: path, message: "cannot map the residual cache file: \(String(cString: strerror(errno)))")
        }
        pointer = p.bindMemory(to: UInt16.self, capacity: count)
        diskPath = path
    }

    deinit {
        if diskPath != nil { munmap(pointer, max(count * 2, 2)) } else { pointer.deallocate() }
    }
}
