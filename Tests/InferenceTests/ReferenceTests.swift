import Inference
import Testing

/// Greedy decoding and logits against llama.cpp on the real model.
@Suite("Reference: llama.cpp on SmolLM2-135M Q4_1")
struct ReferenceTests {
    /// Largest difference allowed between our logits and llama.cpp's: none.
    /// The kernels reproduce llama.cpp's float arithmetic op by op
    /// (Kernels/CPU/NUMERICS.md), so any difference is a bug; the network is
    /// chaotic enough that "close" logits still decode differently.
    static let logitTolerance: Float = 0

    /// Decode positions the greedy fixtures reach, for sizing caches.
    static let positionsMax = 256

    @Test("greedy ids equal llama.cpp's", arguments: Reference.shared.greedy.indices)
    func greedy(index: Int) throws {
        let reference = Reference.shared.greedy[index]
        let device = try TestModel.device()
        let sequence = TokenSequence(cache: device.makeCache(capacity: Self.positionsMax))
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

    @Test("teacher-forced top logits equal llama.cpp's")
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

    /// The prompt in one dispatch (llama.cpp's batched order), then one token
    /// per dispatch (its single-token order), feeding llama.cpp's own greedy
    /// ids so every step sees the same context as the fixture's.
    @Test(
        "top logits at every decode step equal llama.cpp's",
        arguments: DecodeReference.shared.decode.indices)
    func decodeLogits(index: Int) throws {
        let run = DecodeReference.shared.decode[index]
        let greedy = Reference.shared.greedy[run.greedy_index]
        let device = try TestModel.device()
        let cache = device.makeCache(capacity: Self.positionsMax)
        let prompt = greedy.prompt_ids
        let rows = prompt.enumerated().map { position, token in
            BatchRow(
                cache: cache, position: position, token: token,
                wantsLogits: position == prompt.count - 1)
        }
        var logits = try device.dispatch(rows)
        for step in run.steps {
            let row = logits.row(0)
            let worst = zip(step.top_ids, step.top_logits).map { abs(row[$0] - $1) }.max()!
            #expect(worst <= Self.logitTolerance, "step \(step.step): difference \(worst)")
            guard step.step < greedy.ids.count - 1 else { break }
            let next = BatchRow(
                cache: cache, position: prompt.count + step.step, token: greedy.ids[step.step],
                wantsLogits: true)
            logits = try device.dispatch([next])
        }
    }
}
