import Host

/// Running totals that never shrink, one per family and label set.
///
/// Replies count per (persona, model, device); dispatches per (model,
/// device) with an empty persona, since one dispatch may carry sequences of
/// several personas. Histogram buckets are stored one count per bucket
/// (not cumulative) with the bucket's upper bound in `detail`.
public struct Counters: Sendable, Equatable {
    /// What a counter counts.
    public enum Family: String, Sendable, CaseIterable {
        /// Replies finished, whatever their outcome.
        case replies
        /// Replies by outcome; `detail` is the stop reason.
        case outcomes
        case promptTokens = "prompt_tokens"
        case cachedPromptTokens = "cached_prompt_tokens"
        case completionTokens = "completion_tokens"
        /// Dispatches as the replies count them.
        case replyDispatches = "reply_dispatches"
        case draftedTokens = "drafted_tokens"
        case acceptedTokens = "accepted_tokens"
        /// Dispatches that verified drafts: accepted tokens over these is
        /// the mean accepted length.
        case draftingDispatches = "drafting_dispatches"
        case microMotes = "micro_motes"
        /// Sum of reply wall times, milliseconds.
        case elapsedMs = "elapsed_ms"
        /// Sum of times to first token, milliseconds.
        case firstTokenMs = "first_token_ms"
        /// Sum of per-reply eff tok/s, for the mean of rates.
        case effRateSum = "eff_rate_sum"
        /// Sum of per-reply tok/s (dispatches per second).
        case dispatchRateSum = "dispatch_rate_sum"
        /// Sum of per-reply acceptance ratios, and how many replies drafted.
        case acceptanceSum = "acceptance_sum"
        case draftingReplies = "drafting_replies"
        /// Reply latency histogram; `detail` is the bucket's bound in seconds.
        case latencyBucket = "latency_bucket"
        /// Time-to-first-token histogram; `detail` as above.
        case firstTokenBucket = "first_token_bucket"
        /// Dispatches started and completed, per device and model.
        case dispatchesStarted = "dispatches_started"
        case dispatchesCompleted = "dispatches_completed"
        /// Positions carried by dispatches.
        case positions
        /// Sum of dispatch times, milliseconds: the device's busy time.
        case dispatchMs = "dispatch_ms"
    }

    /// One counter's identity.
    public struct Key: Hashable, Sendable {
        public var family: Family
        public var persona: String
        public var model: String
        public var device: String
        public var detail: String

        public init(
            family: Family, persona: String, model: String, device: String, detail: String = ""
        ) {
            self.family = family
            self.persona = persona
            self.model = model
            self.device = device
            self.detail = detail
        }
    }

    public var values: [Key: Double] = [:]

    public init() {}

    /// The sum of `family` over every label set `matching` accepts.
    public func sum(_ family: Family, where matching: (Key) -> Bool = { _ in true }) -> Double {
        values.reduce(0) { total, entry in
            entry.key.family == family && matching(entry.key) ? total + entry.value : total
        }
    }

    /// Upper bounds of the reply latency buckets, seconds: a short reply on
    /// a fast device up to a long one on a slow device.
    public static let latencyBoundsSeconds: [Double] = [
        0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120,
    ]

    /// Upper bounds of the time-to-first-token buckets, seconds.
    public static let firstTokenBoundsSeconds: [Double] = [
        0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
    ]

    /// The text of a bucket bound: the shortest form that reads back the
    /// same, "+Inf" past the last bound.
    static func boundLabel(_ bound: Double) -> String {
        bound.isInfinite ? "+Inf" : "\(bound)"
    }

    /// The bucket label for `seconds` among `bounds`.
    static func bucket(_ seconds: Double, bounds: [Double]) -> String {
        boundLabel(bounds.first { seconds <= $0 } ?? .infinity)
    }

    /// What a batch of records adds to the counters.
    static func increments(dispatches: [DispatchRecord], replies: [ReplyRecord])
        -> [Key: Double]
    {
        var sums = Accumulator()
        for record in dispatches {
            sums.labels = ("", record.model, record.device)
            sums.add(.dispatchesStarted, 1)
            sums.add(.dispatchesCompleted, record.completed ? 1 : 0)
            sums.add(.positions, Double(record.positions))
            sums.add(.dispatchMs, record.elapsedMs)
        }
        for record in replies {
            sums.labels = (record.persona, record.model, record.device)
            sums.add(reply: record.usage)
        }
        return sums.values
    }
}

/// Adds to counters of one label set at a time.
private struct Accumulator {
    var values: [Counters.Key: Double] = [:]
    /// (persona, model, device) of what is being added.
    var labels = ("", "", "")

    mutating func add(_ family: Counters.Family, _ value: Double, detail: String = "") {
        let key = Counters.Key(
            family: family, persona: bounded(labels.0), model: bounded(labels.1),
            device: bounded(labels.2), detail: detail)
        values[key, default: 0] += value
    }

    /// Everything one reply adds.
    mutating func add(reply u: CompletionUsage) {
        let rates = ReplyRates(u)

        // Counts and sums.
        add(.replies, 1)
        add(.outcomes, 1, detail: bounded(u.stopReason))
        add(.promptTokens, Double(u.promptTokens))
        add(.cachedPromptTokens, Double(u.cachedPromptTokens))
        add(.completionTokens, Double(u.completionTokens))
        add(.replyDispatches, Double(u.dispatches))
        add(.draftedTokens, Double(u.draftedTokens))
        add(.acceptedTokens, Double(u.acceptedTokens))
        add(.draftingDispatches, Double(u.draftingDispatches))
        add(.microMotes, Double(u.microMotes))
        add(.elapsedMs, u.elapsedMs)
        add(.firstTokenMs, u.timeToFirstTokenMs)

        // Sums of per-reply rates, for the means of rates.
        add(.effRateSum, rates.effTokensPerSecond)
        add(.dispatchRateSum, rates.dispatchesPerSecond)
        if let acceptance = rates.acceptance {
            add(.acceptanceSum, acceptance)
            add(.draftingReplies, 1)
        }

        // Histograms.
        let latency = Counters.bucket(u.elapsedMs / 1000, bounds: Counters.latencyBoundsSeconds)
        add(.latencyBucket, 1, detail: latency)
        let firstToken = Counters.bucket(
            u.timeToFirstTokenMs / 1000, bounds: Counters.firstTokenBoundsSeconds)
        add(.firstTokenBucket, 1, detail: firstToken)
    }
}

/// The rates of one reply, computed one way everywhere.
public struct ReplyRates: Sendable, Equatable {
    /// Output tokens per second of the reply's wall time ("eff tok/s").
    public var effTokensPerSecond: Double
    /// Dispatches per second ("tok/s": what plain decoding gives).
    public var dispatchesPerSecond: Double
    /// Accepted ÷ drafted; nil when nothing was drafted.
    public var acceptance: Double?
    /// Accepted drafts per dispatch that verified any; nil when none did.
    public var meanAcceptedLength: Double?

    public init(_ usage: CompletionUsage) {
        effTokensPerSecond = usage.tokensPerSecond
        dispatchesPerSecond = usage.dispatchesPerSecond
        acceptance = usage.acceptance
        meanAcceptedLength = usage.meanAcceptedLength
    }
}
