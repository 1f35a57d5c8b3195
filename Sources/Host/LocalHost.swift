import Foundation
import Inference
import Ledger
import Personas
import Support
import Synchronization
import Tokenizer

/// The host in this process: the `CompletionService` every front end uses
/// when it owns the device (`asth serve`, or `asth chat` with no daemon).
///
/// A request is resolved to its persona, checked, rendered with the chat
/// template, held against the persona's budget, run on its model's engine,
/// and settled in the ledger for what it produced.
public final class LocalHost: CompletionService, @unchecked Sendable {
    public let host: PersonaHost
    public let catalog: PersonaCatalog
    public let metrics: (any MetricsSink)?

    private let runner: SerialRunner
    /// Personas whose ledger account is set up in this process. Guarded by itself.
    private let accounts = Mutex<Set<String>>([])
    private let log = Log("host")

    public init(host: PersonaHost, catalog: PersonaCatalog, metrics: (any MetricsSink)? = nil) {
        self.host = host
        self.catalog = catalog
        self.metrics = metrics
        self.runner = SerialRunner(metrics: metrics)
    }

    public func personas() -> [Persona] {
        catalog.list()
    }

    @discardableResult
    public func complete(
        _ request: CompletionRequest, cancellation: Cancellation,
        events: (CompletionEvent) -> Void
    ) throws -> CompletionUsage {
        let prepared = try prepare(request)
        let billing = try Billing(holding: prepared, ledger: try ledger(for: prepared))

        // Run, decoding text as whole characters arrive; whatever happens,
        // settle the hold for what was produced.
        let start = ContinuousClock.now
        var decoder = StreamDecoder(tokenizer: prepared.model.tokenizer)
        var ids: [Int] = []
        let stats: GenerationStats
        do {
            stats = try runner.run(prepared, cancellation: cancellation) { id in
                ids.append(id)
                let piece = (try? decoder.push(id)) ?? ""
                if !piece.isEmpty { events(.text(piece)) }
            }
        } catch {
            var partial = CompletionUsage()
            partial.promptTokens = prepared.prompt.count
            partial.completionTokens = ids.count
            partial.elapsedMs = (ContinuousClock.now - start).milliseconds
            _ = try? billing.settle(partial, promptTokensComputed: partial.promptTokens)
            throw error
        }
        let tail = decoder.finish()
        if !tail.isEmpty { events(.text(tail)) }

        var usage = CompletionUsage(stats, prepared: prepared)
        if request.returnsTokenIds { usage.outputIds = ids }
        usage.microMotes = try billing.settle(
            usage, promptTokensComputed: usage.promptTokens - usage.cachedPromptTokens)
        report(usage, prepared: prepared)
        events(.done(usage))
        return usage
    }

    /// The ledger for a billed request, with the persona's account set up
    /// once per process; nil for an unbilled one.
    private func ledger(for prepared: PreparedRequest) throws -> Ledger? {
        guard let persona = prepared.persona else { return nil }
        let ledger = try host.ledger()
        let key =
            "\(persona.name) \(persona.economy.allowanceMicroMotes) \(persona.economy.refillPeriod)"
        if accounts.withLock({ $0.contains(key) }) { return ledger }
        try ledger.ensureAccount(
            persona: persona.name, allowance: MicroMotes(persona.economy.allowanceMicroMotes),
            periodSeconds: persona.economy.refillPeriod.seconds)
        accounts.withLock { _ = $0.insert(key) }
        return ledger
    }

    private func report(_ usage: CompletionUsage, prepared: PreparedRequest) {
        log.info(
            "reply",
            [
                "persona": prepared.tenant, "tokens": usage.completionTokens,
                "micro_motes": usage.microMotes, "stop": usage.stopReason,
            ])
        metrics?.record(
            ReplyRecord(
                time: Date(), persona: prepared.tenant,
                session: prepared.request.conversation ?? prepared.request.requestId,
                model: prepared.model.name, device: prepared.model.device.name, usage: usage))
    }
}

// MARK: - Preparing a request

extension LocalHost {
    /// Resolves the persona and model, checks the overrides and renders the
    /// prompt.
    func prepare(_ request: CompletionRequest) throws -> PreparedRequest {
        // The persona, or the model of an unbilled raw request.
        let persona: Persona?
        let model: LanguageModel
        if request.persona.isEmpty {
            guard let reference = request.model, !reference.isEmpty else {
                throw HostError.badRequest(
                    field: "persona", value: "\"\"", limit: "a persona, or a model for a raw prompt"
                )
            }
            persona = nil
            model = try host.model(reference)
        } else {
            persona = try lookup(request.persona)
            model = try host.model(persona!.model.description)
        }
        let sampling = try PreparedRequest.sampling(persona?.sampling ?? .init(), request)
        let replyMax = try PreparedRequest.replyTokens(
            request.maxTokens, personaMax: persona?.maxTokens)

        // The prompt, and the positions its sequence may use.
        let prompt: [Int]
        let contextTokens: Int
        var dropped = 0
        var prefix: [Int] = []
        switch request.input {
        case .chat(let messages):
            guard messages.count <= Limits.Host.chatMessagesMax else {
                throw HostError.badRequest(
                    field: "messages", value: "\(messages.count) messages",
                    limit: "at most \(Limits.Host.chatMessagesMax)")
            }
            contextTokens = min(Limits.Host.conversationTokensMax, model.config.contextLength)
            (prompt, dropped) = try PreparedRequest.renderChat(
                messages, persona: persona, model: model, contextTokens: contextTokens,
                replyTokensMax: replyMax)
            if let persona {
                prefix = try PreparedRequest.systemPrefix(persona: persona, model: model)
            }
        case .raw(let text, let special):
            prompt = try model.tokenizer.encode(text, parseSpecial: special, addSpecial: true)
            guard !prompt.isEmpty else {
                throw HostError.badRequest(
                    field: "prompt", value: "\"\"", limit: "at least one token")
            }
            contextTokens = min(prompt.count + replyMax, model.config.contextLength)
        }
        guard prompt.count < contextTokens else {
            throw HostError.contextExceeded(
                promptTokens: prompt.count, contextTokens: contextTokens)
        }
        return PreparedRequest(
            persona: persona, request: request, model: model, prompt: prompt,
            personaPrefix: prefix, maxTokens: min(replyMax, contextTokens - prompt.count),
            contextTokens: contextTokens, sampling: sampling, droppedMessages: dropped)
    }

    /// The persona called `name`.
    ///
    /// - Throws: `HostError.unknownPersona` when no file defines it;
    ///   `PersonaError.invalid` when the file that claims it is broken.
    private func lookup(_ name: String) throws -> Persona {
        do {
            return try catalog.persona(named: name)
        } catch .notFound {
            throw HostError.unknownPersona(name: name)
        }
    }
}

extension CompletionUsage {
    /// The usage of a run, before its charge is known.
    init(_ stats: GenerationStats, prepared: PreparedRequest) {
        self.init()
        promptTokens = stats.promptTokens
        cachedPromptTokens = stats.cachedPromptTokens
        completionTokens = stats.outputTokens
        dispatches = stats.dispatches
        elapsedMs = stats.elapsed.milliseconds
        deviceMs = elapsedMs
        timeToFirstTokenMs = stats.timeToFirstToken.milliseconds
        stopReason = stats.stopReason.rawValue
        droppedMessages = prepared.droppedMessages
    }
}

extension CompletionUsage {
    /// Output tokens per second of the generation ("eff tok/s").
    public var tokensPerSecond: Double {
        elapsedMs > 0 ? Double(completionTokens) * 1000 / elapsedMs : 0
    }

    /// Dispatches per second: what plain decoding gives ("tok/s").
    public var dispatchesPerSecond: Double {
        elapsedMs > 0 ? Double(dispatches) * 1000 / elapsedMs : 0
    }
}
