import Foundation

/// JSON with its object keys in file order, printed the way Python's `json.dumps` prints it, so a
/// hash lm-eval takes of `json.dumps(doc, indent=2, ensure_ascii=False)` can be reproduced.
public indirect enum PythonJSON: Equatable {
    case object([(String, PythonJSON)])
    case array([PythonJSON])
    case string(String)
    /// A number as its text (an integer) or a Double (printed with Python's shortest repr).
    case int(String), double(Double)
    case bool(Bool)
    case null

    public static func == (a: PythonJSON, b: PythonJSON) -> Bool { a.dumps() == b.dumps() }

    /// Parses one JSON value (the whole text); nil when it is not JSON.
    public static func parse(_ data: Data) -> PythonJSON? {
        var p = Parser(bytes: Array(data))
        guard let v = p.value() else { return nil }
        p.space()
        return p.i == p.bytes.count ? v : nil
    }

    /// `json.dumps(value, ensure_ascii=False)` (`indent` nil: one line with ", " and ": "), or with `indent` spaces.
    public func dumps(indent: Int? = nil, level: Int = 0) -> String {
        let pad = indent.map { "\n" + String(repeating: " ", count: $0 * (level + 1)) } ?? ""
        let close = indent.map { "\n" + String(repeating: " ", count: $0 * level) } ?? ""
        let sep = indent == nil ? ", " : ","
        switch self {
        case .object(let kv):
            if kv.isEmpty { return "{}" }
            return "{" + kv.map { pad + PythonJSON.quote($0.0) + ": " + $0.1.dumps(indent: indent, level: level + 1) }.joined(separator: sep) + close + "}"
        case .array(let a):
            if a.isEmpty { return "[]" }
            return "[" + a.map { pad + $0.dumps(indent: indent, level: level + 1) }.joined(separator: sep) + close + "]"
        case .string(let s): return PythonJSON.quote(s)
        case .int(let t): return t
        case .double(let d): return PythonJSON.repr(d)
        case .bool(let b): return b ? "true" : "false"
        case .null: return "null"
        }
    }

    /// Python's `repr(float)` as json.dumps writes it (NaN and infinities as Python spells them).
    public static func repr(_ d: Double) -> String {
        if d.isNaN { return "NaN" }
        if d.isInfinite { return d > 0 ? "Infinity" : "-Infinity" }
        if d == d.rounded(), abs(d) < 1e16 { return String(format: "%.1f", d) }
        var s = "\(d)"
        // Swift writes 1e-05 and 1e+16 as Python does; only a missing exponent sign differs.
        if let e = s.firstIndex(of: "e"), s[s.index(after: e)] != "-" && s[s.index(after: e)] != "+" {
            s.insert("+", at: s.index(after: e))
        }
        return s
    }

    /// A JSON string as json.dumps(ensure_ascii=False) escapes it.
    public static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }

    public subscript(key: String) -> PythonJSON? {
        if case .object(let kv) = self { return kv.first { $0.0 == key }?.1 }
        return nil
    }

    struct Parser {
        let bytes: [UInt8]
        var i = 0
        init(bytes: [UInt8]) { self.bytes = bytes }

        mutating func space() { while i < bytes.count, [0x20, 0x0A, 0x0D, 0x09].contains(bytes[i]) { i += 1 } }

        mutating func value() -> PythonJSON? {
            space()
            guard i < bytes.count else { return nil }
            switch bytes[i] {
            case UInt8(ascii: "{"):
                i += 1; var kv: [(String, PythonJSON)] = []
                space()
                if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; return .object(kv) }
                while true {
                    space()
                    guard case .string(let k)? = value() else { return nil }
                    space()
                    guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { return nil }
                    i += 1
                    guard let v = value() else { return nil }
                    kv.append((k, v))
                    space()
                    guard i < bytes.count else { return nil }
                    if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                    if bytes[i] == UInt8(ascii: "}") { i += 1; return .object(kv) }
                    return nil
                }
            case UInt8(ascii: "["):
                i += 1; var a: [PythonJSON] = []
                space()
                if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1; return .array(a) }
                while true {
                    guard let v = value() else { return nil }
                    a.append(v)
                    space()
                    guard i < bytes.count else { return nil }
                    if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                    if bytes[i] == UInt8(ascii: "]") { i += 1; return .array(a) }
                    return nil
                }
            case UInt8(ascii: "\""):
                // The string's extent, then Foundation decodes its escapes.
                let start = i
                i += 1
                while i < bytes.count, bytes[i] != UInt8(ascii: "\"") { i += bytes[i] == UInt8(ascii: "\\") ? 2 : 1 }
                guard i < bytes.count else { return nil }
                i += 1
                guard let s = try? JSONSerialization.jsonObject(with: Data(bytes[start..<i]), options: .fragmentsAllowed) as? String else { return nil }
                return .string(s)
            case UInt8(ascii: "t"): return literal("true", .bool(true))
            case UInt8(ascii: "f"): return literal("false", .bool(false))
            case UInt8(ascii: "n"): return literal("null", .null)
            default:
                let start = i
                while i < bytes.count, "+-0123456789.eE".utf8.contains(bytes[i]) { i += 1 }
                guard i > start, let text = String(bytes: bytes[start..<i], encoding: .utf8) else { return nil }
                if text.allSatisfy({ $0.isNumber || $0 == "-" }), Int(text) != nil { return .int(text) }
                return Double(text).map { .double($0) }
            }
        }

        mutating func literal(_ word: String, _ v: PythonJSON) -> PythonJSON? {
            let w = Array(word.utf8)
            guard i + w.count <= bytes.count, Array(bytes[i..<i + w.count]) == w else { return nil }
            i += w.count
            return v
        }
    }
}
