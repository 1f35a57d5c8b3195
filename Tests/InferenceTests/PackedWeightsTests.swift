import CPUKernels
import GGUF
import Inference
import Testing

/// Weights packed into panels at load give the logits of the file's
/// layout, bit for bit, with whichever kernel variant the process runs
/// (`ASTH_KERNELS`); only the quantized matrices are packed, never the
/// token embedding, which lookups read row by row.
@Suite struct PackedWeightsTests {
    /// Quantized tiny models, untied and tied (the head then packs the
    /// embedding's rows while lookups keep reading the file's); the
    /// vocabulary of 96 rows and 32-wide K/V leave panels short or whole.
    static let cases: [(GGMLType, Bool)] = [
        (.q4_0, false), (.q4_1, false), (.q8_0, false), (.q4_1, true), (.q8_0, true),
    ]

    @Test(arguments: cases)
    func tinyModelLogitsMatchFileLayout(type: GGMLType, tied: Bool) throws {
        var shape = TinyShape()
        shape.tiedOutput = tied
        let model = try TinyLlama.shared(shape: shape, type: type)
        let packed = try LlamaWeights(gguf: model.gguf, config: model.config, packing: true)
        let plain = try LlamaWeights(gguf: model.gguf, config: model.config, packing: false)
        #expect(packed.isPacked && !plain.isPacked)
        #expect(packed.output.isPacked && packed.layers[0].down.isPacked)
        #expect(!packed.tokenEmbedding.isPacked && !plain.output.isPacked)

        let tokens = model.randomTokens(12, seed: 3)
        let expected = try CPUDevice(config: model.config, weights: plain, threads: 1)
            .teacherForced(tokens)
        for threads in [1, 3] {
            let got = try CPUDevice(config: model.config, weights: packed, threads: threads)
                .teacherForced(tokens)
            #expect(bitPatterns(got) == bitPatterns(expected), "\(type) tied=\(tied) \(threads)")
        }
    }

    /// The real model: the output head (tied to the Q8_0 embedding) and
    /// every block's matrices packed; a prompt's logits and a few decode
    /// steps equal the file layout's.
    @Test func realModelLogitsMatchFileLayout() throws {
        let gguf = TestModel.gguf
        let config = try LlamaConfig(gguf: gguf)
        let packed = try LlamaWeights(gguf: gguf, config: config, packing: true)
        let plain = try LlamaWeights(gguf: gguf, config: config, packing: false)
        #expect(packed.output.type == ASTH_TYPE_Q8_0_PANELS)
        #expect(packed.tokenEmbedding.type == ASTH_TYPE_Q8_0)
        #expect(packed.layers[0].gate.type == ASTH_TYPE_Q4_1_PANELS)

        let prompt = [1, 9690, 198, 2683, 359, 253, 5356, 5646]
        var results: [[[UInt32]]] = []
        for weights in [plain, packed] {
            let device = CPUDevice(config: config, weights: weights, threads: 2)
            var logits = try device.teacherForced(prompt)
            let cache = device.makeCache(capacity: 32)
            for (position, token) in prompt.enumerated() {
                let row = BatchRow(
                    cache: cache, position: position, token: token, wantsLogits: true,
                    decodes: true)
                logits.append(try device.dispatch([row]).copy(0))
            }
            results.append(bitPatterns(logits))
        }
        #expect(results[0] == results[1])
    }

    private func bitPatterns(_ rows: [[Float]]) -> [[UInt32]] {
        rows.map { $0.map(\.bitPattern) }
    }
}
