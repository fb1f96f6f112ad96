/// ggml tensor element types that the loader can dequantise, with their block geometry.
public enum GGMLType: UInt32, CaseIterable {
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8
    case q4_K = 12, q5_K = 13, q6_K = 14, bf16 = 30

    /// Elements per block.
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16: return 1
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0: return 32
        case .q4_K, .q5_K, .q6_K: return 256
        }
    }

    /// Bytes per block (ggml-common.h block structs).
    public var blockBytes: Int {
        switch self {
        case .f32: return 4
        case .f16, .bf16: return 2
        case .q4_0: return 18    // f16 d, u8 qs[16]
        case .q4_1: return 20    // f16 d, f16 m, u8 qs[16]
        case .q5_0: return 22    // f16 d, u8 qh[4], u8 qs[16]
        case .q5_1: return 24    // f16 d, f16 m, u8 qh[4], u8 qs[16]
        case .q8_0: return 34    // f16 d, i8 qs[32]
        case .q4_K: return 144   // f16 d, f16 dmin, u8 scales[12], u8 qs[128]
        case .q5_K: return 176   // f16 d, f16 dmin, u8 scales[12], u8 qh[32], u8 qs[128]
        case .q6_K: return 210   // u8 ql[128], u8 qh[64], i8 scales[16], f16 d
        }
    }

    public var name: String {
        switch self {
        case .f32: return "F32"; case .f16: return "F16"; case .bf16: return "BF16"
        case .q4_0: return "Q4_0"; case .q4_1: return "Q4_1"; case .q5_0: return "Q5_0"
        case .q5_1: return "Q5_1"; case .q8_0: return "Q8_0"; case .q4_K: return "Q4_K"
        case .q5_K: return "Q5_K"; case .q6_K: return "Q6_K"
        }
    }

    /// Bytes used by `n` elements; nil if `n` is not a whole number of blocks.
    public func byteCount(elements n: Int) -> Int? {
        n % blockSize == 0 ? n / blockSize * blockBytes : nil
    }
}
