import Inference

/// One generation running on an engine: its KV cache, what it still has to
/// feed, and its sampler.
///
/// This is the per-sequence step of the scheduler's loop, and its seam:
/// `rows(limit:)` says what the sequence puts in the next dispatch and
/// `consume(_:row:now:)` takes that dispatch's logits back. A speculative
/// decoder slots in here by proposing draft rows and verifying them.
final class EngineSequence {
    let job: Job
    let cache: KVCache
    /// Ids whose keys and values are in the cache, in position order.
    private(set) var ids: [Int]
    /// Prompt ids not yet in the cache.
    private var pending: [Int]
    /// The sampled token to feed next while decoding.
    private var next: Int?
    /// The ids so far, prompt included, for the repetition penalty.
    private var history: [Int]
    private var sampler: Sampler
    /// Rows of the dispatch in flight.
    private var inFlight = 0

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

    /// The rows this sequence puts in the next dispatch: up to `limit`
    /// prompt positions while prefilling, else its one decode row.
    func rows(limit: Int) -> [BatchRow] {
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
        guard let next else { preconditionFailure("a decoding sequence without a token") }
        inFlight = 1
        return [BatchRow(cache: cache, position: ids.count, token: next, wantsLogits: true)]
    }

    /// Takes the dispatch's result: `row` is the logits row of this
    /// sequence's last row, nil when it asked for none (mid-prefill).
    /// Returns the token it produced, if any.
    func consume(_ logits: Logits, row: Int?, now: Duration) -> Int? {
        stats.dispatches += 1
        if !pending.isEmpty {
            ids += pending.prefix(inFlight)
            pending.removeFirst(inFlight)
        } else if let next {
            ids.append(next)
            self.next = nil
        }
        inFlight = 0
        guard let row else { return nil }
        return sample(logits.row(row), now: now)
    }

    /// Samples the next token, deciding whether the generation goes on
    /// (the same rules as `Generator`).
    private func sample(_ logits: UnsafeBufferPointer<Float>, now: Duration) -> Int? {
        let token = sampler.sample(logits, history: history)
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
        } else if ids.count >= cache.capacity {
            end(.contextFull, now: now)
        } else {
            next = token
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
