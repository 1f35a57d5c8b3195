import Foundation
import Inference
import Personas
import Support
import Tokenizer

/// A request checked against its persona and rendered to token ids: what
/// the host holds Motes for and hands to a model's engine.
struct PreparedRequest: @unchecked Sendable {
    /// The persona that pays; nil for an unbilled raw completion.
    let persona: Persona?
    let request: CompletionRequest
    let model: LanguageModel
    /// The prompt, rendered and encoded.
    let prompt: [Int]
    /// The persona's system turn as ids: the part every conversation of the
    /// persona shares, which the prefix cache keeps. Empty for raw input.
    let personaPrefix: [Int]
    /// Tokens the reply may take at most.
    let maxTokens: Int
    /// Positions the sequence's KV cache holds.
    let contextTokens: Int
    let sampling: SamplingSettings
    /// Oldest chat messages left out to fit the context.
    let droppedMessages: Int

    /// The scheduler's tenant: the persona's name, or `-` for raw requests.
    var tenant: String { persona?.name ?? Self.unbilledTenant }
    /// The tenant's weight in the fair share of device time.
    var weight: Int { persona?.economy.priority ?? Persona.Economy().priority }

    /// The tenant name of requests that no persona pays for.
    static let unbilledTenant = "-"

    /// What the model's engine runs.
    var jobSpec: JobSpec {
        JobSpec(
            tenant: tenant, weight: weight, prompt: prompt, personaPrefix: personaPrefix,
            maxTokens: maxTokens, capacity: contextTokens, sampling: sampling,
            stopIDs: model.stopIDs,
            conversationKey: request.conversation.map {
                ConversationCache.key(tenant: tenant, conversation: $0)
            })
    }
}

/// The ranges a request may override sampling within: the persona file's
/// own ranges (`Personas/README.md`), so that a request can ask for nothing
/// a persona file could not say.
enum OverrideRange {
    static let temperature = 0.0...2.0
    static let topK = 0...Limits.Personas.topKMax
    /// top_p is in (0, 1].
    static let topP = 0.0...1.0
    /// min_p is in [0, 1).
    static let minP = 0.0...1.0
    static let repeatPenalty = 1.0...2.0
}

extension PreparedRequest {
    /// The persona's sampling with the request's overrides, each checked.
    ///
    /// - Throws: `HostError.badRequest` naming the field, the value and the range.
    static func sampling(_ base: Persona.Sampling, _ r: CompletionRequest) throws
        -> SamplingSettings
    {
        var s = base
        if let t = r.temperature {
            try check("temperature", t, OverrideRange.temperature.contains(t), "0 to 2")
            s.temperature = t
        }
        if let k = r.topK {
            let limit = "0 to \(Limits.Personas.topKMax)"
            try check("top_k", k, OverrideRange.topK.contains(k), limit)
            s.topK = k
        }
        if let p = r.topP {
            try check("top_p", p, p > 0 && p <= 1, "above 0, at most 1")
            s.topP = p
        }
        if let p = r.minP {
            try check("min_p", p, p >= 0 && p < 1, "at least 0, below 1")
            s.minP = p
        }
        if let penalty = r.repeatPenalty {
            try check(
                "repeat_penalty", penalty, OverrideRange.repeatPenalty.contains(penalty), "1 to 2")
            s.repeatPenalty = penalty
        }
        if let seed = r.seed {
            s.seed = seed
        }
        return s.settings
    }

    /// The reply's token budget: the request's, within the persona's.
    static func replyTokens(_ requested: Int?, personaMax: Int?) throws -> Int {
        let ceiling = personaMax ?? Limits.Personas.replyTokensMax
        guard let requested else { return ceiling }
        try check("max_tokens", requested, (1...ceiling).contains(requested), "1 to \(ceiling)")
        return requested
    }

    private static func check<T>(_ field: String, _ value: T, _ ok: Bool, _ limit: String)
        throws
    {
        guard ok else {
            throw HostError.badRequest(field: field, value: "\(value)", limit: limit)
        }
    }
}

extension PreparedRequest {
    /// Tokens kept free for the reply when deciding which old messages to
    /// leave out.
    static let replyTokensMin = 64

    /// The chat rendered with the persona's system prompt, leaving out the
    /// oldest exchanges until a reply of at least `replyTokensMin` fits.
    ///
    /// - Throws: `HostError.contextExceeded` when the newest message alone
    ///   leaves no room.
    static func renderChat(
        _ messages: [ChatMessage], persona: Persona?, model: LanguageModel, contextTokens: Int,
        replyTokensMax: Int
    ) throws -> (ids: [Int], dropped: Int) {
        var system: [ChatMessage] = []
        var turns = messages
        if let first = turns.first, first.role == .system {
            system = [first]
            turns.removeFirst()
        } else if let persona, !persona.systemPrompt.isEmpty {
            system = [ChatMessage(role: .system, content: persona.systemPrompt)]
        }
        let room = min(replyTokensMax, replyTokensMin)
        var dropped = 0
        while true {
            let ids = try model.template.encode(
                system + turns, addGenerationPrompt: true, with: model.tokenizer)
            if ids.count + room <= contextTokens {
                return (ids, dropped)
            }
            guard turns.count > 1 else {
                throw HostError.contextExceeded(
                    promptTokens: ids.count, contextTokens: contextTokens)
            }
            // Drop a user turn with the reply that followed it.
            let pair = turns.count >= 2 && turns[1].role == .assistant ? 2 : 1
            turns.removeFirst(pair)
            dropped += pair
        }
    }

    /// The persona's system turn as ids: its own prompt, or the template's
    /// default when it has none. Empty when there is no system turn.
    static func systemPrefix(persona: Persona, model: LanguageModel) throws -> [Int] {
        let text =
            persona.systemPrompt.isEmpty
            ? model.template.defaultSystemPrompt : persona.systemPrompt
        guard let text, !text.isEmpty else { return [] }
        return try model.template.encode(
            [ChatMessage(role: .system, content: text)], addGenerationPrompt: false,
            with: model.tokenizer)
    }
}

extension Persona.Sampling {
    /// The persona's sampling as the sampler takes it.
    public var settings: SamplingSettings {
        SamplingSettings(
            temperature: Float(temperature), topK: topK, topP: Float(topP), minP: Float(minP),
            repeatPenalty: Float(repeatPenalty), repeatLastN: repeatLastN, seed: seed)
    }
}
