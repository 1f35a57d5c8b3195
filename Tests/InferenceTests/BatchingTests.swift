import GGUF
import Inference
import Testing

/// One dispatch carrying many rows gives each row what it would get alone.
///
/// Rows are independent in the device: activations are quantized row by
/// row, and the kernels accumulate every output in the same order whatever
/// the batch size, row range or thread count. So the comparisons here are
/// bit for bit (`==` on the floats), not within a tolerance.
@Suite("Batching: rows of one dispatch are independent")
struct BatchingTests {
    /// Sequences decoded side by side.
    static let sequenceCount = 8
    /// Greedy tokens decoded after each prompt.
    static let decodeSteps = 6

    /// The tokens and the logits behind each, from the prompt's last row on:
    /// [decodeSteps] tokens and [decodeSteps][vocabulary] logits.
    struct Decoded: Equatable {
        var tokens: [Int] = []
        var logits: [[Float]] = []
    }

    /// Eight prompts of 3 to 10 tokens, all different.
    static func prompts(_ model: TinyLlama) -> [[Int]] {
        (0..<sequenceCount).map { i in model.randomTokens(3 + i, seed: 100 + UInt64(i)) }
    }

    @Test(
        "8 sequences in one dispatch per step decode as each does alone",
        arguments: BlockCodec.types)
    func eightTogether(type: GGMLType) throws {
        let model = try TinyLlama.shared(type: type)
        let prompts = Self.prompts(model)
        let alone = try prompts.map { try decodeAlone($0, device: model.device()) }
        let together = try decodeTogether(prompts, device: model.device())

        #expect(together == alone)
        let distinct = Set(alone.map(\.tokens))
        #expect(distinct.count > 1, "the prompts should not all decode alike")
    }

    @Test(
        "a prefill chunk of N rows equals N single-row dispatches",
        arguments: BlockCodec.types, [TinyShape(), ForwardTests.wide])
    func chunkEqualsSingles(type: GGMLType, shape: TinyShape) throws {
        let model = try TinyLlama.shared(shape: shape, type: type)
        let tokens = model.randomTokens(20, seed: 5)
        let device = model.device()
        let chunked = try device.teacherForced(tokens)

        // The same positions one dispatch each, on a cache of their own.
        let cache = device.makeCache(capacity: 64)
        var singles: [[Float]] = []
        for (position, token) in tokens.enumerated() {
            let row = BatchRow(cache: cache, position: position, token: token, wantsLogits: true)
            singles.append(try device.dispatch([row]).copy(0))
        }

        #expect(chunked == singles)
    }

    /// A cache first holds other tokens at the same positions, then is cut
    /// back: a device that attended before writing the batch's own keys
    /// would read the stale ones.
    @Test("a row sees the earlier rows of its sequence in the same batch")
    func seesEarlierRows() throws {
        let model = try TinyLlama.shared(type: .q8_0)
        let device = model.device()
        let tokens = model.randomTokens(6, seed: 21)
        let stale = model.randomTokens(6, seed: 22)
        let fresh = try device.teacherForced(tokens)

        // Stale keys at positions 0..<6, forgotten, then overwritten in one batch.
        let cache = device.makeCache(capacity: 64)
        _ = try device.dispatch(rows(stale, cache: cache))
        cache.truncate(to: 0)
        let logits = try device.dispatch(rows(tokens, cache: cache))
        let reused = (0..<logits.rowCount).map(logits.copy)

        #expect(reused == fresh)
        #expect(try device.teacherForced(stale).last != fresh.last, "stale tokens must matter")
    }

    @Test("the thread count does not change a logit", arguments: [GGMLType.f32, .q4_1])
    func threadsAgree(type: GGMLType) throws {
        let model = try TinyLlama.shared(type: type)
        let tokens = model.randomTokens(12, seed: 9)
        let one = try model.device(threads: 1).teacherForced(tokens)
        let three = try model.device(threads: 3).teacherForced(tokens)
        #expect(one == three)
    }

    // MARK: Decoding

    /// Greedy decoding of one prompt: a prefill dispatch, then one per token.
    private func decodeAlone(_ prompt: [Int], device: CPUDevice) throws -> Decoded {
        let cache = device.makeCache(capacity: 64)
        var decoded = Decoded()
        var logits = try device.dispatch(rows(prompt, cache: cache, logitsAtEndOnly: true)).copy(0)
        for step in 0..<Self.decodeSteps {
            let token = argmax(logits)
            decoded.tokens.append(token)
            decoded.logits.append(logits)
            let row = BatchRow(
                cache: cache, position: prompt.count + step, token: token, wantsLogits: true)
            logits = try device.dispatch([row]).copy(0)
        }
        return decoded
    }

    /// Greedy decoding of every prompt at once: one prefill dispatch with
    /// the prompts' rows interleaved, then one dispatch per step with a row
    /// from each sequence.
    private func decodeTogether(_ prompts: [[Int]], device: CPUDevice) throws -> [Decoded] {
        let caches = prompts.map { _ in device.makeCache(capacity: 64) }
        var decoded = [Decoded](repeating: Decoded(), count: prompts.count)

        // Prefill, round robin: row j of every prompt, then row j + 1.
        var batch: [BatchRow] = []
        var owners: [Int] = []  // the sequence of each row wanting logits, in batch order
        for position in 0..<prompts.map(\.count).max()! {
            for (s, prompt) in prompts.enumerated() where position < prompt.count {
                let last = position == prompt.count - 1
                batch.append(
                    BatchRow(
                        cache: caches[s], position: position, token: prompt[position],
                        wantsLogits: last))
                if last { owners.append(s) }
            }
        }
        let prefill = try device.dispatch(batch)
        var logits = [[Float]](repeating: [], count: prompts.count)
        for (slot, s) in owners.enumerated() {
            logits[s] = prefill.copy(slot)
        }

        // Decode: one row per sequence per dispatch.
        for step in 0..<Self.decodeSteps {
            let rows = prompts.indices.map { s in
                let token = argmax(logits[s])
                decoded[s].tokens.append(token)
                decoded[s].logits.append(logits[s])
                return BatchRow(
                    cache: caches[s], position: prompts[s].count + step, token: token,
                    wantsLogits: true)
            }
            let out = try device.dispatch(rows)
            logits = prompts.indices.map(out.copy)
        }
        return decoded
    }

    /// Rows for `tokens` from position 0 of `cache`.
    private func rows(_ tokens: [Int], cache: KVCache, logitsAtEndOnly: Bool = false)
        -> [BatchRow]
    {
        tokens.enumerated().map { position, token in
            BatchRow(
                cache: cache, position: position, token: token,
                wantsLogits: !logitsAtEndOnly || position == tokens.count - 1)
        }
    }

    /// The first index of the largest value.
    private func argmax(_ values: [Float]) -> Int {
        values.indices.reduce(0) { values[$1] > values[$0] ? $1 : $0 }
    }
}
