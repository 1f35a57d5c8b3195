import Foundation
import Inference
import Testing
import Tokenizer

@testable import Host

/// The engine on the real model: batching, the persona prefix cache and
/// kept conversations give the same greedy replies as plain decoding.
@Suite("Engine on the real model", .serialized, .enabled(if: RealModel.isAvailable))
struct EngineModelTests {
    /// Plain one-sequence greedy decoding, the reference.
    static func plain(_ prompt: [Int], maxTokens: Int, after earlier: [Int]? = nil) throws
        -> [Int]
    {
        let model = RealModel.shared
        let sequence = model.makeSequence(capacity: prompt.count + maxTokens)
        if let earlier {
            // Turn one first, on the same sequence, so that turn two reuses
            // its keys and values exactly as a conversation does.
            _ = try plain(earlier, maxTokens: maxTokens, on: sequence)
        }
        return try plain(prompt, maxTokens: maxTokens, on: sequence)
    }

    static func plain(_ prompt: [Int], maxTokens: Int, on sequence: TokenSequence) throws
        -> [Int]
    {
        let model = RealModel.shared
        var sampler = Sampler(settings: .greedy)
        var ids: [Int] = []
        _ = try Generator(device: model.device).generate(
            prompt: prompt, on: sequence, maxTokens: maxTokens, sampler: &sampler,
            stopIDs: model.stopIDs
        ) { id in
            ids.append(id)
            return true
        }
        return ids
    }

    static func spec(
        _ tenant: String, _ prompt: [Int], prefix: [Int] = [], maxTokens: Int = 24,
        conversation: String? = nil
    ) -> JobSpec {
        JobSpec(
            tenant: tenant, weight: 1, prompt: prompt, personaPrefix: prefix,
            maxTokens: maxTokens, capacity: 1024, sampling: .greedy,
            stopIDs: RealModel.shared.stopIDs,
            conversationKey: conversation.map {
                ConversationCache.key(tenant: tenant, conversation: $0)
            })
    }

    static func engine() -> ModelEngine {
        var limits = EngineLimits()
        limits.prefillRowsPerDispatchMax = 32
        return ModelEngine(modelName: "real", device: RealModel.shared.device, limits: limits)
    }

    /// Runs `spec` alone on `engine` to its end.
    static func run(_ engine: ModelEngine, _ spec: JobSpec) throws -> (ids: [Int], JobResult) {
        let job = try SchedulerTests.start(engine, spec)
        while engine.step() {}
        return (job.takeTokens(), try #require(try job.outcomeIfFinished?.get()))
    }

    static func chat(_ messages: [(ChatMessage.Role, String)], generation: Bool = true) throws
        -> [Int]
    {
        let model = RealModel.shared
        return try model.template.encode(
            messages.map { ChatMessage(role: $0.0, content: $0.1) },
            addGenerationPrompt: generation, with: model.tokenizer)
    }

    static let system = String(
        repeating: "You are a careful guide to the tide pools of a rocky northern coast. ",
        count: 12)

    @Test("batched greedy replies, joined mid-flight, equal one-at-a-time decoding")
    func batchedGreedy() throws {
        let long = try Self.chat([(.system, Self.system), (.user, "What lives in a pool?")])
        let prompts = RealModel.referencePrompts + [long]
        let expected = try prompts.map { try Self.plain($0, maxTokens: 24) }

        // Two start, then the rest join while they decode.
        let engine = Self.engine()
        var jobs = try prompts.prefix(2).map {
            try SchedulerTests.start(engine, Self.spec("a", $0))
        }
        for _ in 0..<3 {
            engine.step()
        }
        jobs += try prompts.dropFirst(2).map {
            try SchedulerTests.start(engine, Self.spec("b", $0))
        }
        while engine.step() {}
        for (job, ids) in zip(jobs, expected) {
            #expect(job.takeTokens() == ids)
        }
        #expect(engine.status().batchSizes.contains { $0.sequences == prompts.count })
    }

    @Test("a persona's system prompt is computed once, copied, and the persona's alone")
    func prefixCache() throws {
        let prefix = try Self.chat([(.system, Self.system)], generation: false)
        let first = try Self.chat([(.system, Self.system), (.user, "Name a crab.")])
        let second = try Self.chat([(.system, Self.system), (.user, "Name a snail.")])
        let expected = try Self.plain(second, maxTokens: 24)
        let engine = Self.engine()

        // The first conversation computes the prefix; the second copies it.
        let (_, computed) = try Self.run(engine, Self.spec("guide", first, prefix: prefix))
        #expect(computed.stats.cachedPromptTokens == 0)
        let (ids, copied) = try Self.run(engine, Self.spec("guide", second, prefix: prefix))
        #expect(copied.stats.cachedPromptTokens == prefix.count)
        #expect(copied.promptTokensComputed == second.count - prefix.count)
        #expect(ids == expected)

        // Another persona with the very same prompt does not get the entry.
        let (otherIds, other) = try Self.run(engine, Self.spec("copycat", second, prefix: prefix))
        #expect(other.stats.cachedPromptTokens == 0)
        #expect(otherIds == expected)
    }

    @Test("the next turn of a conversation computes only what is new")
    func conversation() throws {
        let engine = Self.engine()
        let turn1: [(ChatMessage.Role, String)] = [(.system, "Be brief."), (.user, "Hi!")]
        let prompt1 = try Self.chat(turn1)
        let (ids1, _) = try Self.run(engine, Self.spec("a", prompt1, conversation: "c1"))
        let reply = try RealModel.shared.tokenizer.decode(ids1)

        let prompt2 = try Self.chat(turn1 + [(.assistant, reply), (.user, "Name a bird.")])
        // The reply's keys were computed token by token (decode order), so
        // the reference is the same two turns on one plain sequence, not a
        // fresh prefill of the whole conversation (Kernels/CPU/NUMERICS.md).
        let expected = try Self.plain(prompt2, maxTokens: 24, after: prompt1)
        let (ids2, result) = try Self.run(engine, Self.spec("a", prompt2, conversation: "c1"))
        #expect(result.stats.cachedPromptTokens >= prompt1.count)
        #expect(ids2 == expected)

        // The same conversation id under another persona starts afresh.
        let (_, other) = try Self.run(engine, Self.spec("b", prompt2, conversation: "c1"))
        #expect(other.stats.cachedPromptTokens == 0)
    }
}
