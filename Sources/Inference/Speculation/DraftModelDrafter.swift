import Support

/// Drafts with a smaller model that shares the target's vocabulary, on the
/// same kind of device, with its own KV cache.
///
/// Each proposal first brings the draft cache up to the history (the
/// accepted part of the last draft is already there; the rest is rolled
/// back), then runs the draft model one token at a time. It proposes its
/// argmax, a point mass that verification judges by plain decoding's own
/// draw, unless the target samples without a seed: then it draws from its
/// own distribution under the same settings and hands that distribution
/// over as `q`, which the acceptance rule keeps more of. A seeded reply is
/// thus draw for draw the one plain decoding gives.
public final class DraftModelDrafter: Drafter {
    public let name = "draft"
    /// The device the draft model runs on.
    public let device: Device
    /// The draft model's name, for reports.
    public let modelName: String
    private let sequence: TokenSequence
    private var sampler: Sampler
    /// Draws sampled drafts; only unseeded replies sample.
    private var random: SplitMix64
    /// Whether drafts are drawn from `q` (sampling without a seed) rather
    /// than the argmax.
    private let samples: Bool
    /// Most positions one catch-up dispatch carries.
    private let prefillChunk: Int

    /// A drafter on `device` (a draft model's), with a cache of `capacity`
    /// positions and the target's sampling `settings`.
    public init(
        device: Device, modelName: String, capacity: Int, settings: SamplingSettings,
        prefillChunk: Int = 256
    ) {
        precondition(capacity > 0 && prefillChunk > 0, "an empty draft cache")
        self.device = device
        self.modelName = modelName
        self.prefillChunk = prefillChunk
        sequence = TokenSequence(cache: device.makeCache(capacity: capacity))
        sampler = Sampler(settings: settings)
        samples = settings.temperature > 0 && settings.seed == nil
        random = SplitMix64(seed: .random(in: .min ... .max))
    }

    /// A drafter running `draft` for `target`.
    ///
    /// - Throws: `SpeculationError.vocabularyMismatch` when the two models'
    ///   vocabularies differ in size, `.vocabularyDiffers` when they spell
    ///   a token differently.
    public convenience init(
        draft: LanguageModel, target: LanguageModel, capacity: Int, settings: SamplingSettings
    ) throws {
        guard draft.config.vocabularySize == target.config.vocabularySize else {
            throw SpeculationError.vocabularyMismatch(
                draft: draft.name, draftSize: draft.config.vocabularySize, target: target.name,
                targetSize: target.config.vocabularySize)
        }
        if let id = draft.tokenizer.firstDifference(from: target.tokenizer) {
            throw SpeculationError.vocabularyDiffers(
                draft: draft.name, target: target.name, firstID: id)
        }
        self.init(
            device: draft.device, modelName: draft.name,
            capacity: min(capacity, draft.config.contextLength), settings: settings)
    }

    public func propose(after history: [Int], countMax: Int) throws -> Draft {
        // Room for the history and the drafts fed after it.
        let count = min(countMax, sequence.cache.capacity - history.count + 1)
        guard count > 0, !history.isEmpty else { return .none(name) }

        // Catch up: keep the shared prefix, feed the rest.
        var logits = try catchUp(history)

        // Draft one token per dispatch; the last one is not fed.
        var context = history
        var tokens: [Int] = []
        var distributions: [TokenDistribution] = []
        while true {
            let q = sampler.distribution(logits.row(0), history: context)
            let token = samples ? q.draw(unit: random.nextUnit()) : q.ids[0]
            tokens.append(token)
            distributions.append(q)
            context.append(token)
            guard tokens.count < count else { break }
            let row = BatchRow(
                cache: sequence.cache, position: sequence.ids.count, token: token,
                wantsLogits: true)
            logits = try device.dispatch([row])
            sequence.append(token)
        }
        return Draft(tokens: tokens, distributions: samples ? distributions : nil, source: name)
    }

    /// Brings the draft cache to every id of `history` and returns the
    /// logits after the last one.
    private func catchUp(_ history: [Int]) throws -> Logits {
        var shared = 0
        let ids = sequence.ids
        while shared < ids.count && shared < history.count - 1 && ids[shared] == history[shared] {
            shared += 1
        }
        sequence.truncate(to: shared)
        var logits: Logits?
        var start = shared
        while start < history.count {
            let end = min(start + prefillChunk, history.count)
            let rows = (start..<end).map { position in
                BatchRow(
                    cache: sequence.cache, position: position, token: history[position],
                    wantsLogits: position == history.count - 1)
            }
            logits = try device.dispatch(rows)
            for position in start..<end {
                sequence.append(history[position])
            }
            start = end
        }
        return logits!
    }
}
