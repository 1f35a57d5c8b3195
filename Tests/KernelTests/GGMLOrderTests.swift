import CPUKernels
import Foundation
import Testing

/// Outputs of single ggml CPU ops from the llama.cpp build our reference
/// reproduces, on inputs the fixture holds (Tests/Fixtures/README.md).
struct GGMLOpVectors: Decodable {
    struct Softmax: Decodable {
        let x: [Float]
        let y: [Float]
    }

    struct SwiGLU: Decodable {
        let g: [Float]
        let u: [Float]
        let y: [Float]
    }

    struct RMSNorm: Decodable {
        let eps: Float
        let x: [Float]
        let y: [Float]
    }

    struct Rope: Decodable {
        let freq_base: Float
        let heads: Int
        let head_dim: Int
        let rope_dims: Int
        let pos: Int
        let x: [Float]
        let y: [Float]
    }

    struct Matmul: Decodable {
        let type: UInt32
        let n_in: Int
        let n_out: Int
        let batch: Int
        let w_hex: String
        let x: [Float]
        let y: [Float]

        /// The weight bytes, in ggml's layout for `type`.
        var weightBytes: [UInt8] {
            let digits = Array(w_hex.utf8)
            return stride(from: 0, to: digits.count, by: 2).map {
                UInt8(String(decoding: digits[$0..<$0 + 2], as: UTF8.self), radix: 16)!
            }
        }
    }

    let softmax: [Softmax]
    let swiglu: [SwiGLU]
    let rms_norm: [RMSNorm]
    let rope: [Rope]
    let matmul: [Matmul]

    static let shared: GGMLOpVectors = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../Fixtures/ggml-ops.llamacpp.json")
        let data = try! Data(contentsOf: url)
        return try! JSONDecoder().decode(GGMLOpVectors.self, from: data)
    }()
}

/// Elements whose bits differ between two equally long float arrays.
func bitDifferences(_ a: [Float], _ b: [Float]) -> Int {
    precondition(a.count == b.count, "lengths differ: \(a.count) vs \(b.count)")
    return zip(a, b).filter { $0.bitPattern != $1.bitPattern }.count
}

/// The scalar reference reproduces ggml's float operations bit for bit
/// (Kernels/CPU/NUMERICS.md), including the tails and sizes the default
/// model never reaches. A SIMD variant joins these tests once it follows
/// the same order.
@Suite struct GGMLOrderTests {
    static let vectors = GGMLOpVectors.shared

    @Test(arguments: vectors.softmax.indices)
    func softmax(index: Int) {
        let case_ = Self.vectors.softmax[index]
        var x = case_.x
        scalar.softmax(&x, Int64(x.count))
        #expect(bitDifferences(x, case_.y) == 0, "n=\(x.count)")
    }

    @Test(arguments: vectors.swiglu.indices)
    func swiglu(index: Int) {
        let case_ = Self.vectors.swiglu[index]
        var out = [Float](repeating: .nan, count: case_.g.count)
        scalar.silu_mul(case_.g, case_.u, &out, Int64(out.count))
        #expect(bitDifferences(out, case_.y) == 0, "n=\(out.count)")
    }

    @Test(arguments: vectors.rms_norm.indices)
    func rmsNorm(index: Int) {
        let case_ = Self.vectors.rms_norm[index]
        let ones = [Float](repeating: 1, count: case_.x.count)
        var out = [Float](repeating: .nan, count: case_.x.count)
        scalar.rmsnorm(case_.x, ones, &out, Int64(out.count), case_.eps)
        #expect(bitDifferences(out, case_.y) == 0, "n=\(out.count)")
    }

    @Test(arguments: vectors.rope.indices)
    func rope(index: Int) {
        let case_ = Self.vectors.rope[index]
        var x = case_.x
        scalar.rope_norm(
            &x, Int64(case_.heads), Int64(case_.head_dim), Int64(case_.rope_dims),
            Int64(case_.pos), case_.freq_base)
        #expect(bitDifferences(x, case_.y) == 0, "pos=\(case_.pos)")
    }

    @Test(arguments: vectors.matmul.indices)
    func matmul(index: Int) {
        let case_ = Self.vectors.matmul[index]
        let type = asth_type(rawValue: case_.type)
        let weights = case_.weightBytes
        var out = [Float](repeating: .nan, count: case_.batch * case_.n_out)
        let label = "type=\(case_.type) n_in=\(case_.n_in) batch=\(case_.batch)"
        #expect(weights.count == asth_row_bytes(type, Int64(case_.n_in)) * case_.n_out, "\(label)")

        // Float weights take float rows; quantized weights take q8a blocks.
        if type == ASTH_TYPE_F32 || type == ASTH_TYPE_F16 {
            scalar.matmul(
                type, weights, Int64(case_.n_in), 0, Int64(case_.n_out), case_.x,
                Int64(case_.n_in * 4), Int64(case_.batch), &out, Int64(case_.n_out))
        } else {
            let blocks = case_.n_in / Int(ASTH_QK)
            var xq = [asth_block_q8a](repeating: asth_block_q8a(), count: case_.batch * blocks)
            for b in 0..<case_.batch {
                let row = Array(case_.x[b * case_.n_in..<(b + 1) * case_.n_in])
                xq.withUnsafeMutableBufferPointer {
                    scalar.quantize_row_q8a(row, $0.baseAddress! + b * blocks, Int64(case_.n_in))
                }
            }
            scalar.matmul(
                type, weights, Int64(case_.n_in), 0, Int64(case_.n_out), xq,
                Int64(blocks * q8aBlockBytes), Int64(case_.batch), &out, Int64(case_.n_out))
        }
        #expect(bitDifferences(out, case_.y) == 0, "\(label)")
    }
}
