/// One GGUF metadata value (the 13 value types of GGUF v2/v3).
public enum GGUFValue: Equatable {
    case int(Int64)
    case uint(UInt64)
    case float(Double)
    case bool(Bool)
    case string(String)
    case array([GGUFValue])

    public var int: Int? {
        switch self {
        case .int(let v): return Int(v)
        case .uint(let v): return v <= UInt64(Int.max) ? Int(v) : nil
        case .float(let v): return v.isFinite && v == v.rounded() && abs(v) < 1e18 ? Int(v) : nil
        default: return nil
        }
    }
    public var double: Double? {
        switch self {
        case .int(let v): return Double(v)
        case .uint(let v): return Double(v)
        case .float(let v): return v
        default: return nil
        }
    }
    public var string: String? { if case .string(let s) = self { return s }; return nil }
    public var bool: Bool? { if case .bool(let b) = self { return b }; return nil }
    public var array: [GGUFValue]? { if case .array(let a) = self { return a }; return nil }
}
