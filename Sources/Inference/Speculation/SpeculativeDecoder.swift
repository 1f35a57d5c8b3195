import Support

/// One dispatch's worth of speculation for one sequence: drafted,
/// accepted and produced.
public struct SpeculationStep: Sendable, Equatable {
    /// Draft tokens the dispatch verified.
    public var drafted: Int
    /// Of those, how many stood.
    public var accepted: Int
    /// Tokens the dispatch produced, in order: the accepted drafts, then the
    /// one the model chose where the draft ended or went wrong.
    public var produced: [Int]
    /// The drafter that proposed them; nil when nothing was drafted.
    public var source: String?
    /// The governor had speculation switched off.
    public var wasPaused: Bool
    /// This step's judgement switched speculation off.
    public var pausedNow: Bool

    public init(
        drafted: Int, accepted: Int, produced: [Int], source: String? = nil,
        wasPaused: Bool = false, pausedNow: Bool = false
    ) {
        self.drafted = drafted
        self.accepted = accepted
        self.produced = produced
        self.source = source
        self.wasPaused = wasPaused
        self.pausedNow = pausedNow
    }
}

/// The speculative decode loop of one sequence, cut at the dispatch so that
/// a scheduler can put the rows of many sequences in one batch.
///
/// Each step, `rows` returns the pending token (the last one chosen, not
/// yet in the cache) followed by drafted tokens, all wanting logits; after
/// the dispatch `consume` takes their logits, keeps the drafts the target
/// agrees with, picks the next token, and rolls the cache back past the
/// rejected drafts. With greedy settings the tokens are those of plain
/// decoding exactly; with sampling they follow the speculative-sampling
/// rule, so their distribution is the model's own.
///
/// Not thread-safe: one sequence, one caller at a time.
public final class SpeculativeDecoder {
    private static let log = Log("speculation")
    public let sequence: TokenSequence
    /// Every id so far, prompt included; the last one is pending: chosen but
    /// not yet in the cache.
    public private(set) var history: [Int]
    public let drafter: Drafter?
    public let governor: SpeculationGovernor
    public private(set) var sampler: Sampler
    /// Wall time the drafter took for the step `consume` last finished.
    public private(set) var lastDraftTime: Duration = .zero

    private var rule: AcceptanceRule
    /// What the last `rows` call put in the batch, until `consume`: prompt
    /// ids fed ahead of the pending token, and the draft after it.
    private var inFlight:
        (unfed: Int, draft: Draft, paused: Bool, draftTime: Duration, sharedRows: Int)?
    /// Times the drafter: the same clock the caller times dispatches with.
    private let clock: DispatchClock

    /// Continues `history` on `sequence`, whose cache must hold a prefix of
    /// `history` short of its last id; the ids between (the rest of a
    /// prompt) ride in the first step's rows, ahead of the pending one.
    public init(
        sequence: TokenSequence, history: [Int], sampler: Sampler, drafter: Drafter?,
        governor: SpeculationGovernor, clock: DispatchClock = .wall
    ) {
        precondition(!history.isEmpty, "a decoder needs a pending token")
        precondition(
            sequence.ids.count < history.count && history.starts(with: sequence.ids),
            "the cache must hold a prefix of the history short of its last id")
        self.sequence = sequence
        self.history = history
        self.sampler = sampler
        self.drafter = drafter
        self.governor = governor
        self.clock = clock
        let seed = sampler.settings.seed.map { $0 ^ Self.ruleSeedSalt }
        rule = AcceptanceRule(seed: seed ?? .random(in: .min ... .max))
    }

    /// Keeps the acceptance rule's draws apart from the sampler's own when
    /// both start from the persona's seed.
    static let ruleSeedSalt: UInt64 = 0x5bd1_e995_9e37_79b9

    /// Prompt ids not yet in the cache, ahead of the pending one.
    public var unfedCount: Int { history.count - 1 - sequence.ids.count }

    /// The rows of the next dispatch: any prompt ids the cache lacks
    /// (without logits), the pending token, then up to what the governor
    /// allows of the drafter's proposal.
    ///
    /// - Parameters:
    ///   - tokensMax: tokens the caller will still take (at least 1); the
    ///     draft stops short so that a step never produces more.
    ///   - rowsMax: rows the caller has room for in the batch; at least the
    ///     unfed prompt ids and the pending token.
    ///   - sharedRows: rows other sequences put in the same dispatch, which
    ///     share its cost (see `SpeculationGovernor.share`).
    /// - Precondition: the cache has room for the unfed and pending ids.
    public func rows(tokensMax: Int, rowsMax: Int = .max, sharedRows: Int = 0) throws
        -> [BatchRow]
    {
        let unfed = unfedCount
        precondition(inFlight == nil, "rows() twice without consume()")
        precondition(tokensMax >= 1 && rowsMax > unfed, "a step produces at least one token")
        precondition(sequence.remaining > unfed, "the cache is full; the caller stops first")

        // How many drafts fit: the governor, the caller's token and row
        // budgets, the cache and the hard bound.
        let decision = governor.decide(sources: drafter?.sources ?? [], sharedRows: sharedRows)
        let room = [
            decision.length, tokensMax - 1, rowsMax - unfed - 1, sequence.remaining - unfed - 1,
            Limits.Speculation.draftLengthMax,
        ].min()!
        var draft = Draft.none(drafter?.name ?? "off")
        var draftTime = Duration.zero
        if room > 0, let drafter {
            let start = clock.now()
            draft = try drafter.propose(after: history, countMax: room) {
                decision.length(for: $0)
            }
            draft = draft.prefix(min(room, decision.length(for: draft.source)))
            draftTime = clock.now() - start
        }
        inFlight = (unfed, draft, decision.isPaused, draftTime, sharedRows)

        // The unfed prompt, the pending token, then the drafts after it.
        let base = sequence.ids.count
        let tokens = history[base...] + draft.tokens
        // The pending token is generated (decoded alone in plain decoding)
        // unless it is the prompt's last, which plain decoding prefills with
        // the rest of the prompt; drafts are always generated tokens.
        return tokens.enumerated().map { offset, token in
            BatchRow(
                cache: sequence.cache, position: base + offset, token: token,
                wantsLogits: offset >= unfed, decodes: offset > unfed || unfed == 0)
        }
    }

    /// Takes the logits of the rows `rows` returned, starting at row
    /// `firstRow` of `logits` (rows without logits take no slot there), and
    /// returns what the step produced.
    ///
    /// - Parameter verifyTime: this sequence's share of the dispatch's
    ///   device time; nil prices it with the governor's cost model, as a
    ///   share of a dispatch with the `sharedRows` given to `rows`. A step
    ///   that carried prompt ids is not priced: its time is the prompt's.
    public func consume(_ logits: Logits, firstRow: Int = 0, verifyTime: Duration? = nil)
        -> SpeculationStep
    {
        guard let (unfed, draft, paused, draftTime, sharedRows) = inFlight else {
            preconditionFailure("consume() without rows()")
        }
        inFlight = nil
        lastDraftTime = draftTime
        precondition(
            firstRow >= 0 && firstRow + draft.tokens.count < logits.rowCount,
            "logits rows \(firstRow)+\(draft.tokens.count) of \(logits.rowCount)")

        // Judge the drafts in order; the first rejection ends the step.
        var produced: [Int] = []
        var committed = Array(history[sequence.ids.count...])
        for index in 0...draft.tokens.count {
            let row = logits.row(firstRow + index)
            let context = history + produced
            guard index < draft.tokens.count else {
                produced.append(sampler.sample(row, history: context))
                break
            }
            let token = draft.tokens[index]
            let chosen = verify(token, draft: draft, at: index, row: row, context: context)
            produced.append(chosen)
            guard chosen == token else { break }
            committed.append(token)
        }

        // The cache keeps the pending token and the accepted drafts.
        for id in committed {
            sequence.append(id)
        }
        sequence.cache.truncate(to: sequence.ids.count)
        history += produced

        // Tell the governor what it cost and what it gave.
        let rows = 1 + draft.tokens.count
        let accepted = produced.count - 1
        let time =
            unfed > 0 ? nil : verifyTime ?? governor.share(rows: rows, sharedRows: sharedRows)
        let pausedNow = governor.record(
            source: draft.source, drafted: draft.tokens.count, accepted: accepted,
            produced: produced.count, verifyTime: time, draftTime: draftTime,
            sharedRows: sharedRows)
        Self.log.debug(
            "step",
            [
                "source": draft.tokens.isEmpty ? "-" : draft.source,
                "drafted": draft.tokens.count, "accepted": accepted, "position": history.count,
            ])
        return SpeculationStep(
            drafted: draft.tokens.count, accepted: accepted, produced: produced,
            source: draft.tokens.isEmpty ? nil : draft.source, wasPaused: paused,
            pausedNow: pausedNow)
    }

    /// The token that stands at draft position `index`: the draft's own
    /// when the target agrees, else the target's replacement.
    ///
    /// A deterministic draft (a point mass) is judged by the draw plain
    /// decoding would make: the sampler picks the token from the row with its
    /// own random stream, and the draft stands when it is that token. It is
    /// kept with probability `p(x)`, which is what the speculative-sampling
    /// rule gives a point mass, and the reply is draw for draw the one plain
    /// decoding gives with the same seed, whatever was drafted. A sampled
    /// draft (a draft model's, without a seed) goes through the rule, whose
    /// `min(1, p/q)` keeps more of it; one whose `q` gives its own token no
    /// mass (a damaged draft model's NaNs) is judged as a point mass.
    private func verify(
        _ token: Int, draft: Draft, at index: Int, row: UnsafeBufferPointer<Float>,
        context: [Int]
    ) -> Int {
        guard sampler.settings.temperature > 0, let q = draft.distributions?[index],
            AcceptanceRule.canJudge(token, q: q)
        else {
            return sampler.sample(row, history: context)
        }
        let p = sampler.distribution(row, history: context)
        switch rule.judge(token, q: q, p: p) {
        case .accept: return token
        case .reject(let replacement): return replacement
        }
    }
}
