import GGUF
import Inference
import Testing

/// The KV cache and the generator on a tiny model: prefix reuse, truncation,
/// the errors at the edges, why a generation stops, and exact statistics.
@Suite("KV cache and the generator")
struct GeneratorTests {
    /// Seeded sampling at temperature 1: varied tokens that still repeat
    /// exactly from run to run.
    static let settings = SamplingSettings(
        temperature: 1, topK: 0, topP: 1, minP: 0, seed: 3)

    /// What one `generate` call did.
    struct Run {
        var ids: [Int] = []
        var stats = GenerationStats()
        var recorder: RecordingDevice
    }

    /// Generates after `prompt` on `sequence` (a fresh one of `capacity`
    /// when nil) through a recording wrapper of `device`.
    static func generate(
        _ prompt: [Int], device: CPUDevice, on sequence: TokenSequence? = nil,
        capacity: Int = 64, maxTokens: Int = 8, stopIDs: Set<Int> = [], prefillChunk: Int = 64,
        cancelAfter: Int? = nil
    ) throws -> Run {
        let sequence = sequence ?? TokenSequence(cache: device.makeCache(capacity: capacity))
        var run = Run(recorder: RecordingDevice(device))
        var sampler = Sampler(settings: settings)
        var ids: [Int] = []
        run.stats = try Generator(device: run.recorder, prefillChunk: prefillChunk).generate(
            prompt: prompt, on: sequence, maxTokens: maxTokens, sampler: &sampler,
            stopIDs: stopIDs
        ) { id in
            ids.append(id)
            return ids.count != cancelAfter
        }
        run.ids = ids
        return run
    }

    // MARK: Prefix reuse

    /// A follow-up prompt, built from the first prompt and its reply.
    struct FollowUp: CustomTestStringConvertible, Sendable {
        let name: String
        let prompt: @Sendable (_ first: [Int], _ reply: [Int]) -> [Int]
        /// Prompt positions the generator should take from the cache.
        let cached: @Sendable (_ first: [Int], _ reply: [Int]) -> Int
        var testDescription: String { name }
    }

    /// The first prompt has 12 tokens and a 4-token reply; the cache then
    /// holds the prompt and the first 3 reply tokens (the last is never fed).
    static let followUps: [FollowUp] = [
        FollowUp(name: "the same prompt", prompt: { p, _ in p }, cached: { p, _ in p.count - 1 }),
        FollowUp(
            name: "the exchange, extended", prompt: { p, r in p + r + [7, 8] },
            cached: { p, r in p.count + r.count - 1 }),
        FollowUp(
            name: "a shared head", prompt: { p, _ in Array(p[..<8]) + [1, 2, 3, 4, 5] },
            cached: { _, _ in 8 }),
        FollowUp(
            name: "a prefix of the cache", prompt: { p, _ in Array(p[..<6]) },
            cached: { _, _ in 5 }),
        FollowUp(
            name: "nothing shared", prompt: { p, _ in [p[0] == 0 ? 1 : 0] + p.dropFirst() },
            cached: { _, _ in 0 }),
    ]

    @Test("a cached prefix gives the logits of a fresh computation", arguments: followUps)
    func prefixReuse(_ followUp: FollowUp) throws {
        let model = try TinyLlama.shared(type: .q4_0)
        let device = model.device()
        let first = model.randomTokens(12, seed: 31)
        let sequence = TokenSequence(cache: device.makeCache(capacity: 64))
        let reply = try Self.generate(first, device: device, on: sequence, maxTokens: 4).ids
        try #require(reply.count == 4 && sequence.ids == first + reply.dropLast())

        // The follow-up on the warm sequence, then on a fresh one.
        let prompt = followUp.prompt(first, reply)
        let warm = try Self.generate(prompt, device: device, on: sequence, maxTokens: 5)
        let cold = try Self.generate(prompt, device: device, maxTokens: 5)

        let cached = followUp.cached(first, reply)
        #expect(warm.stats.cachedPromptTokens == cached)
        #expect(warm.recorder.positions.first?.first == cached)
        #expect(warm.ids == cold.ids)
        #expect(warm.recorder.dispatches.map(\.logits) == cold.recorder.dispatches.map(\.logits))
        #expect(sequence.ids == prompt + warm.ids.dropLast())
    }

    @Test("truncate, then extend with other tokens", arguments: [0, 1, 5, 9])
    func truncateThenExtend(cut: Int) throws {
        let model = try TinyLlama.shared(type: .q8_0)
        let device = model.device()
        let before = model.randomTokens(10, seed: 41)
        let after = model.randomTokens(10, seed: 42)
        let sequence = TokenSequence(cache: device.makeCache(capacity: 64))
        _ = try Self.generate(before, device: device, on: sequence, maxTokens: 1)
        try #require(sequence.ids == before)

        // Cut back, then feed the new tail at the freed positions.
        sequence.truncate(to: cut)
        #expect(sequence.ids == Array(before[..<cut]) && sequence.cache.count == cut)
        let tail = Array(after[cut...])
        let rows = tail.enumerated().map { i, token in
            BatchRow(cache: sequence.cache, position: cut + i, token: token, wantsLogits: true)
        }
        let logits = try device.dispatch(rows)
        let extended = (0..<logits.rowCount).map(logits.copy)

        let fresh = try device.teacherForced(Array(before[..<cut]) + tail)
        #expect(extended == Array(fresh[cut...]))
        #expect(sequence.cache.count == 10)
    }

    // MARK: Errors

    @Test("a prompt longer than the cache throws contextFull before any dispatch")
    func promptTooLong() throws {
        let model = try TinyLlama.shared()
        let prompt = model.randomTokens(20, seed: 51)
        let device = RecordingDevice(model.device())
        let sequence = TokenSequence(cache: device.makeCache(capacity: 16))
        var sampler = Sampler(settings: .greedy)
        #expect(throws: InferenceError.contextFull(positions: 20, capacity: 16)) {
            try Generator(device: device).generate(
                prompt: prompt, on: sequence, maxTokens: 4, sampler: &sampler, stopIDs: []
            ) { _ in true }
        }
        #expect(device.dispatches.isEmpty)
    }

    @Test("a row past the cache throws contextFull", arguments: [1, 8, 40])
    func rowPastCache(capacity: Int) throws {
        let model = try TinyLlama.shared()
        let device = model.device()
        let cache = device.makeCache(capacity: capacity)
        let rows = model.randomTokens(capacity, seed: 52).enumerated().map { position, token in
            BatchRow(cache: cache, position: position, token: token, wantsLogits: false)
        }
        _ = try device.dispatch(rows)
        let past = BatchRow(cache: cache, position: capacity, token: 1, wantsLogits: true)
        #expect(throws: InferenceError.contextFull(positions: capacity + 1, capacity: capacity)) {
            try device.dispatch([past])
        }
        #expect(cache.count == capacity)
    }

    /// A cache may be made longer than the model's trained context; the
    /// device must refuse positions past that context rather than run
    /// attention over more positions than its scratch holds.
    @Test("a position past the model's context throws contextFull")
    func pastModelContext() throws {
        let model = try TinyLlama.shared()
        let context = model.config.contextLength
        let device = model.device()
        let cache = device.makeCache(capacity: 2 * context)
        let tokens = model.randomTokens(context, seed: 53)
        _ = try device.dispatch(
            tokens.enumerated().map { position, token in
                BatchRow(cache: cache, position: position, token: token, wantsLogits: false)
            })
        let past = BatchRow(cache: cache, position: context, token: 1, wantsLogits: true)
        #expect(throws: InferenceError.contextFull(positions: context + 1, capacity: context)) {
            try device.dispatch([past])
        }
    }

    @Test("a token id outside the vocabulary throws tokenOutOfRange", arguments: [-1, 96, 5000])
    func tokenOutOfRange(token: Int) throws {
        let model = try TinyLlama.shared()
        let device = model.device()
        let error = InferenceError.tokenOutOfRange(token: token, vocabularySize: 96)

        // Directly: the whole batch is refused and no cache is written.
        let cache = device.makeCache(capacity: 8)
        let rows = [
            BatchRow(cache: cache, position: 0, token: 3, wantsLogits: false),
            BatchRow(cache: cache, position: 1, token: token, wantsLogits: true),
        ]
        #expect(throws: error) { try device.dispatch(rows) }
        #expect(cache.count == 0)

        // Through the generator.
        #expect(throws: error) {
            try Self.generate([3, 4, token, 5], device: device)
        }
    }

    // MARK: Why a generation stops, and what it counts

    /// One way to end a generation of a 10-token prompt, prefilled in
    /// chunks of 4 (3 dispatches).
    struct Ending: CustomTestStringConvertible, Sendable {
        let name: String
        var maxTokens = 8
        /// Stop at the free run's first new token from this index on.
        var stopFrom: Int?
        var cancelAfter: Int?
        var capacity = 64
        let reason: StopReason
        /// Tokens handed to onToken; nil: the stop index.
        let outputTokens: Int?
        var testDescription: String { name }
    }

    static let promptLength = 10
    static let prefillDispatches = 3

    static let endings: [Ending] = [
        Ending(name: "maxTokens", maxTokens: 5, reason: .maxTokens, outputTokens: 5),
        Ending(name: "maxTokens 1", maxTokens: 1, reason: .maxTokens, outputTokens: 1),
        Ending(name: "a stop id", stopFrom: 2, reason: .endOfText, outputTokens: nil),
        Ending(name: "a stop id first", stopFrom: 0, reason: .endOfText, outputTokens: nil),
        Ending(name: "onToken false", cancelAfter: 3, reason: .cancelled, outputTokens: 3),
        Ending(name: "a full cache", capacity: 13, reason: .contextFull, outputTokens: 4),
        Ending(
            name: "a prompt that fills the cache", capacity: 10, reason: .contextFull,
            outputTokens: 1),
    ]

    @Test("each ending gives its reason and exact counts", arguments: endings)
    func stops(_ ending: Ending) throws {
        let model = try TinyLlama.shared(type: .q4_1)
        let device = model.device()
        let prompt = model.randomTokens(Self.promptLength, seed: 61)
        let free = try Self.generate(prompt, device: device, maxTokens: 8).ids
        try #require(free.count == 8)

        // The stop id: the first token at or after stopFrom not seen before it.
        var stopIDs: Set<Int> = []
        var stopIndex: Int?
        if let from = ending.stopFrom {
            let unseen: Int? = (from..<free.count).first { !free[..<$0].contains(free[$0]) }
            let index: Int = try #require(unseen)
            stopIndex = index
            stopIDs = [free[stopIndex!]]
        }

        let sequence = TokenSequence(cache: device.makeCache(capacity: ending.capacity))
        let run = try Self.generate(
            prompt, device: device, on: sequence, maxTokens: ending.maxTokens, stopIDs: stopIDs,
            prefillChunk: 4, cancelAfter: ending.cancelAfter)

        // The same tokens as the free run, up to the ending.
        let outputs = try #require(ending.outputTokens ?? stopIndex)
        #expect(run.ids == Array(free[..<outputs]))
        #expect(run.stats.stopReason == ending.reason)
        #expect(run.stats.promptTokens == Self.promptLength)
        #expect(run.stats.cachedPromptTokens == 0)
        #expect(run.stats.outputTokens == outputs)

        // Every token handed out was fed back, except the last when nothing
        // more was wanted (a stop id is sampled from the last fed token).
        let fed = ending.reason == .endOfText ? outputs : outputs - 1
        #expect(run.stats.dispatches == Self.prefillDispatches + fed)
        #expect(run.recorder.dispatches.count == run.stats.dispatches)
        #expect(sequence.ids == prompt + run.ids.prefix(fed))
        #expect(run.recorder.positions.prefix(3) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]])
        #expect(run.stats.timeToFirstToken <= run.stats.elapsed)
    }

    @Test("prefill dispatches: only what the cache lacks, in chunks", arguments: [1, 3, 7, 64])
    func prefillChunks(chunk: Int) throws {
        let model = try TinyLlama.shared(type: .f16)
        let device = model.device()
        let prompt = model.randomTokens(20, seed: 71)
        let sequence = TokenSequence(cache: device.makeCache(capacity: 64))
        _ = try Self.generate(Array(prompt[..<9]), device: device, on: sequence, maxTokens: 1)

        let run = try Self.generate(
            prompt, device: device, on: sequence, maxTokens: 3, prefillChunk: chunk)
        let computed = prompt.count - 9
        let chunks = (computed + chunk - 1) / chunk
        #expect(run.stats.cachedPromptTokens == 9)
        #expect(run.stats.dispatches == chunks + 2)
        #expect(run.recorder.positions.prefix(chunks).flatMap { $0 } == Array(9..<20))
        #expect(run.recorder.positions.prefix(chunks).allSatisfy { $0.count <= chunk })
        #expect(run.recorder.positions.dropFirst(chunks) == [[20], [21]])
    }
}
