import Engine

/// Result of `generate`: the prompt and its greedy continuation.
public struct GenerationResult: CommandResult {
    public let prompt: String
    public let text: String
    public let tokens: Int
    /// Why it ended: a stop sequence, EOS or max_tokens.
    public let stop: String
    public let seconds: Double
    public var kind: String { "generate" }
    public var display: String { text }
    public var json: [String: Any] {
        ["kind": "generate", "prompt": prompt, "text": text, "tokens": tokens, "stop": stop, "seconds": seconds]
    }
}
