import Inference

/// One generation running on an engine: its KV cache, what it still has to
/// feed, and its sampler.
///
/// This is the per-sequence step of the scheduler's loop, and its seam:
/// `rows(limit:draftsMax:)` says what the sequence puts in the next
/// dispatch and `consume(_:firstRow:now:verifyTime:)` takes that dispatch's
/// logits back. A job that speculates prefills and picks its first token
/// as a plain one does, then hands its cache and sampler to a
/// `SpeculativeDecoder`, which proposes the pending token and its drafts as
/// rows and verifies them when the logits come back.
final class EngineSequence {
    let job: Job
    let cache: KVCache
    /// Ids whose keys and values are in the cache, in position order.
    private(set) var ids: [Int]
    /// Prompt ids not yet in the cache.
    private var pending: [Int]
    /// The sampled token to feed next while decoding plainly.
    private var next: Int?
    /// The ids so far, prompt included, for the repetition penalty.
    private var history: [Int]
    private var sampler: Sampler
    /// Rows of the dispatch in flight, and whether the decoder made them.
    private var inFlight = 0
    private var inFlightSpeculates = false
    /// Drafts and verifies once the first token is chosen; nil for a
    /// job that does not speculate, and until then.
    private(set) var decoder: SpeculativeDecoder?
    /// What the last dispatch verified; nil when it drafted nothing.
    private(set) var lastStep: SpeculationStep?

    var stats = GenerationStats()
    /// Device seconds attributed to this sequence's rows.
    var deviceSeconds = 0.0
    /// The dispatch this sequence last rode in.
    var lastDispatch = -1
    /// When it was admitted, on the engine's clock.
    let startedAt: Duration
    /// Set once the generation has ended.
    private(set) var stopReason: StopReason?

    /// A sequence for `job` whose cache already holds `ids` (a kept
    /// conversation or a copied persona prefix); the rest of the prompt is
    /// prefilled.
    init(job: Job, cache: KVCache, cachedIds ids: [Int], now: Duration) {
        let prompt = job.spec.prompt
        precondition(ids.count < prompt.count, "a cached prefix leaves the last prompt id")
        precondition(Array(prompt.prefix(ids.count)) == ids, "cached ids are not a prefix")
        self.job = job
        self.cache = cache
        self.ids = ids
        self.pending = Array(prompt[ids.count...])
        self.history = prompt
        self.sampler = Sampler(settings: job.spec.sampling)
        self.startedAt = now
        stats.promptTokens = prompt.count
        stats.cachedPromptTokens = ids.count
    }

    var tenant: String { job.spec.tenant }
    var isFinished: Bool { stopReason != nil }
    /// Prompt positions still to compute; 0 once decoding.
    var prefillRows: Int { pending.count }

    /// Whether the job drafts and verifies once it decodes.
    var speculates: Bool { job.spec.speculation != nil }

    /// The rows this sequence puts in the next dispatch: up to `limit`
    /// prompt positions while prefilling, else its decode row, followed by
    /// up to `draftsMax` drafted positions when it speculates, weighed
    /// against the `sharedRows` the other sequences put in the dispatch.
    func rows(limit: Int, draftsMax: Int = 0, sharedRows: Int = 0) -> [BatchRow] {
        precondition(!isFinished && limit > 0, "rows of a finished sequence")
        if !pending.isEmpty {
            let count = min(limit, pending.count)
            inFlight = count
            return (0..<count).map { i in
                BatchRow(
                    cache: cache, position: ids.count + i, token: pending[i],
                    wantsLogits: i == pending.count - 1)
            }
        }
        if let decoder {
            let tokensMax = job.spec.maxTokens - stats.outputTokens
            let rows: [BatchRow]
            do {
                rows = try decoder.rows(
                    tokensMax: tokensMax, rowsMax: 1 + max(draftsMax, 0), sharedRows: sharedRows)
            } catch {
                preconditionFailure("a steady drafter threw: \(error)")
            }
            inFlight = rows.count
            inFlightSpeculates = true
            return rows
        }
        guard let next else { preconditionFailure("a decoding sequence without a token") }
        inFlight = 1
        return [BatchRow(cache: cache, position: ids.count, token: next, wantsLogits: true)]
    }

    /// Takes the dispatch's result: `firstRow` is the logits row of this
    /// sequence's first row that wanted logits, nil when it asked for none
    /// (mid-prefill); `verifyTime` is its rows' share of the dispatch's
    /// device time, nil when unknown (the governor prices the rows itself). Returns the
    /// tokens it produced, in order.
    func consume(_ logits: Logits, firstRow: Int?, now: Duration, verifyTime: Duration? = nil)
        -> [Int]
    {
        stats.dispatches += 1
        lastStep = nil
        if inFlightSpeculates, let decoder, let firstRow {
            inFlightSpeculates = false
            inFlight = 0
            return consumeStep(decoder, logits, firstRow: firstRow, now: now, time: verifyTime)
        }
        if !pending.isEmpty {
            ids += pending.prefix(inFlight)
            pending.removeFirst(inFlight)
        } else if let next {
            ids.append(next)
            self.next = nil
        }
        inFlight = 0
        guard let firstRow else { return [] }
        return sample(logits.row(firstRow), now: now).map { [$0] } ?? []
    }

    /// Verifies a speculative step and hands on its tokens under the same
    /// stop rules as plain decoding; drafts accepted past a stop leave the
    /// cache, which then holds what plain decoding's would.
    private func consumeStep(
        _ decoder: SpeculativeDecoder, _ logits: Logits, firstRow: Int, now: Duration,
        time: Duration?
    ) -> [Int] {
        let step = decoder.consume(logits, firstRow: firstRow, verifyTime: time)
        stats.record(step, draftTime: decoder.lastDraftTime)
        lastStep = step.drafted > 0 ? step : nil

        // The tokens, until a stop.
        var produced: [Int] = []
        for token in step.produced where !isFinished {
            guard let kept = take(token, now: now) else { break }
            produced.append(kept)
        }

        // The cache: the pending token and accepted drafts, less any past a stop.
        let sequence = decoder.sequence
        if isFinished {
            let reply = stats.outputTokens
            let fed = stats.promptTokens + (stopReason == .endOfText ? reply : reply - 1)
            sequence.truncate(to: min(sequence.ids.count, max(fed, 0)))
        } else if sequence.remaining == 0 {
            end(.contextFull, now: now)
        }
        ids = sequence.ids
        return produced
    }

    /// Samples the next token, deciding whether the generation goes on
    /// (the same rules as `Generator`); hands a speculating job to its
    /// decoder once it has its first token.
    private func sample(_ logits: UnsafeBufferPointer<Float>, now: Duration) -> Int? {
        let token = sampler.sample(logits, history: history)
        guard let kept = take(token, now: now) else { return nil }
        if !isFinished && ids.count >= cache.capacity {
            end(.contextFull, now: now)
        }
        guard !isFinished else { return kept }
        if let speculation = job.spec.speculation {
            decoder = SpeculativeDecoder(
                sequence: TokenSequence(cache: cache, holding: ids), history: history,
                sampler: sampler, drafter: speculation.speculator.drafter,
                governor: speculation.speculator.governor, clock: speculation.clock)
            stats.drafter = speculation.speculator.drafter?.name
        } else {
            next = kept
        }
        return kept
    }

    /// Counts a chosen token: nil when it stops the generation (end of
    /// text); ends it when the budget is spent.
    private func take(_ token: Int, now: Duration) -> Int? {
        if stats.outputTokens == 0 {
            stats.timeToFirstToken = now - job.submittedAt
        }
        if job.spec.stopIDs.contains(token) {
            end(.endOfText, now: now)
            return nil
        }
        stats.outputTokens += 1
        history.append(token)
        if stats.outputTokens >= job.spec.maxTokens {
            end(.maxTokens, now: now)
        }
        return token
    }

    /// Ends the generation for `reason`.
    func end(_ reason: StopReason, now: Duration) {
        guard stopReason == nil else { return }
        stopReason = reason
        stats.stopReason = reason
        stats.elapsed = now - startedAt
    }

    /// The result to hand the client.
    var result: JobResult {
        let computed = min(ids.count, stats.promptTokens) - stats.cachedPromptTokens
        return JobResult(
            stats: stats, deviceSeconds: deviceSeconds, promptTokensComputed: max(computed, 0))
    }
}
