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
    static func plain(_ prompt: [Int], maxTokens: Int) throws -> [Int] {
        let model = RealModel.shared
        let sequence = model.makeSequence(capacity: prompt.count + maxTokens)
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
        let (ids2, result) = try Self.run(engine, Self.spec("a", prompt2, conversation: "c1"))
        #expect(result.stats.cachedPromptTokens >= prompt1.count)

        // The same turns on one kept sequence, as plain decoding runs them:
        // the reply's keys come from decode rows in both. (Decode rows and
        // prefill rows need not agree to the last bit, so a whole prefill of
        // the second prompt is not the reference.)
        let model = RealModel.shared
        let sequence = model.makeSequence(capacity: 1024)
        let generator = Generator(device: model.device, prefillChunk: 32)
        var expected: [[Int]] = []
        for prompt in [prompt1, prompt2] {
            var sampler = Sampler(settings: .greedy)
            var ids: [Int] = []
            _ = try generator.generate(
                prompt: prompt, on: sequence, maxTokens: 24, sampler: &sampler,
                stopIDs: model.stopIDs
            ) { id in
                ids.append(id)
                return true
            }
            expected.append(ids)
        }
        #expect([ids1, ids2] == expected)

        // The same conversation id under another persona starts afresh.
        let (_, other) = try Self.run(engine, Self.spec("b", prompt2, conversation: "c1"))
        #expect(other.stats.cachedPromptTokens == 0)
    }
}
