import Foundation
import GGUF
import Inference
import Personas
import Support
import Testing
import Tokenizer

@testable import Host

/// Personas that draft with a draft model, through `LocalHost`: greedy
/// replies are the plain persona's token for token, each job drafts with
/// its own cache on one draft model per engine, and a draft model that
/// cannot serve the target is refused with the evidence.
///
/// The only model with the default model's vocabulary is the default
/// model itself, so each draft persona names its own file as
/// `draft_model`: the drafts are then what the target picks, and nearly
/// all stand.
@Suite("LocalHost: personas with a draft model", .serialized, .enabled(if: RealModel.isAvailable))
struct HostDraftModelTests {
    /// A scratch folder of personas: `plain` decodes plainly, `drafter` and
    /// `twin` draft with the model itself, `combo` is `auto` with it, and
    /// `lost` and `lost-auto` name a draft model that is not there.
    final class Fixture {
        let scratch: Scratch
        let home: Home
        static let missing = "/nonexistent/draft.gguf"

        init() throws {
            scratch = try Scratch()
            let personas: [(String, String, String?)] = [
                ("plain", "off", nil), ("drafter", "draft", RealModel.path),
                ("twin", "draft", RealModel.path), ("combo", "auto", RealModel.path),
                ("lost", "draft", Self.missing), ("lost-auto", "auto", Self.missing),
            ]
            for (name, mode, draft) in personas {
                try scratch.write(
                    "\(name).toml",
                    """
                    model = "\(RealModel.path)"
                    max_tokens = 24
                    [sampling]
                    temperature = 0
                    [speculation]
                    mode = "\(mode)"
                    \(draft.map { "draft_model = \"\($0)\"" } ?? "")
                    """)
            }
            home = Home(url: scratch.url.appendingPathComponent("home"))
        }

        func host() -> LocalHost {
            LocalHost(
                host: PersonaHost(home: home, threads: 2),
                catalog: PersonaCatalog(directories: [scratch.url.path], isExplicit: true),
                metrics: nil, isDaemon: false, engineLimits: EngineLimits())
        }
    }

    /// The reference prompts as text, so that every persona renders the
    /// same raw prompt.
    static func referenceTexts() throws -> [String] {
        let model = try LanguageModel(url: URL(fileURLWithPath: RealModel.path), threads: 1)
        return try RealModel.referencePrompts.map { try model.tokenizer.decode($0) }
    }

    /// Sends `text` raw to `persona`; returns the reply's ids and usage.
    static func ask(_ host: LocalHost, _ persona: String, _ text: String) throws
        -> (ids: [Int], usage: CompletionUsage)
    {
        var request = CompletionRequest(persona: persona, input: .raw(text, special: false))
        request.returnsTokenIds = true
        let usage = try host.complete(request, cancellation: Cancellation()) { _ in }
        return (usage.outputIds ?? [], usage)
    }

    /// The engine of the default model, leased and handed back at once.
    static func engine(_ host: LocalHost) throws -> ModelEngine {
        let lease = try host.models.acquire(RealModel.path) { _ in }
        host.models.release(lease)
        return lease.engine
    }

    @Test("draft and auto with the model itself give the plain reply on every reference prompt")
    func referenceGreedy() throws {
        let fixture = try Fixture()
        let host = fixture.host()
        var (drafted, accepted) = (0, 0)
        for text in try Self.referenceTexts() {
            let (expected, _) = try Self.ask(host, "plain", text)
            for persona in ["drafter", "combo"] {
                let (ids, usage) = try Self.ask(host, persona, text)
                #expect(ids == expected, "\(persona): \(text.prefix(40))")
                #expect(usage.acceptedTokens <= usage.draftedTokens)
                if persona == "drafter" {
                    (drafted, accepted) = (
                        drafted + usage.draftedTokens, accepted + usage.acceptedTokens
                    )
                }
            }
        }

        // The drafts are the target's own picks: nearly every one stands.
        #expect(drafted > 0)
        #expect(Double(accepted) >= 0.95 * Double(drafted), "\(accepted) of \(drafted)")

        // One draft model on the engine, shared by both personas.
        #expect(try Self.engine(host).draftModels.count == 1)
        let memory = host.models.memoryStatus()
        let attributes = try FileManager.default.attributesOfItem(atPath: RealModel.path)
        let file = try #require((attributes[.size] as? NSNumber)?.intValue)
        let status = try #require(host.status().models.first)
        let lease = try host.models.acquire(RealModel.path) { _ in }
        host.models.release(lease)
        let own = ModelRegistry.costBytes(
            fileBytes: file, config: lease.model.config, limits: host.engineLimits)
        #expect(status.costBytes == own + file)
        #expect(memory.usedBytes == own + file)
    }

    @Test("two draft personas speculating at once in one engine each get their plain ids")
    func twoAtOnce() throws {
        let fixture = try Fixture()
        let host = fixture.host()
        let texts = Array(try Self.referenceTexts().prefix(2))
        let expected = try texts.map { try Self.ask(host, "plain", $0).ids }

        // Both replies run on client threads of their own, side by side.
        nonisolated(unsafe) var results: [(ids: [Int], usage: CompletionUsage)?] = [nil, nil]
        nonisolated(unsafe) var errors: [any Error] = []
        let lock = NSLock()
        let group = DispatchGroup()
        for (index, persona) in ["drafter", "twin"].enumerated() {
            DispatchQueue.global().async(group: group) {
                do {
                    let result = try Self.ask(host, persona, texts[index])
                    lock.withLock { results[index] = result }
                } catch {
                    lock.withLock { errors.append(error) }
                }
            }
        }
        group.wait()
        #expect(errors.isEmpty, "\(errors)")
        // Side by side, each is billed half of every shared dispatch, where
        // a draft model as large as the target seldom pays for its drafts:
        // whether the governors draft depends on measured costs, so only
        // the replies and the counts are pinned (`referenceGreedy` pins drafting).
        for index in 0..<2 {
            let result = try #require(results[index])
            #expect(result.ids == expected[index], "reply \(index)")
            #expect(result.usage.acceptedTokens <= result.usage.draftedTokens)
        }
        #expect(try Self.engine(host).draftModels.count == 1)
        // Whether the two overlap depends on the machine's timing, so this
        // test does not ask for a shared dispatch; EngineSpeculationTests
        // puts a drafting and a plain sequence in one dispatch step by step.
    }

    @Test("a draft model that cannot load: draft is refused, auto goes without it")
    func missingDraftModel() throws {
        let fixture = try Fixture()
        let host = fixture.host()
        let text = "One, two, three, four, one, two, three, four, one, two,"
        let (expected, _) = try Self.ask(host, "plain", text)
        let error = #expect(throws: DraftModelError.self) { try Self.ask(host, "lost", text) }
        let message = error.map(String.init(describing:)) ?? ""
        let file = fixture.scratch.url.appendingPathComponent("lost.toml").path
        for part in [file, "speculation.draft_model", Fixture.missing, "not found"] {
            #expect(message.contains(part), "\(message) lacks \(part)")
        }
        #expect(!message.contains("make model"), "the default model's hint: \(message)")
        let (ids, usage) = try Self.ask(host, "lost-auto", text)
        #expect(ids == expected)
        #expect(usage.acceptedTokens <= usage.draftedTokens)
        #expect(try Self.engine(host).draftModels.count == 0)
    }

    @Test("a draft model with another vocabulary is refused with the evidence")
    func vocabularyMismatch() throws {
        let fixture = try Fixture()
        let draft = fixture.scratch.url.appendingPathComponent("tiny-draft.gguf")
        try TinyDraftModel.write(to: draft, vocabulary: ["a", "b", "c", "d", "e"])
        try fixture.scratch.write(
            "mismatched.toml",
            """
            model = "\(RealModel.path)"
            [sampling]
            temperature = 0
            [speculation]
            mode = "auto"
            draft_model = "\(draft.path)"
            """)
        let host = fixture.host()
        let error = #expect(throws: DraftModelError.self) {
            try Self.ask(host, "mismatched", "Hello")
        }
        let text = error.map(String.init(describing:)) ?? ""
        let file = fixture.scratch.url.appendingPathComponent("mismatched.toml").path
        for part in [
            file, "draft_model", "tiny-draft", "5 tokens", "smollm2-135m-instruct", "49152",
        ] {
            #expect(text.contains(part), "\(text) lacks \(part)")
        }
    }

    @Test("a vocabulary of the same size that spells a token differently is refused")
    func vocabularyDiffers() throws {
        let scratch = try Scratch()
        let target = scratch.url.appendingPathComponent("target.gguf")
        let draft = scratch.url.appendingPathComponent("shifted.gguf")
        try TinyDraftModel.write(to: target, vocabulary: ["a", "b", "c", "d", "e"])
        try TinyDraftModel.write(to: draft, vocabulary: ["a", "b", "x", "d", "e"])
        let targetModel = try LanguageModel(url: target, threads: 1)
        #expect(
            throws: SpeculationError.vocabularyDiffers(
                draft: "shifted", target: "target", firstID: 2)
        ) {
            try DraftModelDrafter(
                draft: try LanguageModel(url: draft, threads: 1), target: targetModel,
                capacity: 16, settings: .greedy)
        }
        let twin = try LanguageModel(url: target, threads: 1)
        _ = try DraftModelDrafter(draft: twin, target: targetModel, capacity: 16, settings: .greedy)
    }
}

/// A llama model of one block with zero weights and a five-token
/// vocabulary: loadable, and a vocabulary no real model shares.
enum TinyDraftModel {
    static let embedding = 32
    static let feedForward = 64
    static let headCount = 2

    /// Writes the model, borrowing the default model's chat template.
    static func write(to url: URL, vocabulary: [String]) throws {
        let template = try GGUFFile(path: RealModel.path).string("tokenizer.chat_template")
        var builder = GGUFBuilder()
        let e = embedding
        let metadata: [(String, GGUFValue)] = [
            ("general.architecture", .string("llama")),
            ("llama.embedding_length", .uint32(UInt32(e))),
            ("llama.feed_forward_length", .uint32(UInt32(feedForward))),
            ("llama.block_count", .uint32(1)),
            ("llama.attention.head_count", .uint32(UInt32(headCount))),
            ("llama.attention.head_count_kv", .uint32(UInt32(headCount))),
            ("llama.context_length", .uint32(64)),
            ("llama.attention.layer_norm_rms_epsilon", .float32(1e-5)),
            ("llama.vocab_size", .uint32(UInt32(vocabulary.count))),
            ("tokenizer.ggml.model", .string("gpt2")),
            ("tokenizer.ggml.pre", .string("smollm")),
            ("tokenizer.ggml.tokens", .array(vocabulary.map { .string($0) })),
            ("tokenizer.ggml.merges", .array([])),
            ("tokenizer.chat_template", .string(template)),
        ]
        for (key, value) in metadata {
            builder.add(key, value)
        }

        // Tensors as [columns, rows], all zero.
        var tensors: [(String, [Int])] = [
            ("token_embd.weight", [e, vocabulary.count]), ("output_norm.weight", [e]),
        ]
        for name in ["attn_q", "attn_k", "attn_v", "attn_output"] {
            tensors.append(("blk.0.\(name).weight", [e, e]))
        }
        tensors += [
            ("blk.0.attn_norm.weight", [e]), ("blk.0.ffn_norm.weight", [e]),
            ("blk.0.ffn_gate.weight", [e, feedForward]), ("blk.0.ffn_up.weight", [e, feedForward]),
            ("blk.0.ffn_down.weight", [feedForward, e]),
        ]
        for (name, dimensions) in tensors {
            let bytes = [UInt8](repeating: 0, count: dimensions.reduce(4, *))
            builder.addTensor(name, dimensions: dimensions, type: .f32, data: bytes)
        }
        try Data(builder.build()).write(to: url)
    }
}
