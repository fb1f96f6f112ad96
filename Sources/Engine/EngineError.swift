import Foundation

/// Every failure the engine reports to a user: each case carries what is needed to act on it.
public enum EngineError: Error, CustomStringConvertible, Equatable {
    case fileNotFound(path: String)
    case badMagic(path: String, found: String)
    case truncated(path: String, what: String, offset: Int, fileSize: Int)
    case malformed(path: String, what: String)
    case unsupportedDType(path: String, tensor: String, dtype: String)
    case missingTensor(path: String, tensor: String)
    case shapeMismatch(path: String, tensor: String, expected: [Int], found: [Int])
    case unsupportedArchitecture(String)
    case missingConfig(path: String, key: String)
    case modelNotFound(name: String, lookedIn: [String], hint: String)
    case tokenizer(String)
    case dataset(path: String, line: Int, message: String)
    case unknownTask(String, known: [String])
    case invalidArgument(String)
    case io(path: String, message: String)
    /// A built-in task's file is in none of the data directories searched.
    case dataNotFound(file: String, lookedIn: [String])
    /// A Hugging Face Hub download or lookup failed (what happened and what to do).
    case hub(repo: String, message: String)
    /// The work would not fit in memory: the estimate, what is available, and what would fit.
    case insufficientMemory(String)

    public var description: String {
        switch self {
        case .fileNotFound(let p): return "file not found: \(p)"
        case .badMagic(let p, let f): return "\(p): not a recognised model file (magic \(f))"
        case .truncated(let p, let w, let o, let s):
            return "\(p): file is truncated or corrupt: \(w) at byte \(o) runs past the end of the file (\(s) bytes)"
        case .malformed(let p, let w): return "\(p): malformed file: \(w)"
        case .unsupportedDType(let p, let t, let d): return "\(p): tensor '\(t)' has unsupported dtype \(d)"
        case .missingTensor(let p, let t): return "\(p): expected tensor '\(t)' is missing"
        case .shapeMismatch(let p, let t, let e, let f):
            return "\(p): tensor '\(t)' has shape \(f), expected \(e) from the model config"
        case .unsupportedArchitecture(let a):
            return "unsupported architecture '\(a)' (supported: \(Architectures.supported))"
        case .missingConfig(let p, let k): return "\(p): config is missing '\(k)'"
        case .modelNotFound(let n, let l, let h):
            return "model '\(n)' not found; looked in:\n" + l.map { "  \($0)" }.joined(separator: "\n") + "\n\(h)"
        case .tokenizer(let m): return "tokenizer: \(m)"
        case .dataset(let p, let l, let m): return "\(p):\(l): \(m)"
        case .unknownTask(let t, let k): return "unknown task '\(t)' (known: \(k.joined(separator: ", ")))"
        case .invalidArgument(let m): return m
        case .io(let p, let m): return "\(p): \(m)"
        case .dataNotFound(let f, let dirs): return "\(f): data file not found; looked in:\n" + dirs.map { "  \($0)" }.joined(separator: "\n")
        case .hub(let repo, let m): return "Hugging Face Hub, \(repo): \(m)"
        case .insufficientMemory(let m): return "not enough memory: \(m)"
        }
    }
}
