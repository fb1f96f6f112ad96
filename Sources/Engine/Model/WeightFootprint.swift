import Foundation

/// What a model's weights take in memory as f32 and as stored (compact), read from the file's
/// tensor table before anything is loaded.
public struct WeightFootprint: Equatable {
    /// Bytes of every weight dequantised to f32 (4 per parameter).
    public let f32Bytes: Int
    /// Bytes of the weights kept as the file stores them (f32 tensors stay f32).
    public let compactBytes: Int
    /// Bytes with every matrix in bf16 (2 per parameter) and vectors in f32.
    public let bf16Bytes: Int

    public init(f32Bytes: Int, compactBytes: Int, bf16Bytes: Int? = nil) {
        self.f32Bytes = f32Bytes; self.compactBytes = compactBytes; self.bf16Bytes = bf16Bytes ?? f32Bytes / 2
    }

    public init(gguf g: GGUFFile) {
        var f = 0, c = 0, h = 0
        for t in g.tensors.values {
            f += t.elementCount * 4; c += t.type == .f32 ? t.elementCount * 4 : t.byteCount
            h += t.elementCount * (WeightFootprint.isMatrix(t.name, t.shape) ? 2 : 4)
        }
        self.init(f32Bytes: f, compactBytes: c, bf16Bytes: h)
    }

    public init(safetensors w: SafetensorsWeights) {
        var f = 0, c = 0, h = 0
        for file in w.files {
            for (name, e) in file.entries {
                let n = e.shape.reduce(1, *); f += n * 4; c += e.end - e.start
                h += n * (WeightFootprint.isMatrix(name, e.shape) ? 2 : 4)
            }
        }
        self.init(f32Bytes: f, compactBytes: c, bf16Bytes: h)
    }

    /// A weight matrix, kept in bf16 by `precision=bf16`: two dimensions above 1, and not a learned
    /// position table (added to the residual stream in f32).
    static func isMatrix(_ name: String, _ shape: [Int]) -> Bool {
        shape.filter { $0 > 1 }.count >= 2 && !name.contains("position") && !name.hasSuffix("wpe.weight")
    }

    /// Bytes in `mode`.
    public func bytes(_ mode: WeightMode) -> Int {
        switch mode { case .f32: return f32Bytes; case .compact: return compactBytes; case .bf16: return bf16Bytes }
    }

    /// f32 weights are chosen automatically when they and the work beside them (activations, caches:
    /// counted as a fifth of the weights, the f32 RSS target) fit the budget.
    public static let workShare = 0.2

    /// The mode `auto` picks under `budget` bytes, and why, in words.
    public func automatic(budget: Int) -> (WeightMode, String) {
        let need = Int(Double(f32Bytes) * (1 + WeightFootprint.workShare))
        if need <= budget {
            return (.f32, "f32 weights and their work (\(gb(need))) fit the memory budget (\(gb(budget)))")
        }
        return (.compact, "f32 weights and their work (\(gb(need))) exceed the memory budget (\(gb(budget))); kept as stored, \(gb(compactBytes))")
    }
}

/// "1.98 GB"
public func gb(_ bytes: Int) -> String { String(format: "%.2f GB", Double(bytes) / 1e9) }

/// The machine's memory as Linux reports it.
public enum SystemMemory {
    /// MemAvailable from /proc/meminfo (what can be allocated without swapping), in bytes.
    public static func availableBytes() -> Int? { meminfo("MemAvailable:") }

    static func meminfo(_ key: String) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(key) {
            let parts = line.split(separator: " ")
            if parts.count >= 2, let kb = Int(parts[1]) { return kb * 1024 }
        }
        return nil
    }
}
