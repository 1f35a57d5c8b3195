/// The ggml tensor types Asthenosphere reads, with their quant block shapes.
///
/// A block is the unit a quantised row is cut into: `blockElements` values
/// stored in `blockBytes` bytes. Plain types have one-element blocks. The ids
/// and block sizes follow ggml's `ggml_type` table; ids not listed here are
/// rejected as "unsupported tensor type" when a file is read.
public enum GGMLType: UInt32, Sendable, CaseIterable {
    /// IEEE binary32; block: 1 value, 4 bytes.
    case f32 = 0
    /// IEEE binary16; block: 1 value, 2 bytes.
    case f16 = 1
    /// Block: f16 scale d + 16 bytes of 4-bit quants (32 values, 18 bytes).
    case q4_0 = 2
    /// Block: f16 scale d, f16 min m + 16 bytes of 4-bit quants (32 values, 20 bytes).
    case q4_1 = 3
    /// Block: f16 d + 4 bytes of 5th bits + 16 bytes of low nibbles (32 values, 22 bytes).
    case q5_0 = 6
    /// Block: f16 d, f16 m + 4 bytes of 5th bits + 16 bytes of nibbles (32 values, 24 bytes).
    case q5_1 = 7
    /// Block: f16 scale d + 32 signed bytes (32 values, 34 bytes).
    case q8_0 = 8
    /// bfloat16 (the top half of a binary32); block: 1 value, 2 bytes.
    case bf16 = 30

    /// Values in one block.
    public var blockElements: Int {
        switch self {
        case .f32, .f16, .bf16: return 1
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0: return 32
        }
    }

    /// Bytes of one block.
    public var blockBytes: Int {
        switch self {
        case .f32: return 4
        case .f16, .bf16: return 2
        case .q4_0: return 18
        case .q4_1: return 20
        case .q5_0: return 22
        case .q5_1: return 24
        case .q8_0: return 34
        }
    }

    /// The name ggml and llama.cpp print: "F32", "Q4_1", ...
    public var name: String {
        switch self {
        case .f32: return "F32"
        case .f16: return "F16"
        case .q4_0: return "Q4_0"
        case .q4_1: return "Q4_1"
        case .q5_0: return "Q5_0"
        case .q5_1: return "Q5_1"
        case .q8_0: return "Q8_0"
        case .bf16: return "BF16"
        }
    }
}
