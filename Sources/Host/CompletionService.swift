import Foundation
import Ledger
import Personas
import Synchronization
import Tokenizer

/// One generation as every front end submits it: `asth chat`, the Unix
/// socket and the OpenAI-compatible HTTP API.
public struct CompletionRequest: Sendable {
    /// What the model continues.
    public enum Input: Sendable {
        /// A conversation, rendered with the model's chat template after the
        /// persona's system prompt (a system message here replaces it).
        case chat([ChatMessage])
        /// A raw prompt; `special` parses `<|...|>` markers in it.
        case raw(String, special: Bool)
    }

    /// The persona that answers and pays. Empty for a raw completion on
    /// `model` that is priced but charged to nobody (`asth complete`).
    public var persona: String
    public var input: Input
    /// Makes a retry harmless: the ledger charges one id once.
    public var requestId: String
    /// The model of a request with no persona: a store name or a `.gguf`
    /// path. Ignored when `persona` is set: a persona always uses its own.
    public var model: String?
    /// A conversation whose KV cache the host keeps between requests, so
    /// that earlier turns are not computed again. Entries are the persona's
    /// alone; nil keeps nothing.
    public var conversation: String?
    /// Whether `CompletionUsage.outputIds` should carry the generated ids.
    public var returnsTokenIds = false
    /// At most the persona's `max_tokens`; nil takes it.
    public var maxTokens: Int?
    /// Overrides of the persona's sampling, each within the persona file's ranges.
    public var temperature: Double?
    public var topP: Double?
    public var topK: Int?
    public var minP: Double?
    public var repeatPenalty: Double?
    public var seed: UInt64?

    public init(
        persona: String, input: Input, requestId: String = UUID().uuidString.lowercased(),
        maxTokens: Int? = nil
    ) {
        self.persona = persona
        self.input = input
        self.requestId = requestId
        self.maxTokens = maxTokens
    }
}

/// What a finished generation did: counts, timing, speculation and charge.
public struct CompletionUsage: Sendable, Codable, Equatable {
    public var promptTokens = 0
    /// Prompt tokens served from a cache, not computed.
    public var cachedPromptTokens = 0
    public var completionTokens = 0
    public var dispatches = 0
    public var elapsedMs = 0.0
    /// Device time attributed to this request: its rows' share of each
    /// dispatch it rode. What the ledger charges as latency.
    public var deviceMs = 0.0
    public var timeToFirstTokenMs = 0.0
    /// Draft tokens proposed and accepted by speculation.
    public var draftedTokens = 0
    public var acceptedTokens = 0
    /// Dispatches that verified at least one draft token.
    public var draftingDispatches = 0
    /// Times the persona's governor switched speculation off during the reply.
    public var speculationPauses = 0
    /// The charge posted to the persona's account.
    public var microMotes: Int64 = 0
    /// "end", "length", "cancelled" or "context".
    public var stopReason = "end"
    /// Oldest chat messages left out so that the conversation fits the
    /// context; the caller drops them from its own copy too.
    public var droppedMessages = 0
    /// The generated ids, when the request asked for them.
    public var outputIds: [Int]?

    public init() {}

    /// Reads every field that is present and defaults the rest, so that a
    /// newer peer's usage (more fields) and an older one's (fewer) both read.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        promptTokens = try c.decodeIfPresent(Int.self, forKey: .promptTokens) ?? 0
        cachedPromptTokens = try c.decodeIfPresent(Int.self, forKey: .cachedPromptTokens) ?? 0
        completionTokens = try c.decodeIfPresent(Int.self, forKey: .completionTokens) ?? 0
        dispatches = try c.decodeIfPresent(Int.self, forKey: .dispatches) ?? 0
        elapsedMs = try c.decodeIfPresent(Double.self, forKey: .elapsedMs) ?? 0
        deviceMs = try c.decodeIfPresent(Double.self, forKey: .deviceMs) ?? 0
        timeToFirstTokenMs = try c.decodeIfPresent(Double.self, forKey: .timeToFirstTokenMs) ?? 0
        draftedTokens = try c.decodeIfPresent(Int.self, forKey: .draftedTokens) ?? 0
        acceptedTokens = try c.decodeIfPresent(Int.self, forKey: .acceptedTokens) ?? 0
        draftingDispatches = try c.decodeIfPresent(Int.self, forKey: .draftingDispatches) ?? 0
        speculationPauses = try c.decodeIfPresent(Int.self, forKey: .speculationPauses) ?? 0
        microMotes = try c.decodeIfPresent(Int64.self, forKey: .microMotes) ?? 0
        stopReason = try c.decodeIfPresent(String.self, forKey: .stopReason) ?? "end"
        droppedMessages = try c.decodeIfPresent(Int.self, forKey: .droppedMessages) ?? 0
        outputIds = try c.decodeIfPresent([Int].self, forKey: .outputIds)
    }
}

/// What a generation reports while it runs.
public enum CompletionEvent: Sendable {
    /// Its model is loading: a step of the load, before any text.
    case progress(ModelLoadProgress)
    /// The next piece of text, whole characters only.
    case text(String)
    /// The generation ended; the usage is final and charged.
    case done(CompletionUsage)
}

/// How far the load of a request's model has come.
public struct ModelLoadProgress: Sendable, Codable, Equatable {
    public var model: String
    /// `mapping` (the load began), `binding` (one more block's weights
    /// bound), `tokenizer`, `device`, then `ready` (the engine runs).
    public var stage: String
    /// The loader's steps done over all, 0 to 1: a count of real steps,
    /// not a time estimate.
    public var fraction: Double

    public init(model: String, stage: String, fraction: Double) {
        self.model = model
        self.stage = stage
        self.fraction = fraction
    }
}

extension CompletionRequest {
    /// The positions a raw prompt of `promptTokens` gets: the prompt and up
    /// to `replyTokens` more, within the model's `contextLength`. The reply
    /// may take what is left past the prompt.
    ///
    /// - Throws: `HostError.contextExceeded` when the prompt leaves no room.
    public static func rawContextTokens(promptTokens: Int, replyTokens: Int, contextLength: Int)
        throws -> Int
    {
        let contextTokens = min(promptTokens + replyTokens, contextLength)
        guard promptTokens < contextTokens else {
            throw HostError.contextExceeded(
                promptTokens: promptTokens, contextTokens: contextTokens)
        }
        return contextTokens
    }
}

/// Why the host turned a request away. Front ends map each case to their
/// own shape: an exit code, a socket error event, an HTTP status.
public enum HostError: Error, CustomStringConvertible, Equatable {
    /// No persona of that name (HTTP 404).
    case unknownPersona(name: String)
    /// A request field out of range (HTTP 400).
    case badRequest(field: String, value: String, limit: String)
    /// The prompt leaves no room for a reply in the context (HTTP 400).
    case contextExceeded(promptTokens: Int, contextTokens: Int)
    /// The queue is full; nothing was charged (HTTP 429 with Retry-After).
    case busy(queueDepth: Int, retryAfterSeconds: Int)
    /// The budget cannot cover the worst case (HTTP 402).
    case refused(Refusal)

    public var description: String {
        switch self {
        case .unknownPersona(let name):
            return "unknown persona '\(name)' (see `asth personas list`)"
        case .badRequest(let field, let value, let limit):
            return "\(field) = \(value): out of range (limit: \(limit))"
        case .contextExceeded(let promptTokens, let contextTokens):
            return "prompt of \(promptTokens) tokens leaves no room for a reply in a context of"
                + " \(contextTokens) tokens"
        case .busy(let depth, let retry):
            return "busy: \(depth) requests queued; try again in \(retry) s"
        case .refused(let refusal):
            return refusal.description
        }
    }
}

/// A flag a front end sets when its client goes away or presses Ctrl-C; the
/// generation stops within one dispatch.
public final class Cancellation: Sendable {
    private let flag = Atomic<Bool>(false)

    public init() {}

    public func cancel() {
        flag.store(true, ordering: .relaxed)
    }

    public var isCancelled: Bool { flag.load(ordering: .relaxed) }
}

/// The host as front ends see it.
public protocol CompletionService: AnyObject, Sendable {
    /// The personas that can answer, by name.
    func personas() -> [Persona]

    /// Runs one generation to its end, calling `events` on the caller's
    /// thread for each piece of text and once with `.done`. Blocks the
    /// caller until then.
    ///
    /// - Throws: `HostError` for a refusal before any compute; inference and
    ///   ledger errors as they come.
    @discardableResult
    func complete(
        _ request: CompletionRequest, cancellation: Cancellation,
        events: (CompletionEvent) -> Void
    ) throws -> CompletionUsage
}

/// One round trip to the device, as the metrics keep it.
public struct DispatchRecord: Sendable, Equatable {
    public var time: Date
    public var device: String
    public var model: String
    /// Sequences whose rows rode on this dispatch.
    public var sequences: Int
    /// Rows (positions) in the dispatch, prefill and drafts included.
    public var positions: Int
    public var draftedTokens: Int
    public var acceptedTokens: Int
    public var elapsedMs: Double
    /// False when the dispatch threw.
    public var completed: Bool

    public init(
        time: Date, device: String, model: String, sequences: Int, positions: Int,
        draftedTokens: Int = 0, acceptedTokens: Int = 0, elapsedMs: Double, completed: Bool = true
    ) {
        self.time = time
        self.device = device
        self.model = model
        self.sequences = sequences
        self.positions = positions
        self.draftedTokens = draftedTokens
        self.acceptedTokens = acceptedTokens
        self.elapsedMs = elapsedMs
        self.completed = completed
    }
}

/// One finished reply, as the metrics keep it.
public struct ReplyRecord: Sendable, Equatable {
    public var time: Date
    public var persona: String
    /// The conversation or client session it belongs to.
    public var session: String
    public var model: String
    public var device: String
    public var usage: CompletionUsage

    public init(
        time: Date, persona: String, session: String, model: String, device: String,
        usage: CompletionUsage
    ) {
        self.time = time
        self.persona = persona
        self.session = session
        self.model = model
        self.device = device
        self.usage = usage
    }
}

/// Where the host sends its records. Implementations must not block the
/// caller (it is the generating thread): queue and write elsewhere.
public protocol MetricsSink: Sendable {
    func record(_ dispatch: DispatchRecord)
    func record(_ reply: ReplyRecord)
}
