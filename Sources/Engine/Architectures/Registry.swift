/// Every architecture aft runs, looked up by Hugging Face `model_type` or GGUF `general.architecture`.
///
/// Adding a family: write its `Architecture` in a file of its own beside this one and list it here.
public enum Architectures {
    public static let all: [Architecture] = [llama, qwen2, gemma3, gptNeoX, phi, gpt2]

    /// The family whose `config.json` says `model_type`, or nil.
    public static func forHF(modelType: String) -> Architecture? { all.first { $0.hfModelTypes.contains(modelType) } }
    /// The family of a GGUF file's `general.architecture`, or nil.
    public static func forGGUF(_ name: String) -> Architecture? { all.first { $0.ggufNames.contains(name) } }
    /// Names for error messages.
    public static var supported: String { all.map { $0.name }.joined(separator: ", ") }
}
