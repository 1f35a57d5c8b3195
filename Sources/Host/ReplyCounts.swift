/// The counts of one reply or of many together, and the rates every report
/// shows from them: one set of formulas for a reply's usage, a
/// conversation's totals and the metrics.
public protocol ReplyCounts {
    var completionTokens: Int { get }
    var dispatches: Int { get }
    var elapsedMs: Double { get }
    var draftedTokens: Int { get }
    var acceptedTokens: Int { get }
    var draftingDispatches: Int { get }
}

extension ReplyCounts {
    /// Output tokens per second ("eff tok/s").
    public var tokensPerSecond: Double {
        elapsedMs > 0 ? Double(completionTokens) * 1000 / elapsedMs : 0
    }

    /// Dispatches per second: what plain decoding gives ("tok/s").
    public var dispatchesPerSecond: Double {
        elapsedMs > 0 ? Double(dispatches) * 1000 / elapsedMs : 0
    }

    /// Accepted draft tokens over drafted ones, 0 to 1; nil when nothing
    /// was drafted.
    public var acceptance: Double? {
        draftedTokens > 0 ? Double(acceptedTokens) / Double(draftedTokens) : nil
    }

    /// Accepted drafts per dispatch that verified any: how far a draft runs
    /// before its first rejection, on average; nil when nothing was drafted.
    public var meanAcceptedLength: Double? {
        draftingDispatches > 0 ? Double(acceptedTokens) / Double(draftingDispatches) : nil
    }
}
