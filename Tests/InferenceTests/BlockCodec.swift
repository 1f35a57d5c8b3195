import GGUF

/// Writes and reads weight rows in the kernels' element and block types, so
/// tiny models can be stored in every type the CPU device takes.
///
/// Written from the block layouts in `Kernels/CPU/include/asth_kernels.h`
/// (ggml's Q4_0, Q4_1 and Q8_0), not from the kernels: the forward test
/// reads the weights back through `dequantize` rather than through the code
/// under test. The quantizers follow ggml's reference rounding
/// (`quantize_row_q*_ref`); any rounding would do, since the reference pass
/// starts from what `dequantize` gives back.
enum BlockCodec {
    /// Elements per quant block.
    static let blockElements = 32

    /// The types tiny models are built in.
    static let types: [GGMLType] = [.f32, .f16, .q8_0, .q4_0, .q4_1]

    /// `values` (a whole number of blocks for the quant types) as stored bytes.
    static func encode(_ values: [Float], as type: GGMLType) -> [UInt8] {
        var out: [UInt8] = []
        switch type {
        case .f32:
            for value in values { appendLittleEndian(value.bitPattern, to: &out) }
        case .f16:
            for value in values { appendLittleEndian(Float16(value).bitPattern, to: &out) }
        case .q8_0, .q4_0, .q4_1:
            precondition(values.count % blockElements == 0, "\(values.count) is not whole blocks")
            for start in stride(from: 0, to: values.count, by: blockElements) {
                let block = Array(values[start..<start + blockElements])
                out += encodeBlock(block, as: type)
            }
        default:
            preconditionFailure("BlockCodec: no encoder for \(type.name)")
        }
        return out
    }

    /// The floats that `bytes` of `type` stand for.
    static func decode(_ bytes: [UInt8], as type: GGMLType, count: Int) -> [Float] {
        switch type {
        case .f32:
            return (0..<count).map { Float(bitPattern: readUInt32(bytes, at: 4 * $0)) }
        case .f16:
            return (0..<count).map { Float(Float16(bitPattern: readUInt16(bytes, at: 2 * $0))) }
        case .q8_0, .q4_0, .q4_1:
            let blockBytes = type.blockBytes
            return (0..<count / blockElements).flatMap { block in
                decodeBlock(Array(bytes[block * blockBytes..<(block + 1) * blockBytes]), as: type)
            }
        default:
            preconditionFailure("BlockCodec: no decoder for \(type.name)")
        }
    }

    // MARK: One block

    /// Q8_0: d = max|x| / 127, q = round(x / d); 34 bytes = fp16 d, 32 × int8.
    /// Q4_0: d = x_maxabs / −8, q = min(15, trunc(x / d + 8.5)); 18 bytes.
    /// Q4_1: d = (max − min) / 15, m = min, q = min(15, trunc((x − m) / d + 0.5)); 20 bytes.
    private static func encodeBlock(_ x: [Float], as type: GGMLType) -> [UInt8] {
        var out: [UInt8] = []
        switch type {
        case .q8_0:
            let amax = x.map(abs).max()!
            let d = amax / 127
            let inverse: Float = d != 0 ? 1 / d : 0
            appendLittleEndian(Float16(d).bitPattern, to: &out)
            out += x.map { UInt8(bitPattern: Int8(($0 * inverse).rounded())) }
        case .q4_0:
            let extreme = x.max { abs($0) < abs($1) }!
            let d = extreme / -8
            let inverse: Float = d != 0 ? 1 / d : 0
            appendLittleEndian(Float16(d).bitPattern, to: &out)
            out += packNibbles(x.map { min(15, Int($0 * inverse + 8.5)) })
        case .q4_1:
            let (low, high) = (x.min()!, x.max()!)
            let d = (high - low) / 15
            let inverse: Float = d != 0 ? 1 / d : 0
            appendLittleEndian(Float16(d).bitPattern, to: &out)
            appendLittleEndian(Float16(low).bitPattern, to: &out)
            out += packNibbles(x.map { min(15, Int(($0 - low) * inverse + 0.5)) })
        default:
            preconditionFailure("BlockCodec: \(type.name) is not a block type")
        }
        return out
    }

    /// The 32 floats of one block: w = q·d (Q8_0), (q − 8)·d (Q4_0), q·d + m (Q4_1).
    private static func decodeBlock(_ block: [UInt8], as type: GGMLType) -> [Float] {
        let d = Float(Float16(bitPattern: readUInt16(block, at: 0)))
        switch type {
        case .q8_0:
            return block[2..<34].map { Float(Int8(bitPattern: $0)) * d }
        case .q4_0:
            return unpackNibbles(Array(block[2..<18])).map { Float($0 - 8) * d }
        case .q4_1:
            let m = Float(Float16(bitPattern: readUInt16(block, at: 2)))
            return unpackNibbles(Array(block[4..<20])).map { Float($0) * d + m }
        default:
            preconditionFailure("BlockCodec: \(type.name) is not a block type")
        }
    }

    /// 32 values in 0...15 as 16 bytes: element j < 16 in the low nibble of
    /// byte j, element j ≥ 16 in the high nibble of byte j − 16.
    private static func packNibbles(_ q: [Int]) -> [UInt8] {
        (0..<16).map { UInt8(q[$0] | q[$0 + 16] << 4) }
    }

    /// The inverse of `packNibbles`.
    private static func unpackNibbles(_ bytes: [UInt8]) -> [Int] {
        bytes.map { Int($0 & 0x0f) } + bytes.map { Int($0 >> 4) }
    }

    // MARK: Bytes

    private static func appendLittleEndian<T: FixedWidthInteger>(_ value: T, to out: inout [UInt8])
    {
        withUnsafeBytes(of: value.littleEndian) { out += $0 }
    }

    private static func readUInt16(_ bytes: [UInt8], at offset: Int) -> UInt16 {
        UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8
    }

    private static func readUInt32(_ bytes: [UInt8], at offset: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[offset + $1]) << (8 * $1) }
    }
}
