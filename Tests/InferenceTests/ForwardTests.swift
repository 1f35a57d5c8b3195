import GGUF
import Inference
import Testing

/// The CPU device's llama graph against `NaiveLlama` on tiny random models:
/// every weight type, tied and separate heads, partial RoPE, GQA and MHA.
///
/// Errors are measured relative to the largest |logit| of the reference, so
/// the bounds do not depend on how the fixture scales its weights.
@Suite("Forward pass against a naive reference")
struct ForwardTests {
    /// Positions fed in one teacher-forced dispatch: enough for RoPE to turn
    /// the slow pairs and for attention to spread over many keys.
    static let promptLength = 24

    /// fp16 unit roundoff: 2⁻¹¹ relative.
    static let halfRoundoff = 1.0 / 2048

    /// F32 weights: the device rounds queries, keys, values and attention
    /// probabilities through fp16 as ggml does, each off by at most 2⁻¹¹
    /// relative. Four such roundings bound what we allow (≈ 0.2 %); the
    /// fixtures measure 0.04–0.06 %.
    static let f32Tolerance = 4 * halfRoundoff

    /// F16 weights add one fp16 rounding of every matmul input (ggml's
    /// vec_dot_f16 converts the activations): twice the F32 bound (≈ 0.4 %);
    /// the fixtures measure 0.07–0.09 %.
    static let f16Tolerance = 8 * halfRoundoff

    /// Q8_0, Q4_0 and Q4_1 weights take activations quantized to 8 bits per
    /// 32-element block: each element moves by at most half a step, 1/254 of
    /// its block's largest magnitude. Nine quantized inputs lie on the path
    /// to a logit (Q/K/V, O, gate/up and down in each of two layers, then
    /// the head); we allow each its worst case, 9/254 ≈ 3.5 %. The fixtures
    /// measure 0.9–1.8 %: random rounding errors partly cancel.
    static let quantizedTolerance = 9.0 / 254

    static func tolerance(_ type: GGMLType) -> Double {
        switch type {
        case .f32: return f32Tolerance
        case .f16: return f16Tolerance
        default: return quantizedTolerance
        }
    }

    /// One tiny model to compare.
    struct Case: CustomTestStringConvertible, Sendable {
        let label: String
        let type: GGMLType
        var shape = TinyShape()
        var testDescription: String { "\(type.name) \(label)" }
    }

    static let cases: [Case] =
        BlockCodec.types.map { Case(label: "GQA, separate head", type: $0) }
        + [GGMLType.f32, .q4_1].flatMap { type in
            [
                Case(label: "tied head", type: type, shape: TinyShape(tiedOutput: true)),
                Case(label: "RoPE on 8 of 16", type: type, shape: TinyShape(ropeDimensions: 8)),
                Case(label: "MHA", type: type, shape: TinyShape(kvHeadCount: 4)),
            ]
        }
        + BlockCodec.types.map { Case(label: "wide", type: $0, shape: wide) }

    /// Down rows of 34 quant blocks, past the 32 the SIMD matmul driver
    /// takes per pass, and a head of 100 rows, not a whole number of the
    /// 8- or 16-row panels it repacks; one block keeps it quick.
    static let wide = TinyShape(feedForward: 1_088, blockCount: 1, vocabulary: 100)

    @Test("logits match the reference within the type's tolerance", arguments: cases)
    func matches(_ c: Case) throws {
        let model = try TinyLlama.shared(shape: c.shape, type: c.type)
        let tokens = model.randomTokens(Self.promptLength, seed: 11)
        let device = try model.device().teacherForced(tokens)
        let reference = NaiveLlama(model).logits(tokens)

        #expect(device.count == tokens.count)
        let error = relativeError(device, reference)
        #expect(error <= Self.tolerance(c.type), "relative error \(error)")
    }

    /// Each flaw moves the logits by far more than even the quantized
    /// tolerance, so a device with that flaw fails every case above.
    @Test("a flawed reference is told apart", arguments: NaiveLlama.Flaw.allCases)
    func catchesFlaw(_ flaw: NaiveLlama.Flaw) throws {
        let model = try TinyLlama.shared(type: .f32)
        let tokens = model.randomTokens(Self.promptLength, seed: 11)
        let device = try model.device().teacherForced(tokens)
        let flawed = NaiveLlama(model, flaw: flaw).logits(tokens)

        let error = relativeError(device, flawed)
        #expect(error > 4 * Self.quantizedTolerance, "relative error \(error)")
    }

    /// Largest |device − reference| over every position and token, divided
    /// by the largest |reference|.
    private func relativeError(_ device: [[Float]], _ reference: [[Double]]) -> Double {
        var worst = 0.0
        var scale = 0.0
        for (a, b) in zip(device, reference) {
            for (x, y) in zip(a, b) {
                worst = max(worst, abs(Double(x) - y))
                scale = max(scale, abs(y))
            }
        }
        return worst / scale
    }
}
