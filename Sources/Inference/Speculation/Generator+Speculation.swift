import Support

/// What a generator needs to speculate: who drafts and who decides how far.
public struct Speculator {
    /// Proposes the drafts; nil decodes plainly through the same loop.
    public var drafter: Drafter?
    /// The persona's governor: draft length, pauses, the cost record.
    public var governor: SpeculationGovernor

    public init(drafter: Drafter?, governor: SpeculationGovernor) {
        self.drafter = drafter
        self.governor = governor
    }
}

extension Generator {
    private static let log = Log("speculation")

    /// `generate` with drafting: prefill all of the prompt but its last
    /// token, then let a `SpeculativeDecoder` feed that token with the
    /// first drafts, one dispatch per step, until a stop.
    func generate(
        prompt: [Int], on sequence: TokenSequence, maxTokens: Int, sampler: inout Sampler,
        stopIDs: Set<Int>, speculator: Speculator, onToken: (Int) -> Bool
    ) throws -> GenerationStats {
        var stats = GenerationStats()
        stats.promptTokens = prompt.count
        stats.drafter = speculator.drafter?.name
        guard prompt.count <= sequence.cache.capacity else {
            throw InferenceError.contextFull(
                positions: prompt.count, capacity: sequence.cache.capacity)
        }
        let clock = ContinuousClock()
        let start = clock.now

        // Reuse the cached prefix and prefill whole chunks of the rest; the
        // first step carries what is left, the last prompt token and the
        // first drafts, so the dispatch count matches plain decoding's.
        let shared = min(commonPrefix(sequence.ids, prompt), prompt.count - 1)
        sequence.truncate(to: shared)
        stats.cachedPromptTokens = shared
        let chunked = (prompt.count - 1 - shared) / prefillChunk * prefillChunk
        if chunked > 0 {
            _ = try prefill(Array(prompt[shared..<(shared + chunked)]), on: sequence, stats: &stats)
        }

        // Decode: one step per dispatch, its tokens handed out in order.
        let dispatchClock = DispatchClock.for(device)
        let decoder = SpeculativeDecoder(
            sequence: sequence, history: prompt, sampler: sampler, drafter: speculator.drafter,
            governor: speculator.governor, clock: dispatchClock)
        var reply: [Int] = []
        var running = true
        while running && stats.outputTokens < maxTokens {
            guard sequence.remaining > 0 else {
                stats.stopReason = .contextFull
                break
            }
            let step = try dispatchStep(
                decoder, tokensMax: maxTokens - stats.outputTokens, clock: dispatchClock,
                stats: &stats)
            for token in step.produced where running {
                if stats.outputTokens == 0 {
                    stats.timeToFirstToken = clock.now - start
                }
                running = emit(
                    token, stopIDs: stopIDs, maxTokens: maxTokens, stats: &stats, onToken)
                if stats.stopReason != .endOfText {
                    reply.append(token)
                }
            }
        }
        sampler = decoder.sampler
        finish(sequence, prompt: prompt, reply: reply, stats: stats, drafter: speculator.drafter)
        stats.elapsed = clock.now - start
        return stats
    }

    /// Asks the decoder for rows, dispatches them, times the dispatch with
    /// the device's clock and hands the logits back; records the step.
    private func dispatchStep(
        _ decoder: SpeculativeDecoder, tokensMax: Int, clock: DispatchClock,
        stats: inout GenerationStats
    ) throws -> SpeculationStep {
        let carriesPrompt = decoder.unfedCount > 0
        // No more rows than a prefill chunk, as plain decoding would send,
        // unless the chunk is smaller than one full draft.
        let rowsMax = max(prefillChunk, 1 + Limits.Speculation.draftLengthMax)
        let rows = try decoder.rows(tokensMax: tokensMax, rowsMax: rowsMax)
        let start = clock.now()
        let logits = try device.dispatch(rows)
        let elapsed = clock.now() - start
        stats.dispatches += 1
        if !carriesPrompt {
            decoder.governor.costModel.observe(rows: rows.count, elapsed: elapsed)
        }
        let step = decoder.consume(logits, verifyTime: elapsed)
        stats.record(step, draftTime: decoder.lastDraftTime)
        return step
    }

    /// Hands one produced token to the caller, as plain decoding would;
    /// false when the generation ends with it.
    private func emit(
        _ token: Int, stopIDs: Set<Int>, maxTokens: Int, stats: inout GenerationStats,
        _ onToken: (Int) -> Bool
    ) -> Bool {
        if stopIDs.contains(token) {
            stats.stopReason = .endOfText
            return false
        }
        stats.outputTokens += 1
        guard onToken(token) else {
            stats.stopReason = .cancelled
            return false
        }
        return stats.outputTokens < maxTokens
    }

    /// Leaves the cache as plain decoding would have (drafts accepted past
    /// the stop are dropped) and lets the drafter learn from the reply.
    private func finish(
        _ sequence: TokenSequence, prompt: [Int], reply: [Int], stats: GenerationStats,
        drafter: Drafter?
    ) {
        let fed = stats.stopReason == .endOfText ? reply.count : max(reply.count - 1, 0)
        sequence.truncate(to: min(sequence.ids.count, prompt.count + fed))
        do {
            try drafter?.finish(reply: reply, after: prompt)
        } catch {
            // The reply stands; only what the drafter would learn is lost.
            Self.log.warn("finish: drafter failed", ["drafter": drafter!.name, "error": error])
        }
    }
}

extension GenerationStats {
    /// Accepted draft tokens over drafted ones; nil when nothing was drafted.
    public var acceptance: Double? {
        draftedTokens > 0 ? Double(acceptedTokens) / Double(draftedTokens) : nil
    }

    /// Accepted draft tokens per dispatch that verified drafts: how far a
    /// draft runs before the first rejection, on average.
    public var meanAcceptedLength: Double {
        draftingDispatches > 0 ? Double(acceptedTokens) / Double(draftingDispatches) : 0
    }

    /// Acceptance at each draft position (vLLM's per-position rate).
    public var acceptanceByPosition: [Double] {
        zip(acceptedByPosition, draftedByPosition).map { accepted, drafted in
            drafted > 0 ? Double(accepted) / Double(drafted) : 0
        }
    }

    /// Adds one decode dispatch's speculation to the reply's figures.
    public mutating func record(_ step: SpeculationStep, draftTime: Duration) {
        steps.append(step)
        self.draftTime += draftTime
        if step.wasPaused {
            pausedDispatches += 1
        }
        if step.pausedNow {
            speculationPauses += 1
        }
        guard step.drafted > 0 else { return }
        draftingDispatches += 1
        draftedTokens += step.drafted
        acceptedTokens += step.accepted
        while draftedByPosition.count < step.drafted {
            draftedByPosition.append(0)
            acceptedByPosition.append(0)
        }
        for position in 0..<step.drafted {
            draftedByPosition[position] += 1
            if position < step.accepted {
                acceptedByPosition[position] += 1
            }
        }
    }
}
