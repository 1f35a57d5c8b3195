import Foundation
import Support
import Synchronization

/// Decides how far one persona drafts, and whether it drafts at all.
///
/// The draft length follows recent acceptance, per drafter (prompt lookup,
/// memory and a draft model earn different trust): with a per-token
/// acceptance `α`, `k` drafts yield `(1 - α^(k+1)) / (1 - α)` tokens per
/// dispatch, and the governor picks the `k` that yields the most tokens per
/// unit of device time (verification rows and drafting both priced), or
/// none when no length is predicted to beat plain decoding; such a source
/// is still tried with a short draft every `probeEvery` dispatches, so that
/// its estimate can recover. Every
/// `windowSteps` drafting dispatches it compares the device time spent
/// with what plain decoding would have cost for the same tokens; when
/// speculation cost more, it switches off for `pauseDispatches` dispatches,
/// then tries again, doubling the pause after each failed retry.
///
/// One per persona and model, shared by its concurrent replies, so that a
/// persona's record carries over from reply to reply.
public final class SpeculationGovernor: Sendable {
    /// The knobs; the defaults suit a CPU where a dispatch of a few rows
    /// costs little more than one.
    public struct Policy: Sendable, Equatable {
        /// Draft length before anything is known, and its bounds.
        public var lengthInitial = 4
        public var lengthMin = 1
        public var lengthMax = Limits.Speculation.draftLengthMax
        /// Drafting dispatches per judgement of the cost.
        public var windowSteps = 16
        /// Dispatches without drafting after a failed judgement, first and at most.
        public var pauseDispatches = 64
        public var pauseDispatchesMax = 1024
        /// How fast the acceptance estimate forgets: the counts of the past
        /// are multiplied by `1 - acceptanceForgetting` at each step, so the
        /// estimate spans about the last `1 / acceptanceForgetting` steps.
        public var acceptanceForgetting = 0.2
        /// Dispatches between two tries of a source predicted not to pay.
        public var probeEvery = 16
        /// The per-token acceptance a source starts from, worth five
        /// trials; sources not listed start from `priorDefault`. A prompt
        /// lookup that matched two tokens is mostly chance (3 of 27 drafts
        /// stood on three of the bench's prompts) while one that matched
        /// eight or more, or a memory context of six, mostly holds; starting
        /// every source at the same prior spent draft rows on the first and
        /// drafted the second short until its record caught up.
        public var priors: [String: Double] = [
            "ngram/1": 0.15, "ngram/2": 0.3, "ngram/3": 0.5, "ngram/4": 0.65, "ngram/8": 0.85,
            "memory/2": 0.3, "memory/3": 0.5, "memory/4": 0.65, "memory/6": 0.8,
        ]
        public var priorDefault = 0.6

        public init() {}

        /// The acceptance `source` starts from.
        func prior(_ source: String) -> Double {
            priors[source] ?? priorDefault
        }
    }

    /// What the governor says for the next dispatch.
    public struct Decision: Sendable, Equatable {
        /// Draft tokens to ask the drafter for: the most any of its sources
        /// may draft; 0 (do not ask) while paused or when none may.
        public var length: Int
        /// The tokens each source may draft: trim a proposal to its source's.
        public var lengths: [String: Int]
        /// Speculation is switched off for this dispatch.
        public var isPaused: Bool

        /// The tokens a proposal from `source` keeps.
        public func length(for source: String) -> Int {
            lengths[source] ?? 0
        }
    }

    /// The governor's record, for metrics and reports.
    public struct Snapshot: Sendable, Equatable {
        public var isPaused: Bool
        /// Dispatches left in the current pause.
        public var pauseRemaining: Int
        /// Times speculation was switched off.
        public var pauses: Int
        /// The per-token acceptance estimate behind the draft length, by
        /// drafter ("ngram", "memory", "draft").
        public var acceptanceEstimates: [String: Double]
        /// Device time saved against plain decoding, all judged steps
        /// together; negative when speculation cost time.
        public var savedTime: Duration
    }

    public let policy: Policy
    public let costModel: DispatchCostModel

    /// What the governor knows of one drafter.
    private struct Source {
        /// Decaying counts of accepted drafts and of trials (accepted plus
        /// the rejection that ended a draft early): their ratio is α. They
        /// start from the source's prior over five trials.
        var accepted: Double
        var trials = 5.0
        /// Seconds of drafting per drafted token, moving average.
        var draftSecondsPerToken = 0.0
        /// Dispatches since it last drafted, while predicted not to pay.
        var idleDispatches = 0

        init(prior: Double) {
            accepted = 5 * prior
        }

        var alpha: Double { min(max(accepted / max(trials, 1e-9), 0.01), 0.99) }
    }

    private struct State {
        var sources: [String: Source] = [:]
        /// The window being judged.
        var windowSteps = 0
        var windowSpent = Duration.zero
        var windowPlain = Duration.zero
        /// Pause state.
        var pauseRemaining = 0
        var nextPause: Int
        var pauses = 0
        var savedTime = Duration.zero
    }

    private let state: Mutex<State>
    private static let log = Log("speculation")

    public init(costModel: DispatchCostModel, policy: Policy = Policy()) {
        precondition(
            policy.lengthMin >= 1 && policy.lengthMin <= policy.lengthMax
                && policy.lengthMax <= Limits.Speculation.draftLengthMax,
            "draft lengths \(policy.lengthMin)...\(policy.lengthMax)")
        precondition(policy.windowSteps > 0 && policy.pauseDispatches > 0, "empty window")
        self.policy = policy
        self.costModel = costModel
        state = Mutex(State(nextPause: policy.pauseDispatches))
    }

    /// The decision for the next dispatch of a drafter whose proposals
    /// come from `sources`, in a dispatch where other sequences put
    /// `sharedRows` rows; a paused governor counts the dispatch against its
    /// pause.
    public func decide(sources: [String], sharedRows: Int = 0) -> Decision {
        state.withLock { state in
            if state.pauseRemaining > 0 {
                state.pauseRemaining -= 1
                return Decision(length: 0, lengths: [:], isPaused: true)
            }
            var lengths: [String: Int] = [:]
            for name in sources {
                var source = state.sources[name] ?? Source(prior: policy.prior(name))
                var length = bestLength(source, sharedRows: sharedRows)
                if length == 0 {
                    // Not predicted to pay: idle, with a short try now and then.
                    source.idleDispatches += 1
                    if source.idleDispatches >= policy.probeEvery {
                        source.idleDispatches = 0
                        length = policy.lengthMin
                    }
                    state.sources[name] = source
                }
                lengths[name] = length
            }
            return Decision(length: lengths.values.max() ?? 0, lengths: lengths, isPaused: false)
        }
    }

    /// Records a dispatch that verified `drafted` tokens, `accepted` of
    /// them, and produced `produced` tokens, having cost `verifyTime` on
    /// the device (this sequence's share when others put `sharedRows` rows
    /// in it; nil: unknown, so only the acceptance counts) and `draftTime`
    /// to draft. Plain decoding is priced in the same company. Returns true
    /// when this step switched speculation off.
    @discardableResult
    public func record(
        source: String, drafted: Int, accepted: Int, produced: Int, verifyTime: Duration?,
        draftTime: Duration, sharedRows: Int = 0
    ) -> Bool {
        guard drafted > 0 else { return false }
        precondition(accepted <= drafted && produced == accepted + 1, "step counts")
        let plainCost = share(rows: 1, sharedRows: sharedRows)
        return state.withLock { state in
            // Acceptance: accepted tokens over the trials that produced them.
            let keep = 1 - policy.acceptanceForgetting
            var known = state.sources[source] ?? Source(prior: policy.prior(source))
            known.accepted = keep * known.accepted + Double(accepted)
            known.trials = keep * known.trials + Double(accepted < drafted ? accepted + 1 : drafted)
            let perToken = draftTime.seconds / Double(drafted)
            known.draftSecondsPerToken += (1 - keep) * (perToken - known.draftSecondsPerToken)
            state.sources[source] = known

            // The window: device time spent against plain decoding's.
            guard let verifyTime else { return false }
            let spent = verifyTime + draftTime
            let plain = plainCost.map { $0 * produced } ?? spent
            state.windowSpent += spent
            state.windowPlain += plain
            state.savedTime += plain - spent
            state.windowSteps += 1
            guard state.windowSteps >= policy.windowSteps else { return false }
            return judge(&state)
        }
    }

    /// Ends a window: pause when it cost more than plain decoding would.
    private func judge(_ state: inout State) -> Bool {
        let (spent, plain) = (state.windowSpent, state.windowPlain)
        state.windowSteps = 0
        state.windowSpent = .zero
        state.windowPlain = .zero
        guard spent > plain else {
            state.nextPause = policy.pauseDispatches
            return false
        }
        state.pauseRemaining = state.nextPause
        state.pauses += 1
        Self.log.info(
            "pause",
            [
                "spent_ms": Int(spent.milliseconds), "plain_ms": Int(plain.milliseconds),
                "dispatches": state.nextPause,
            ])
        state.nextPause = min(state.nextPause * 2, policy.pauseDispatchesMax)
        return true
    }

    /// What `rows` rows of one sequence cost it in a dispatch where others
    /// put `sharedRows`: the dispatch's cost split by rows, as the host
    /// bills it. Alone, the whole dispatch; in a full batch a draft row
    /// costs a whole row of arithmetic, since the weights are read for the
    /// batch anyway, so drafts pay for less than they do alone.
    public func share(rows: Int, sharedRows: Int) -> Duration? {
        let total = rows + max(sharedRows, 0)
        return costModel.cost(rows: total).map { $0 * (Double(rows) / Double(total)) }
    }

    /// The length that yields the most tokens per second of the device time
    /// this sequence is billed; 0 when plain decoding (one row a token)
    /// yields more.
    private func bestLength(_ source: Source, sharedRows: Int) -> Int {
        guard let plainCost = share(rows: 1, sharedRows: sharedRows) else {
            return min(max(policy.lengthInitial, policy.lengthMin), policy.lengthMax)
        }
        let alpha = source.alpha
        var best = 0
        var bestRate = plainCost.seconds > 0 ? 1 / plainCost.seconds : 0
        for length in policy.lengthMin...policy.lengthMax {
            let tokens = (1 - pow(alpha, Double(length + 1))) / (1 - alpha)
            let verify = share(rows: length + 1, sharedRows: sharedRows)?.seconds ?? 0
            let seconds = verify + Double(length) * source.draftSecondsPerToken
            let rate = seconds > 0 ? tokens / seconds : tokens
            if rate > bestRate {
                (best, bestRate) = (length, rate)
            }
        }
        return best
    }

    public func snapshot() -> Snapshot {
        state.withLock { state in
            Snapshot(
                isPaused: state.pauseRemaining > 0, pauseRemaining: state.pauseRemaining,
                pauses: state.pauses, acceptanceEstimates: state.sources.mapValues(\.alpha),
                savedTime: state.savedTime)
        }
    }
}
