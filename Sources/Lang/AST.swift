/// An argument value as written.
public indirect enum Value: Equatable, CustomStringConvertible {
    case number(Double)
    case string(String)
    case word(String)
    case range(Int, Int)
    case list([Value])

    public var description: String {
        switch self {
        case .number(let d): return d == d.rounded() && abs(d) < 1e15 ? String(Int(d)) : String(d)
        case .string(let s): return "\"\(s)\""
        case .word(let w): return w
        case .range(let a, let b): return "\(a)..\(b)"
        case .list(let l): return l.map { $0.description }.joined(separator: ",")
        }
    }
}

/// `key=value` (key set) or a positional value.
public struct Argument: Equatable {
    public let key: String?
    public let value: Value
    public let location: SourceLocation
    public let valueLocation: SourceLocation
}

/// One statement: `[name =] command args…`.
public struct Statement: Equatable {
    public let assignTo: String?
    public let command: String
    public let commandLocation: SourceLocation
    public let args: [Argument]
    public let location: SourceLocation
    /// The statement's source text (for :save and diagnostics).
    public let text: String

    public func named(_ k: String) -> Argument? { args.last { $0.key == k } }
    public var positional: [Argument] { args.filter { $0.key == nil } }
}
