import Foundation
import Host

/// `GET /v1/models`: the personas, as models.
struct ModelList: Encodable {
    var object = "list"
    var data: [ModelEntry]
}

/// One persona as a model.
struct ModelEntry: Encodable {
    var id: String
    var object = "model"
    /// When the model was made, in Unix seconds; personas have no such date.
    var created = 0
    var ownedBy = "asthenosphere"

    enum CodingKeys: String, CodingKey {
        case id, object, created
        case ownedBy = "owned_by"
    }
}

/// `usage`: OpenAI's token counts, then the host's own figures under `x_`.
struct UsageShape: Encodable {
    var promptTokens: Int
    var completionTokens: Int
    var totalTokens: Int
    var promptTokensDetails: Details
    /// The charge in Motes (micro-Motes ÷ 10⁶).
    var motes: Double
    /// The charge as posted, in micro-Motes.
    var microMotes: Int64
    var draftedTokens: Int
    var acceptedTokens: Int
    var draftingDispatches: Int
    /// Accepted ÷ drafted, 0 to 1; absent when nothing was drafted.
    var acceptance: Double?
    /// Accepted drafts per dispatch that verified any; absent when none did.
    var meanAcceptedLength: Double?
    /// Dispatches per second ("tok/s") and output tokens per second
    /// ("eff tok/s") of the generation.
    var dispatchesPerSecond: Double
    var tokensPerSecond: Double
    var dispatches: Int
    var elapsedMs: Double
    var timeToFirstTokenMs: Double

    struct Details: Encodable {
        var cachedTokens: Int

        enum CodingKeys: String, CodingKey {
            case cachedTokens = "cached_tokens"
        }
    }

    init(_ usage: CompletionUsage) {
        promptTokens = usage.promptTokens
        completionTokens = usage.completionTokens
        totalTokens = usage.promptTokens + usage.completionTokens
        promptTokensDetails = Details(cachedTokens: usage.cachedPromptTokens)
        motes = Double(usage.microMotes) / 1_000_000
        microMotes = usage.microMotes
        draftedTokens = usage.draftedTokens
        acceptedTokens = usage.acceptedTokens
        draftingDispatches = usage.draftingDispatches
        acceptance = usage.acceptance
        meanAcceptedLength = usage.meanAcceptedLength
        dispatchesPerSecond = usage.dispatchesPerSecond
        tokensPerSecond = usage.tokensPerSecond
        dispatches = usage.dispatches
        elapsedMs = usage.elapsedMs
        timeToFirstTokenMs = usage.timeToFirstTokenMs
    }

    enum CodingKeys: String, CodingKey {
        case promptTokens = "prompt_tokens"
        case completionTokens = "completion_tokens"
        case totalTokens = "total_tokens"
        case promptTokensDetails = "prompt_tokens_details"
        case motes = "x_motes"
        case microMotes = "x_micro_motes"
        case draftedTokens = "x_drafted_tokens"
        case acceptedTokens = "x_accepted_tokens"
        case draftingDispatches = "x_drafting_dispatches"
        case acceptance = "x_acceptance"
        case meanAcceptedLength = "x_mean_accepted_length"
        case dispatchesPerSecond = "x_tok_s"
        case tokensPerSecond = "x_eff_tok_s"
        case dispatches = "x_dispatches"
        case elapsedMs = "x_elapsed_ms"
        case timeToFirstTokenMs = "x_time_to_first_token_ms"
    }
}

/// A whole answer or one streamed chunk, for either endpoint. The fields
/// OpenAI writes as null (`finish_reason` mid-stream, `logprobs`) are
/// written as null, not left out, since some clients index them.
struct CompletionShape: Encodable {
    /// `chatcmpl-…` or `cmpl-…`.
    var id: String
    /// `chat.completion`, `chat.completion.chunk` or `text_completion`.
    var object: String
    /// Unix seconds.
    var created: Int
    var model: String
    var choices: [Choice]
    var usage: UsageShape?

    /// The one choice: a message, a delta, or text.
    struct Choice: Encodable {
        enum Content {
            /// `message`: the whole reply.
            case message(String)
            /// `delta`: the role on the first chunk, then text.
            case delta(role: String?, content: String?)
            /// `text`: completions' reply or piece.
            case text(String)
        }

        var content: Content
        /// `stop` or `length`; nil mid-stream.
        var finishReason: String?

        func encode(to encoder: Encoder) throws {
            var container = encoder.container(keyedBy: Keys.self)
            try container.encode(0, forKey: .index)
            switch content {
            case .message(let text):
                try container.encode(["role": "assistant", "content": text], forKey: .message)
            case .delta(let role, let text):
                var delta: [String: String] = [:]
                delta["role"] = role
                delta["content"] = text
                try container.encode(delta, forKey: .delta)
            case .text(let text):
                try container.encode(text, forKey: .text)
            }
            try container.encode(finishReason, forKey: .finishReason)
            try container.encodeNil(forKey: .logprobs)
        }

        enum Keys: String, CodingKey {
            case index, message, delta, text, logprobs
            case finishReason = "finish_reason"
        }
    }

    func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(id, forKey: .id)
        try container.encode(object, forKey: .object)
        try container.encode(created, forKey: .created)
        try container.encode(model, forKey: .model)
        try container.encode(choices, forKey: .choices)
        try container.encodeIfPresent(usage, forKey: .usage)
    }

    enum Keys: String, CodingKey {
        case id, object, created, model, choices, usage
    }
}

/// `GET /health`: up, and nothing more to anyone without the token.
struct HealthShape: Encodable {
    var status = "ok"
}
