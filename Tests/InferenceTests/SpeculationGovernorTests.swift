import Inference
import Testing

/// Adaptivity: the draft length follows acceptance, and speculation that
/// costs more device time than it saves is switched off and tried again.
@Suite("Speculation: the governor")
struct SpeculationGovernorTests {
    static func policy() -> SpeculationGovernor.Policy {
        var policy = SpeculationGovernor.Policy()
        policy.lengthMin = 1
        policy.lengthMax = 6
        policy.windowSteps = 4
        policy.pauseDispatches = 8
        policy.pauseDispatchesMax = 16
        return policy
    }

    @Test("length rises with acceptance, and falls to none without it", arguments: [true, false])
    func length(acceptsAll: Bool) {
        var policy = Self.policy()
        policy.probeEvery = 1000
        let governor = SpeculationGovernor(
            costModel: FixedCostModel(base: 1, perRow: 0.1), policy: policy)
        for _ in 0..<30 {
            let length = governor.decide(sources: ["s"]).length
            let accepted = acceptsAll ? length : 0
            // A cheap draft (no time) verified in a nearly free dispatch never pauses.
            governor.record(
                source: "s", drafted: length, accepted: accepted, produced: accepted + 1,
                verifyTime: .zero, draftTime: .zero)
        }
        let decision = governor.decide(sources: ["s", "unseen"])
        #expect(decision.length(for: "s") == (acceptsAll ? 6 : 0))
        #expect(decision.length(for: "unseen") > 1, "another source starts from the prior")
        #expect(decision.length == decision.lengths.values.max())
        #expect(!governor.snapshot().isPaused)
    }

    @Test("a long match starts with longer drafts than a chance bigram")
    func priors() {
        var policy = Self.policy()
        policy.probeEvery = 1000
        // A row costs half the base of a dispatch: drafting pays only when trusted.
        let governor = SpeculationGovernor(
            costModel: FixedCostModel(base: 1, perRow: 0.5), policy: policy)
        let decision = governor.decide(sources: ["ngram/2", "ngram/8", "memory/6", "other"])
        #expect(decision.length(for: "ngram/2") == 0)
        #expect(decision.length(for: "ngram/8") > decision.length(for: "other"))
        #expect(decision.length(for: "memory/6") > decision.length(for: "other"))
        #expect(governor.snapshot().acceptanceEstimates["ngram/2"] == 0.3)
    }

    @Test("drafts that pay alone do not in a full batch, where a row costs its arithmetic")
    func sharedDispatch() {
        var policy = Self.policy()
        policy.probeEvery = 1000
        // The machine's shape: a dispatch reads the weights once (3 ms) and
        // each row adds 1 ms of arithmetic.
        let governor = SpeculationGovernor(
            costModel: FixedCostModel(base: 0.003, perRow: 0.001), policy: policy)
        #expect(governor.decide(sources: ["ngram/8"]).length >= 3)
        #expect(governor.decide(sources: ["ngram/8"], sharedRows: 7).length == 0)
        #expect(governor.decide(sources: ["ngram/8"], sharedRows: 1).length >= 1)

        // The share is the dispatch's cost split by rows, as the host bills.
        let share = governor.share(rows: 3, sharedRows: 7)?.seconds ?? 0
        #expect(abs(share - 0.013 * 3 / 10) < 1e-12)

        // Priced in company, a step that saved time alone costs time.
        for _ in 0..<policy.windowSteps {
            governor.record(
                source: "ngram/8", drafted: 2, accepted: 1, produced: 2, verifyTime: nil,
                draftTime: .zero, sharedRows: 7)
            governor.record(
                source: "ngram/8", drafted: 2, accepted: 1, produced: 2,
                verifyTime: governor.share(rows: 3, sharedRows: 7), draftTime: .zero,
                sharedRows: 7)
        }
        #expect(governor.snapshot().savedTime < .zero)
        #expect(governor.snapshot().pauses == 1)
    }

    @Test("a source predicted not to pay is tried again every probeEvery dispatches")
    func probes() {
        var policy = Self.policy()
        policy.probeEvery = 4
        let governor = SpeculationGovernor(
            costModel: FixedCostModel(base: 1, perRow: 0.1), policy: policy)
        for _ in 0..<20 {
            governor.record(
                source: "s", drafted: 1, accepted: 0, produced: 1, verifyTime: .zero,
                draftTime: .zero)
        }
        let lengths = (0..<8).map { _ in governor.decide(sources: ["s"]).length }
        #expect(lengths == [0, 0, 0, 1, 0, 0, 0, 1])
    }

    /// Greedy on the chain 0 → 1 → 0 → …; the drafter is told what to say.
    final class Run {
        let device = MarkovDevice(table: SpeculationSamplingTests.table)
        let drafter = ScriptedDrafter()
        /// Verification rows look nearly free to the governor's model.
        let costs = FixedCostModel(base: 1, perRow: 0.05)
        let governor: SpeculationGovernor
        let decoder: SpeculativeDecoder

        init() {
            governor = SpeculationGovernor(
                costModel: costs, policy: SpeculationGovernorTests.policy())
            let sequence = TokenSequence(cache: device.makeCache(capacity: 512))
            decoder = SpeculativeDecoder(
                sequence: sequence, history: [0], sampler: Sampler(settings: .greedy),
                drafter: drafter, governor: governor)
        }

        /// One dispatch that took `seconds` of device time.
        func step(seconds: Double) throws -> SpeculationStep {
            let rows = try decoder.rows(tokensMax: 100)
            return decoder.consume(try device.dispatch(rows), verifyTime: .seconds(seconds))
        }
    }

    @Test("costly speculation is switched off, tried again, and kept when it pays")
    func pauseAndResume() throws {
        let run = Run()

        // Drafts half right, predicted to pay, but each dispatch takes 3 s
        // where plain decoding takes 1.05 s a token: the first window of 4
        // drafting dispatches spends more than plain decoding would have.
        run.drafter.script = [0: [1, 1, 1, 1], 1: [0, 0, 0, 0]]
        var steps = try (0..<4).map { _ in try run.step(seconds: 3) }
        #expect(steps.allSatisfy { $0.drafted > 1 && $0.accepted == 1 })
        #expect(steps.last!.pausedNow)
        #expect(run.governor.snapshot().pauses == 1)

        // Paused: 8 dispatches without drafts, each one token.
        steps = try (0..<8).map { _ in try run.step(seconds: 1) }
        #expect(steps.allSatisfy { $0.wasPaused && $0.drafted == 0 && $0.produced.count == 1 })
        #expect(run.drafter.proposals == 4, "the drafter is not even asked while paused")

        // Back on: still slow, so another window pauses again, for longer.
        steps = try (0..<4).map { _ in try run.step(seconds: 3) }
        #expect(steps.allSatisfy { !$0.wasPaused && $0.drafted > 0 })
        #expect(steps.last!.pausedNow)
        #expect(run.governor.snapshot().pauseRemaining == 16)
        steps = try (0..<16).map { _ in try run.step(seconds: 1) }
        #expect(steps.allSatisfy { $0.wasPaused })

        // Now the drafts are right and a dispatch takes what the model says:
        // the next windows pay, and speculation stays on.
        run.drafter.script = [0: [1, 0, 1, 0, 1, 0], 1: [0, 1, 0, 1, 0, 1]]
        steps = try (0..<12).map { _ in try run.step(seconds: 1.1) }
        #expect(steps.allSatisfy { !$0.wasPaused && !$0.pausedNow && $0.accepted == $0.drafted })
        #expect(steps.allSatisfy { $0.drafted > 0 })
        #expect(run.governor.snapshot().pauses == 2)
        #expect(run.governor.snapshot().savedTime > .zero)
    }

    @Test("a reply's stats count the pause and the paused dispatches")
    func statsSaySo() throws {
        let device = MarkovDevice(table: SpeculationSamplingTests.table)
        let drafter = ScriptedDrafter()
        drafter.script = [0: [0, 0], 1: [1, 1]]
        // Plain dispatches are priced at zero, so any drafting costs more
        // than it saves: 4 drafting dispatches, a pause of 8, 4 more, a
        // pause of 16 cut short by the end of the reply.
        let governor = SpeculationGovernor(
            costModel: FixedCostModel(base: 0, perRow: 0), policy: Self.policy())
        let sequence = TokenSequence(cache: device.makeCache(capacity: 64))
        var sampler = Sampler(settings: .greedy)
        var ids: [Int] = []
        let stats = try Generator(
            device: device, speculator: Speculator(drafter: drafter, governor: governor)
        ).generate(prompt: [0], on: sequence, maxTokens: 20, sampler: &sampler, stopIDs: []) {
            ids.append($0)
            return true
        }
        #expect(ids.count == 20)
        #expect(stats.draftedTokens > 0 && stats.acceptedTokens == 0)
        #expect(stats.acceptance == 0)
        #expect(stats.steps.count == stats.dispatches)
        #expect(stats.steps.map(\.produced.count).reduce(0, +) == 20)
        #expect(stats.speculationPauses == 2)
        #expect(stats.pausedDispatches == 12)
        #expect(stats.pausedDispatches == stats.steps.filter(\.wasPaused).count)
        #expect(stats.draftingDispatches == 8)
    }
}
