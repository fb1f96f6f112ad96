import Foundation

/// `aft kernel install`: the kernelspec (kernel.json and logos) where Jupyter looks for kernels.
enum KernelSpec {
    struct Failure: Error, CustomStringConvertible { let description: String }

    static let usage = """
    usage: aft kernel CONNECTION_FILE          serve a Jupyter client (Jupyter starts this itself)
           aft kernel install [--user | --sys-prefix | --prefix DIR] [--name NAME]
                                              write the kernelspec where `jupyter kernelspec list` finds it
                                              (default --user: $JUPYTER_DATA_DIR or ~/.local/share/jupyter)
    """

    /// Where `install` writes for the given options (the `kernels/NAME` directory).
    static func directory(_ args: [String]) throws -> String {
        var name = "aft", base: String? = nil
        var i = 0
        while i < args.count {
            switch args[i] {
            case "--user": base = userDataDir()
            case "--sys-prefix": base = try sysPrefix() + "/share/jupyter"
            case "--prefix":
                guard i + 1 < args.count, !args[i + 1].hasPrefix("-") else { throw Failure(description: "--prefix needs a directory\n" + usage) }
                base = (args[i + 1] as NSString).expandingTildeInPath + "/share/jupyter"; i += 1
            case "--name":
                guard i + 1 < args.count, args[i + 1].range(of: "^[A-Za-z0-9._-]+$", options: .regularExpression) != nil else {
                    throw Failure(description: "--name needs a kernel name of letters, digits, '.', '_' or '-'\n" + usage)
                }
                name = args[i + 1]; i += 1
            default: throw Failure(description: "unknown option '\(args[i])'\n" + usage)
            }
            i += 1
        }
        return (base ?? userDataDir()) + "/kernels/" + name
    }

    /// jupyter_core's user data directory on Linux.
    static func userDataDir() -> String {
        let env = ProcessInfo.processInfo.environment
        if let d = env["JUPYTER_DATA_DIR"], !d.isEmpty { return d }
        if let x = env["XDG_DATA_HOME"], !x.isEmpty { return x + "/jupyter" }
        return NSHomeDirectory() + "/.local/share/jupyter"
    }

    /// The Python environment's prefix (where its `jupyter` looks under share/jupyter).
    static func sysPrefix() throws -> String {
        let p = Process(), out = Pipe()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", "import sys; print(sys.prefix)"]
        p.standardOutput = out
        do { try p.run() } catch { throw Failure(description: "--sys-prefix asks python3 for its prefix, and python3 did not start: \(error)") }
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        p.waitUntilExit()
        guard p.terminationStatus == 0, !text.isEmpty else { throw Failure(description: "--sys-prefix: python3 did not print its prefix") }
        return text
    }

    /// This binary's own path, for the kernelspec's argv.
    static func executablePath() -> String {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buf, buf.count - 1)
        if n > 0 { return String(cString: Array(buf[0..<n]) + [0]) }
        return URL(fileURLWithPath: CommandLine.arguments.first ?? "aft").standardizedFileURL.path
    }

    static func kernelJSON(executable: String) -> [String: Any] {
        ["argv": [executable, "kernel", "{connection_file}"], "display_name": "AFT", "language": "aft",
         "interrupt_mode": "signal", "metadata": ["debugger": false]]
    }

    /// Writes kernel.json and the logos into `dir` (replacing an older spec there); returns `dir`.
    @discardableResult
    static func install(_ args: [String]) throws -> String {
        let dir = try directory(args)
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let json = try JSONSerialization.data(withJSONObject: kernelJSON(executable: executablePath()), options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            try json.write(to: URL(fileURLWithPath: dir + "/kernel.json"), options: .atomic)
            for size in [32, 64] { try Logo.png(size: size).write(to: URL(fileURLWithPath: "\(dir)/logo-\(size)x\(size).png"), options: .atomic) }
        } catch let f as Failure { throw f } catch {
            throw Failure(description: "cannot write the kernelspec in \(dir): \(error.localizedDescription)")
        }
        return dir
    }
}

/// The kernel's logo, drawn here: a residual stream (white line) with a steering vector (orange
/// arrow) added to it, on blue. Written as an uncompressed PNG (stored deflate blocks).
enum Logo {
    static func pixel(_ x: Double, _ y: Double) -> (UInt8, UInt8, UInt8) {
        let blue: (UInt8, UInt8, UInt8) = (0x1f, 0x4e, 0x79), white: (UInt8, UInt8, UInt8) = (0xff, 0xff, 0xff)
        let orange: (UInt8, UInt8, UInt8) = (0xf5, 0x9e, 0x0b)
        // Rounded square.
        let r = 0.18, cx = min(max(x, r), 1 - r), cy = min(max(y, r), 1 - r)
        if (x - cx) * (x - cx) + (y - cy) * (y - cy) > r * r { return (0, 0, 0) }
        if abs(y - 0.42) < 0.055 && x > 0.12 && x < 0.88 { return white }              // the stream
        if abs(x - 0.5) < 0.05 && y > 0.5 && y < 0.84 { return orange }               // the vector's shaft
        if y > 0.47 && y <= 0.62 && abs(x - 0.5) < (y - 0.47) * 1.1 { return orange }  // its head, pointing up
        return blue
    }

    static func png(size: Int) -> Data {
        var raw = [UInt8]()
        for row in 0..<size {
            raw.append(0)   // filter: none
            for col in 0..<size {
                let p = pixel((Double(col) + 0.5) / Double(size), (Double(row) + 0.5) / Double(size))
                let inside = !(p.0 == 0 && p.1 == 0 && p.2 == 0)
                raw += [p.0, p.1, p.2, inside ? 255 : 0]
            }
        }
        var z: [UInt8] = [0x78, 0x01]
        var at = 0
        repeat {
            let n = min(65535, raw.count - at), last: UInt8 = at + n == raw.count ? 1 : 0
            z += [last, UInt8(n & 0xff), UInt8(n >> 8), UInt8(~n & 0xff), UInt8((~n >> 8) & 0xff)]
            z += raw[at..<(at + n)]
            at += n
        } while at < raw.count
        var a: UInt32 = 1, b: UInt32 = 0
        for v in raw { a = (a + UInt32(v)) % 65521; b = (b + a) % 65521 }
        z += be32((b << 16) | a)
        var out: [UInt8] = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]
        out += chunk("IHDR", be32(UInt32(size)) + be32(UInt32(size)) + [8, 6, 0, 0, 0])
        out += chunk("IDAT", z)
        out += chunk("IEND", [])
        return Data(out)
    }

    static func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 0xff), UInt8((v >> 8) & 0xff), UInt8(v & 0xff)] }

    static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let body = Array(type.utf8) + data
        var crc: UInt32 = 0xffff_ffff
        for byte in body {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xedb8_8320 : crc >> 1 }
        }
        return be32(UInt32(data.count)) + body + be32(~crc)
    }
}
