/// One sequence on a device: its KV cache and the ids the cache holds.
public final class TokenSequence: @unchecked Sendable {
    public let cache: KVCache
    /// Ids whose keys and values are in the cache, in position order.
    public private(set) var ids: [Int] = []

    public init(cache: KVCache) {
        self.cache = cache
    }

    /// A sequence over `cache`, which already holds the keys and values of
    /// `ids` (a scheduler that prefilled them itself hands them over).
    public init(cache: KVCache, holding ids: [Int]) {
        precondition(
            ids.count == cache.count && ids.count <= cache.capacity,
            "\(ids.count) ids over a cache of \(cache.count) positions")
        self.cache = cache
        self.ids = ids
    }

    /// Positions the cache can still take.
    public var remaining: Int { cache.capacity - ids.count }

    /// Keeps the first `count` ids (and their cache rows).
    public func truncate(to count: Int) {
        ids.removeLast(ids.count - count)
        cache.truncate(to: count)
    }

    func append(_ id: Int) {
        ids.append(id)
    }
}

/// Why a generation ended.
public enum StopReason: String, Sendable, Codable {
    /// The model produced an end-of-text or end-of-turn token.
    case endOfText = "end"
    /// It reached its token budget.
    case maxTokens = "length"
    /// The caller asked it to stop.
    case cancelled = "cancelled"
    /// The KV cache filled up.
    case contextFull = "context"
}

/// What one generation did, for the reply line, the metrics and the ledger.
public struct GenerationStats: Sendable, Equatable {
    /// Prompt tokens the caller gave.
    public var promptTokens = 0
    /// Of those, how many were already in the cache and not computed again.
    public var cachedPromptTokens = 0
    /// Tokens generated, the stop token excluded.
    public var outputTokens = 0
    /// Round trips to the device.
    public var dispatches = 0
    /// Wall time from the first dispatch to the last token.
    public var elapsed: Duration = .zero
    /// Wall time from the start to the first generated token.
    public var timeToFirstToken: Duration = .zero
    public var stopReason: StopReason = .maxTokens

    // Speculation; all zero when it is off (see `SpeculativeDecoder`).
    /// The drafter in use ("ngram", "memory", "draft", "auto"); nil when off.
    public var drafter: String?
    /// Draft tokens verified, and of those accepted.
    public var draftedTokens = 0
    public var acceptedTokens = 0
    /// Dispatches that verified at least one draft token.
    public var draftingDispatches = 0
    /// Drafts verified and accepted by position in the draft ([0] is the
    /// first drafted token of each dispatch).
    public var draftedByPosition: [Int] = []
    public var acceptedByPosition: [Int] = []
    /// Times the governor switched speculation off during the reply, and
    /// dispatches made while it was off.
    public var speculationPauses = 0
    public var pausedDispatches = 0
    /// Wall time spent drafting, outside the dispatches.
    public var draftTime: Duration = .zero
    /// Each decode dispatch: drafted, accepted, produced.
    public var steps: [SpeculationStep] = []

    public init() {}

    /// Dispatches per second: what plain decoding gives ("tok/s").
    public var dispatchesPerSecond: Double {
        let seconds = elapsed.seconds
        return seconds > 0 ? Double(dispatches) / seconds : 0
    }

    /// Output tokens per second of wall time ("eff tok/s").
    public var tokensPerSecond: Double {
        let seconds = elapsed.seconds
        return seconds > 0 ? Double(outputTokens) / seconds : 0
    }
}

extension Duration {
    /// The duration in seconds, as a Double.
    public var seconds: Double {
        let (s, attoseconds) = components
        return Double(s) + Double(attoseconds) * 1e-18
    }

    /// The duration in milliseconds, as a Double.
    public var milliseconds: Double { seconds * 1000 }
}

/// Plain autoregressive decoding on one sequence: prefill what the cache
/// lacks in bounded chunks, then one dispatch per token.
public struct Generator {
    public let device: Device
    /// Most prompt positions per prefill dispatch.
    public var prefillChunk: Int

    /// Drafts and verifies several tokens per dispatch when set.
    public var speculator: Speculator?

    public init(device: Device, prefillChunk: Int = 512, speculator: Speculator? = nil) {
        precondition(prefillChunk > 0, "prefill chunks hold at least one position")
        self.device = device
        self.prefillChunk = prefillChunk
        self.speculator = speculator
    }

    /// Generates after `prompt` on `sequence`, reusing whatever prefix of the
    /// prompt the sequence already holds.
    ///
    /// - Parameters:
    ///   - onToken: called with each generated token; returning false cancels.
    /// - Throws: `InferenceError.contextFull` when the prompt itself does not fit.
    public func generate(
        prompt: [Int], on sequence: TokenSequence, maxTokens: Int, sampler: inout Sampler,
        stopIDs: Set<Int>, onToken: (Int) -> Bool
    ) throws -> GenerationStats {
        precondition(!prompt.isEmpty, "a generation needs at least one prompt token")
        if let speculator {
            return try generate(
                prompt: prompt, on: sequence, maxTokens: maxTokens, sampler: &sampler,
                stopIDs: stopIDs, speculator: speculator, onToken: onToken)
        }
        var stats = GenerationStats()
        stats.promptTokens = prompt.count
        guard prompt.count <= sequence.cache.capacity else {
            throw InferenceError.contextFull(
                positions: prompt.count, capacity: sequence.cache.capacity)
        }
        let clock = ContinuousClock()
        let start = clock.now

        // Reuse the cached prefix; the last prompt token is always computed,
        // since its logits choose the first new token.
        let shared = min(commonPrefix(sequence.ids, prompt), prompt.count - 1)
        sequence.truncate(to: shared)
        stats.cachedPromptTokens = shared
        var logits = try prefill(Array(prompt[shared...]), on: sequence, stats: &stats)

        // Decode: sample, report, feed back.
        var history = prompt
        while stats.outputTokens < maxTokens {
            let token = sampler.sample(logits.row(0), history: history)
            if stats.outputTokens == 0 {
                stats.timeToFirstToken = clock.now - start
            }
            if stopIDs.contains(token) {
                stats.stopReason = .endOfText
                break
            }
            stats.outputTokens += 1
            history.append(token)
            guard onToken(token) else {
                stats.stopReason = .cancelled
                break
            }
            guard stats.outputTokens < maxTokens else { break }
            guard sequence.remaining > 0 else {
                stats.stopReason = .contextFull
                break
            }
            logits = try step(token, on: sequence, stats: &stats)
        }
        stats.elapsed = clock.now - start
        return stats
    }

    /// Feeds `tokens` in chunks; returns the logits of the last one.
    func prefill(_ tokens: [Int], on sequence: TokenSequence, stats: inout GenerationStats)
        throws -> Logits
    {
        var start = 0
        var logits: Logits?
        while start < tokens.count {
            let end = min(start + min(prefillChunk, device.rowsMax), tokens.count)
            let base = sequence.ids.count
            let rows = (start..<end).map { i in
                BatchRow(
                    cache: sequence.cache, position: base + i - start, token: tokens[i],
                    wantsLogits: i == tokens.count - 1)
            }
            logits = try device.dispatch(rows)
            stats.dispatches += 1
            for i in start..<end {
                sequence.append(tokens[i])
            }
            start = end
        }
        return logits!
    }

    /// One decode dispatch for `token`.
    private func step(_ token: Int, on sequence: TokenSequence, stats: inout GenerationStats)
        throws -> Logits
    {
        let row = BatchRow(
            cache: sequence.cache, position: sequence.ids.count, token: token,
            wantsLogits: true)
        let logits = try device.dispatch([row])
        stats.dispatches += 1
        sequence.append(token)
        return logits
    }

    func commonPrefix(_ a: [Int], _ b: [Int]) -> Int {
        var n = 0
        while n < a.count && n < b.count && a[n] == b[n] {
            n += 1
        }
        return n
    }
}
