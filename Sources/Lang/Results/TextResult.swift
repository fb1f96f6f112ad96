/// Plain text kept as a value.
public struct TextResult: CommandResult {
    public let text: String
    public var kind: String { "text" }
    public var display: String { text }
    public var json: [String: Any] { ["kind": "text", "text": text] }
}

/// The result of `load`: which model, and its summary line.
public struct ModelResult: CommandResult {
    public let name: String
    public let summary: String
    public var kind: String { "model" }
    public var display: String { summary }
    public var json: [String: Any] { ["kind": "model", "name": name, "summary": summary] }
}
