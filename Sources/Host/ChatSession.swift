import Foundation
import Inference
import Ledger
import Personas
import Support
import Tokenizer

/// One conversation with a persona: the turns so far, the KV cache that
/// holds them, and the ledger that pays for each reply.
///
/// Each reply re-renders the conversation with the chat template; the part
/// the cache already holds is not computed again. When the conversation no
/// longer fits the context, the oldest turns go first; the system prompt
/// always stays.
public final class ChatSession {
    /// Positions a conversation may use unless the caller says otherwise.
    public static let contextTokensDefault = 2048

    public let persona: Persona
    public let model: LanguageModel
    public let ledger: Ledger
    /// Positions the conversation may use (prompt and reply together).
    public let contextTokens: Int
    /// User and assistant turns, oldest first; the system prompt is apart.
    public private(set) var turns: [ChatMessage] = []
    /// Where dispatch and reply records go; nil keeps none.
    public let metrics: MetricsSink?
    /// Names this conversation in the reply records.
    public let sessionId = UUID().uuidString.lowercased()

    private let sequence: TokenSequence
    private var sampler: Sampler
    private let log = Log("chat")

    /// What one reply did.
    public struct Reply {
        public var text: String
        public var stats: GenerationStats
        public var charge: Charge
        /// Oldest turns dropped to make room before this reply.
        public var droppedTurns: Int
    }

    init(
        persona: Persona, model: LanguageModel, ledger: Ledger, contextTokens: Int,
        metrics: MetricsSink? = nil
    ) {
        self.persona = persona
        self.metrics = metrics
        self.model = model
        self.ledger = ledger
        self.contextTokens = min(contextTokens, model.config.contextLength)
        self.sequence = model.makeSequence(capacity: self.contextTokens)
        self.sampler = Sampler(settings: persona.sampling.settings)
    }

    /// Sends a user turn and streams the reply.
    ///
    /// - Parameter onText: gets each complete piece of text; returning false
    ///   stops the reply (what was produced is kept and charged).
    /// - Throws: `ChatError` when the message cannot fit; inference and
    ///   ledger errors as they come.
    public func send(_ text: String, onText: (String) -> Bool) throws -> Reply {
        turns.append(ChatMessage(role: .user, content: text))
        let prompt: [Int]
        let dropped: Int
        do {
            (prompt, dropped) = try fitPrompt()
        } catch {
            turns.removeLast()
            throw error
        }
        let maxTokens = min(persona.maxTokens, contextTokens - prompt.count)

        // Reserve the worst case before any compute; refused means no reply.
        let requestId = UUID().uuidString.lowercased()
        do {
            try hold(requestId: requestId, promptTokens: prompt.count, maxTokens: maxTokens)
        } catch {
            turns.removeLast()
            throw error
        }

        // Generate; whatever happens, settle the hold for what was produced.
        var produced = GenerationStats()
        produced.promptTokens = prompt.count
        let reply: String
        let stats: GenerationStats
        do {
            (reply, stats) = try generate(
                prompt: prompt, maxTokens: maxTokens, produced: &produced.outputTokens,
                onText: onText)
        } catch {
            let charge = try? settle(usage(of: produced, requestId: requestId))
            recordReply(produced, charge: charge, outcome: "error")
            turns.removeLast()
            throw error
        }
        turns.append(ChatMessage(role: .assistant, content: reply))
        let charge = try settle(usage(of: stats, requestId: requestId))
        recordReply(stats, charge: charge, outcome: stats.stopReason.rawValue)
        log.info(
            "reply",
            [
                "persona": persona.name, "tokens": stats.outputTokens,
                "micro_motes": charge.amount.rawValue,
            ])
        return Reply(text: reply, stats: stats, charge: charge, droppedTurns: dropped)
    }

    /// Posts the reply's hold at the price of what it used. A reply that
    /// outlived its hold (a very slow device, a suspended process) is still
    /// charged: as a plain charge, which the ledger refuses only when the
    /// balance cannot cover it.
    private func settle(_ usage: Usage) throws -> Charge {
        do {
            return try ledger.post(usage: usage)
        } catch LedgerError.holdNotOpen(_, .expired) {
            log.warn("hold expired before the reply ended", ["request": usage.requestId])
            return try ledger.record(usage: usage)
        }
    }

    /// Places the hold for one reply, or throws the ledger's refusal.
    private func hold(requestId: String, promptTokens: Int, maxTokens: Int) throws {
        let timeout = try Self.holdTimeout()
        let estimate = try ledger.estimate(
            parameterCount: Int64(model.parameterCount), promptTokens: Int64(promptTokens),
            maxOutputTokens: Int64(maxTokens), device: model.device.name)
        try ledger.hold(
            persona: persona.name, requestId: requestId, amount: estimate,
            device: model.device.name, timeout: timeout)
    }

    /// Sends the reply's record to the metrics sink, if there is one.
    private func recordReply(_ stats: GenerationStats, charge: Charge?, outcome: String) {
        guard let metrics else { return }
        var usage = CompletionUsage()
        usage.promptTokens = stats.promptTokens
        usage.cachedPromptTokens = stats.cachedPromptTokens
        usage.completionTokens = stats.outputTokens
        usage.dispatches = stats.dispatches
        usage.elapsedMs = stats.elapsed.milliseconds
        usage.timeToFirstTokenMs = stats.timeToFirstToken.milliseconds
        usage.microMotes = charge?.amount.rawValue ?? 0
        usage.stopReason = outcome
        metrics.record(
            ReplyRecord(
                time: Date(), persona: persona.name, session: sessionId, model: model.name,
                device: model.device.name, usage: usage))
    }

    /// How long a reply's hold lives if the process dies before settling it,
    /// unless `ASTH_HOLD_TIMEOUT_MS` says otherwise.
    static let holdTimeoutDefault = Duration.seconds(600)

    /// The variable that sets the hold timeout in milliseconds. The crash
    /// test shortens it to watch the holds of killed processes expire.
    static let holdTimeoutVariable = "ASTH_HOLD_TIMEOUT_MS"

    /// The hold timeout `environment` asks for, within
    /// `Limits.Chat.holdTimeoutMsMin` and `Limits.Ledger.holdTimeoutMsMax`.
    static func holdTimeout(
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> Duration {
        guard let text = environment[holdTimeoutVariable] else { return holdTimeoutDefault }
        let range = Limits.Chat.holdTimeoutMsMin...Limits.Ledger.holdTimeoutMsMax
        guard let timeoutMs = Int64(text), range.contains(timeoutMs) else {
            throw ChatError.holdTimeoutOutOfRange(
                variable: holdTimeoutVariable, value: text, minMs: range.lowerBound,
                maxMs: range.upperBound)
        }
        return .milliseconds(timeoutMs)
    }

    /// Runs the generation, decoding text as whole characters arrive.
    private func generate(
        prompt: [Int], maxTokens: Int, produced: inout Int, onText: (String) -> Bool
    ) throws -> (String, GenerationStats) {
        var decoder = StreamDecoder(tokenizer: model.tokenizer)
        var reply = ""
        let device = metrics.map {
            MeteredDevice(base: model.device, model: model.name, sink: $0)
        }
        let stats = try Generator(device: device ?? model.device).generate(
            prompt: prompt, on: sequence, maxTokens: maxTokens, sampler: &sampler,
            stopIDs: model.stopIDs
        ) { id in
            produced += 1
            let piece = (try? decoder.push(id)) ?? ""
            reply += piece
            return piece.isEmpty || onText(piece)
        }
        let tail = decoder.finish()
        reply += tail
        if !tail.isEmpty {
            _ = onText(tail)
        }
        return (reply, stats)
    }

    /// Forgets every turn (the system prompt stays).
    public func reset() {
        turns.removeAll()
    }

    /// The prompt ids for the turns, dropping the oldest exchanges until
    /// there is room for at least a short reply.
    private func fitPrompt() throws -> (ids: [Int], droppedTurns: Int) {
        let replyRoomMin = min(persona.maxTokens, Self.replyTokensMin)
        var dropped = 0
        while true {
            let ids = try model.template.encode(
                messages(), addGenerationPrompt: true, with: model.tokenizer)
            if ids.count + replyRoomMin <= contextTokens {
                return (ids, dropped)
            }
            guard turns.count > 1 else {
                turns.removeAll()
                throw ChatError.messageTooLong(
                    tokens: ids.count, contextTokens: contextTokens, replyRoom: replyRoomMin)
            }
            turns.removeFirst(turns.count >= 2 && turns[1].role == .assistant ? 2 : 1)
            dropped += 1
        }
    }

    /// Tokens kept free for the reply when deciding what to drop.
    static let replyTokensMin = 64

    /// The system prompt (if any) and the turns.
    private func messages() -> [ChatMessage] {
        let system =
            persona.systemPrompt.isEmpty
            ? [] : [ChatMessage(role: .system, content: persona.systemPrompt)]
        return system + turns
    }

    private func usage(of stats: GenerationStats, requestId: String) -> Usage {
        Usage(
            requestId: requestId, persona: persona.name, model: model.name,
            parameterCount: Int64(model.parameterCount),
            promptTokens: Int64(stats.promptTokens - stats.cachedPromptTokens),
            cachedPromptTokens: Int64(stats.cachedPromptTokens),
            outputTokens: Int64(stats.outputTokens),
            elapsedMs: Int64(stats.elapsed.milliseconds.rounded(.up)), device: model.device.name)
    }
}

/// Why a chat turn was refused.
public enum ChatError: Error, CustomStringConvertible, Equatable {
    /// The newest message alone leaves no room for a reply.
    case messageTooLong(tokens: Int, contextTokens: Int, replyRoom: Int)
    /// The hold timeout variable is not a whole number of milliseconds in range.
    case holdTimeoutOutOfRange(variable: String, value: String, minMs: Int64, maxMs: Int64)

    public var description: String {
        switch self {
        case .messageTooLong(let tokens, let contextTokens, let replyRoom):
            return "message too long: \(tokens) tokens with the system prompt; the context"
                + " holds \(contextTokens) and a reply needs \(replyRoom); send a shorter one"
        case .holdTimeoutOutOfRange(let variable, let value, let minMs, let maxMs):
            return "\(variable) = '\(value)': expected whole milliseconds from \(minMs)"
                + " to \(maxMs), or unset it for the default"
        }
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
