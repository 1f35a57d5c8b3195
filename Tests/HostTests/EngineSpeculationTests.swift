import Foundation
import Inference
import Testing

@testable import Host

/// Speculation in the engine on the real model: drafted rows ride the
/// shared dispatch, rejected ones leave the cache, and greedy replies are
/// the host's plain ones token for token.
@Suite("Engine speculation on the real model", .serialized, .enabled(if: RealModel.isAvailable))
struct EngineSpeculationTests {
    /// The real model with a device of its own: other suites run beside
    /// this one on `RealModel.shared`, and a device takes one dispatch at
    /// a time.
    static let model: LanguageModel = {
        do {
            return try LanguageModel(url: URL(fileURLWithPath: RealModel.path), threads: 2)
        } catch {
            fatalError("the default model is needed at \(RealModel.path): \(error)")
        }
    }()

    static func engine() -> ModelEngine {
        var limits = EngineLimits()
        limits.prefillRowsPerDispatchMax = 32
        return ModelEngine(modelName: "real", device: model.device, limits: limits)
    }

    static func spec(_ tenant: String, _ prompt: [Int], maxTokens: Int) -> JobSpec {
        JobSpec(
            tenant: tenant, weight: 1, prompt: prompt, maxTokens: maxTokens, capacity: 1024,
            sampling: .greedy, stopIDs: model.stopIDs)
    }

    /// Drafts the last token again and again: wrong most of the time, so
    /// that nearly every step verifies and rolls back drafts.
    final class RepeatDrafter: Drafter {
        let name = "repeat"

        func propose(after history: [Int], countMax: Int) -> Draft {
            Draft(tokens: Array(repeating: history.last!, count: countMax), source: name)
        }
    }

    /// Every row count costs the same: drafting always looks worth it, so
    /// the governor drafts its longest.
    final class FlatCost: DispatchCostModel {
        func cost(rows: Int) -> Duration? { .milliseconds(10) }
        func observe(rows: Int, elapsed: Duration) {}
    }

    /// A new drafter of the kind a test names.
    static func drafter(_ name: String) -> Drafter {
        switch name {
        case "ngram": return PromptLookupDrafter()
        case "repeat": return RepeatDrafter()
        default: return CombinedDrafter([PromptLookupDrafter(), RepeatDrafter()])
        }
    }

    static func speculating(_ spec: JobSpec, drafter: String) -> JobSpec {
        var spec = spec
        let governor = SpeculationGovernor(costModel: FlatCost())
        spec.speculation = JobSpeculation(
            speculator: Speculator(drafter: Self.drafter(drafter), governor: governor),
            clock: .wall)
        return spec
    }

    /// A reply's figures add up: each decode step yields its accepted drafts
    /// and one token, prefill dispatches none but the first token.
    static func checkCounts(_ result: JobResult, prompt: [Int], chunk: Int) {
        let stats = result.stats
        let prefills = (prompt.count - stats.cachedPromptTokens + chunk - 1) / chunk
        #expect(stats.acceptedTokens <= stats.draftedTokens)
        #expect(stats.draftedTokens == stats.steps.reduce(0) { $0 + $1.drafted })
        #expect(stats.dispatches == prefills + stats.steps.count)
        let withOutput = stats.dispatches - prefills + 1
        if stats.stopReason == .maxTokens {
            #expect(stats.outputTokens == withOutput + stats.acceptedTokens)
        } else {
            #expect(stats.outputTokens <= withOutput + stats.acceptedTokens)
        }
    }

    @Test(
        "greedy with drafts equals the host's plain greedy on every reference prompt",
        arguments: ["ngram", "repeat", "ngram+repeat"])
    func referenceGreedy(drafter: String) throws {
        let prompts = RealModel.referencePrompts
        let plainEngine = Self.engine()
        let engine = Self.engine()
        var drafted = 0
        for prompt in prompts {
            let spec = Self.spec("a", prompt, maxTokens: 32)
            let (expected, _) = try EngineModelTests.run(plainEngine, spec)
            let (ids, result) = try EngineModelTests.run(
                engine, Self.speculating(spec, drafter: drafter))
            #expect(ids == expected, "prompt \(prompt.prefix(8))")
            Self.checkCounts(result, prompt: prompt, chunk: 32)
            drafted += result.stats.draftedTokens
        }
        #expect(drafted > 0)
    }

    @Test("a speculating and a plain sequence in one dispatch each get their plain ids")
    func mixedBatch() throws {
        let prompts = Array(RealModel.referencePrompts.prefix(2))
        let specs = prompts.map { Self.spec("a", $0, maxTokens: 32) }
        // Each alone, plainly: the ids, and the rows the first takes.
        var plainRows = 0
        let expected = try specs.enumerated().map { index, spec in
            let plainEngine = Self.engine()
            let ids = try EngineModelTests.run(plainEngine, spec).ids
            if index == 0 { plainRows = plainEngine.snapshot().tenants["a"]?.rows ?? 0 }
            return ids
        }

        let engine = Self.engine()
        let drafting = try SchedulerTests.start(
            engine, Self.speculating(specs[0], drafter: "ngram+repeat"))
        var plainSpec = specs[1]
        plainSpec.tenant = "b"
        let plain = try SchedulerTests.start(engine, plainSpec)
        while engine.step() {}
        #expect(drafting.takeTokens() == expected[0])
        #expect(plain.takeTokens() == expected[1])
        let draftingResult = try #require(try drafting.outcomeIfFinished?.get())
        let plainResult = try #require(try plain.outcomeIfFinished?.get())
        #expect(draftingResult.stats.draftedTokens > 0)
        #expect(plainResult.stats.draftedTokens == 0)

        // Both rode shared dispatches, and the drafter's tenant paid for its
        // draft rows: more rows than its reply takes plainly.
        let snapshot = engine.snapshot()
        #expect(engine.status().batchSizes.contains { $0.sequences == 2 })
        let a = try #require(snapshot.tenants["a"])
        let b = try #require(snapshot.tenants["b"])
        #expect(plainRows > 0 && a.rows > plainRows, "\(a.rows) rows against \(plainRows)")
        #expect(b.rows > 0)
        #expect(abs(a.deviceSeconds + b.deviceSeconds - snapshot.counters.deviceSeconds) < 1e-6)
    }
}
