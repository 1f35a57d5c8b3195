import Host

/// Per-message averages over a set of replies.
///
/// Two rates are kept apart on purpose. `meanEffTokensPerSecond` averages
/// each reply's own rate, so a short fast reply weighs as much as a long
/// one and lifts it; `overallEffTokensPerSecond` is all tokens over all
/// time, the rate a user waiting on every reply actually got.
public struct Averages: Codable, Sendable, Equatable {
    public var replies: Int
    /// Output tokens per reply.
    public var tokensPerMessage: Double
    /// Wall time per reply, milliseconds.
    public var elapsedMsPerMessage: Double
    /// The mean of per-reply eff tok/s (output tokens ÷ the reply's time).
    public var meanEffTokensPerSecond: Double
    /// Σ output tokens ÷ Σ reply time.
    public var overallEffTokensPerSecond: Double
    /// The mean of per-reply tok/s (dispatches ÷ the reply's time).
    public var meanDispatchesPerSecond: Double
    /// The mean of per-reply acceptance (accepted ÷ drafted), as a percentage,
    /// over the replies that drafted; nil when none did.
    public var meanAcceptancePercent: Double?
    /// Accepted drafts per dispatch that verified any, all replies pooled
    /// (Σ accepted ÷ Σ drafting dispatches); nil when none drafted.
    public var meanAcceptedLength: Double?
    /// Motes per reply.
    public var motesPerMessage: Double
    /// Time to first token per reply, milliseconds.
    public var firstTokenMsPerMessage: Double
    /// Totals the averages come from.
    public var totalTokens: Int
    public var totalElapsedMs: Double
    public var totalMotes: Double

    /// Averages of `rows`; zeros when there are none.
    public init(rows: [ReplyRecord]) {
        var sums = Sums()
        for row in rows {
            sums.add(row.usage)
        }
        self.init(sums)
    }

    /// All-time averages from the counters, for replies `matching`.
    public init(counters: Counters, matching: (Counters.Key) -> Bool) {
        func sum(_ family: Counters.Family) -> Double { counters.sum(family, where: matching) }
        var sums = Sums()
        sums.replies = sum(.replies)
        sums.tokens = sum(.completionTokens)
        sums.elapsedMs = sum(.elapsedMs)
        sums.effRates = sum(.effRateSum)
        sums.dispatchRates = sum(.dispatchRateSum)
        sums.acceptances = sum(.acceptanceSum)
        sums.draftingReplies = sum(.draftingReplies)
        sums.acceptedTokens = sum(.acceptedTokens)
        sums.draftingDispatches = sum(.draftingDispatches)
        sums.microMotes = sum(.microMotes)
        sums.firstTokenMs = sum(.firstTokenMs)
        self.init(sums)
    }

    private init(_ s: Sums) {
        let n = max(s.replies, 1)
        replies = Int(s.replies)
        tokensPerMessage = s.tokens / n
        elapsedMsPerMessage = s.elapsedMs / n
        meanEffTokensPerSecond = s.effRates / n
        overallEffTokensPerSecond = s.elapsedMs > 0 ? s.tokens / (s.elapsedMs / 1000) : 0
        meanDispatchesPerSecond = s.dispatchRates / n
        meanAcceptancePercent =
            s.draftingReplies > 0 ? 100 * s.acceptances / s.draftingReplies : nil
        meanAcceptedLength =
            s.draftingDispatches > 0 ? s.acceptedTokens / s.draftingDispatches : nil
        motesPerMessage = s.microMotes / 1e6 / n
        firstTokenMsPerMessage = s.firstTokenMs / n
        totalTokens = Int(s.tokens)
        totalElapsedMs = s.elapsedMs
        totalMotes = s.microMotes / 1e6
    }

    /// Running sums over replies, the same for rows and counters.
    private struct Sums {
        var replies = 0.0
        var tokens = 0.0
        var elapsedMs = 0.0
        var effRates = 0.0
        var dispatchRates = 0.0
        var acceptances = 0.0
        var draftingReplies = 0.0
        var acceptedTokens = 0.0
        var draftingDispatches = 0.0
        var microMotes = 0.0
        var firstTokenMs = 0.0

        mutating func add(_ usage: CompletionUsage) {
            let rates = ReplyRates(usage)
            replies += 1
            tokens += Double(usage.completionTokens)
            elapsedMs += usage.elapsedMs
            effRates += rates.effTokensPerSecond
            dispatchRates += rates.dispatchesPerSecond
            if let acceptance = rates.acceptance {
                acceptances += acceptance
                draftingReplies += 1
            }
            acceptedTokens += Double(usage.acceptedTokens)
            draftingDispatches += Double(usage.draftingDispatches)
            microMotes += Double(usage.microMotes)
            firstTokenMs += usage.timeToFirstTokenMs
        }
    }
}

extension Averages {
    /// The averages as (label, value with its unit) lines, in the order the
    /// report and the dashboard show them.
    public var readableLines: [(String, String)] {
        [
            ("tokens/msg", Readable.fixed(tokensPerMessage, 1) + " tokens"),
            ("elapsed/msg", Readable.fixed(elapsedMsPerMessage / 1000, 2) + " s"),
            (
                "eff tok/s, mean of replies",
                Readable.fixed(meanEffTokensPerSecond, 1) + " tokens/s (each reply's rate)"
            ),
            (
                "eff tok/s, overall",
                Readable.fixed(overallEffTokensPerSecond, 1) + " tokens/s (Σ tokens ÷ Σ time)"
            ),
            (
                "tok/s, mean of replies",
                Readable.fixed(meanDispatchesPerSecond, 1) + " dispatches/s"
            ),
            (
                "acceptance, mean of replies",
                meanAcceptancePercent.map { Readable.fixed($0, 1) + " %" }
                    ?? "n/a (no tokens drafted)"
            ),
            (
                "accepted length, mean",
                meanAcceptedLength.map { Readable.fixed($0, 2) + " tokens per drafting dispatch" }
                    ?? "n/a (no tokens drafted)"
            ),
            ("Motes/msg", Readable.motes(motesPerMessage) + " Motes"),
            ("time to first token", Readable.fixed(firstTokenMsPerMessage, 1) + " ms"),
        ]
    }
}
