import Foundation

/// A bounds-checked little-endian cursor over a memory-mapped file; every read past the end throws.
struct ByteReader {
    let base: UnsafeRawPointer
    let count: Int
    let path: String
    var offset: Int = 0

    init(base: UnsafeRawPointer, count: Int, path: String) {
        self.base = base; self.count = count; self.path = path
    }

    /// Throws `.truncated` unless `n` more bytes are available at the cursor.
    func need(_ n: Int, _ what: @autoclosure () -> String) throws {
        if n < 0 || offset > count - n {
            throw EngineError.truncated(path: path, what: what(), offset: offset, fileSize: count)
        }
    }

    mutating func read<T: FixedWidthInteger>(_: T.Type, _ what: @autoclosure () -> String) throws -> T {
        try need(MemoryLayout<T>.size, what())
        let v = base.loadUnaligned(fromByteOffset: offset, as: T.self)
        offset += MemoryLayout<T>.size
        return T(littleEndian: v)
    }

    mutating func readF32(_ what: @autoclosure () -> String) throws -> Float {
        Float(bitPattern: try read(UInt32.self, what()))
    }

    mutating func readF64(_ what: @autoclosure () -> String) throws -> Double {
        Double(bitPattern: try read(UInt64.self, what()))
    }

    /// Reads `n` bytes as UTF-8 (invalid sequences are repaired, never trapped on).
    mutating func readString(count n: Int, _ what: @autoclosure () -> String) throws -> String {
        try need(n, what())
        let buf = UnsafeRawBufferPointer(start: base + offset, count: n)
        offset += n
        return String(decoding: buf, as: UTF8.self)
    }

    mutating func skip(_ n: Int, _ what: @autoclosure () -> String) throws {
        try need(n, what()); offset += n
    }
}

/// A read-only memory map of a whole file, unmapped when released.
final class MappedFile {
    let path: String
    let base: UnsafeRawPointer
    let count: Int

    init(path: String) throws {
        let fd = open(path, O_RDONLY)
        if fd < 0 { throw EngineError.fileNotFound(path: path) }
        defer { close(fd) }
        var st = stat()
        if fstat(fd, &st) != 0 { throw EngineError.io(path: path, message: "cannot stat") }
        count = Int(st.st_size)
        self.path = path
        if count == 0 { throw EngineError.truncated(path: path, what: "header", offset: 0, fileSize: 0) }
        guard let p = mmap(nil, count, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw EngineError.io(path: path, message: "cannot memory-map file")
        }
        base = UnsafeRawPointer(p)
    }

    deinit { munmap(UnsafeMutableRawPointer(mutating: base), count) }

    /// Drops the resident pages of bytes [offset, offset + count) (whole pages inside it): once a
    /// tensor is copied or dequantised its file pages need not stay in memory (they are read again
    /// from the file if touched).
    func release(offset: Int, count: Int) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (offset + page - 1) / page * page, end = (offset + count) / page * page
        guard end > start else { return }
        madvise(UnsafeMutableRawPointer(mutating: base + start), end - start, MADV_DONTNEED)
    }

    func reader() -> ByteReader { ByteReader(base: base, count: count, path: path) }
}
