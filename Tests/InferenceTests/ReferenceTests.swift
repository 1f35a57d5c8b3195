import Inference
import Testing

/// Greedy decoding and logits against llama.cpp on the real model.
@Suite("Reference: llama.cpp on SmolLM2-135M Q4_1")
struct ReferenceTests {
    /// Largest difference allowed between our logits and llama.cpp's. Both
    /// quantize activations the same way; what is left is the order of float
    /// sums (threads, SIMD widths), which moves logits of ~20-35 by a few
    /// hundredths at most.
    static let logitTolerance: Float = 0.05

    @Test("greedy ids equal llama.cpp's", arguments: Reference.shared.greedy.indices)
    func greedy(index: Int) throws {
        let reference = Reference.shared.greedy[index]
        let device = try TestModel.device()
        let sequence = TokenSequence(cache: device.makeCache(capacity: 256))
        var sampler = Sampler(settings: .greedy)
        var ids: [Int] = []
        _ = try Generator(device: device).generate(
            prompt: reference.prompt_ids, on: sequence, maxTokens: 48, sampler: &sampler,
            stopIDs: [2]
        ) { id in
            ids.append(id)
            return true
        }
        #expect(ids == reference.ids)
    }

    @Test("teacher-forced top logits match llama.cpp's within the tolerance")
    func logits() throws {
        let reference = Reference.shared
        let prompt = reference.greedy[0].prompt_ids
        let device = try TestModel.device()
        let cache = device.makeCache(capacity: 64)
        let rows = prompt.enumerated().map { position, token in
            BatchRow(cache: cache, position: position, token: token, wantsLogits: true)
        }
        let logits = try device.dispatch(rows)
        var worst: Float = 0
        for expected in reference.logits {
            let row = logits.row(expected.pos)
            for (id, value) in zip(expected.top_ids, expected.top_logits) {
                worst = max(worst, abs(row[id] - value))
            }
            let top = row.indices.max { row[$0] < row[$1] }!
            #expect(top == expected.top_ids[0], "argmax at position \(expected.pos)")
        }
        #expect(worst <= Self.logitTolerance, "largest logit difference \(worst)")
    }
}
