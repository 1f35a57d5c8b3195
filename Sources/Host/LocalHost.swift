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
    /// Where dispatch and reply records go: the one given, else the
    /// `PersonaHost`'s; nil keeps none.
    public let metrics: (any MetricsSink)?
    /// Whether this host serves the socket (`asth serve`), for reports.
    public let isDaemon: Bool

    /// The loaded models and their engines, one per file.
    let models: ModelRegistry
    /// Personas whose ledger account is set up in this process. Guarded by `lock`.
    private var accounts: Set<String> = []
    private let lock = NSLock()
    private let clock: any EngineClock
    private let log = Log("host")

    /// The bounds of every engine; tests shrink them.
    let engineLimits: EngineLimits
    /// Personas' drafting memories and governors.
    let speculation: PersonaSpeculation

    /// - Parameter models: how many models stay loaded, and for how long;
    ///   a host in a client's process keeps what it loads.
    public convenience init(
        host: PersonaHost, catalog: PersonaCatalog, metrics: (any MetricsSink)? = nil,
        isDaemon: Bool = false, models: ModelRegistrySettings = .inProcess
    ) {
        self.init(
            host: host, catalog: catalog, metrics: metrics, isDaemon: isDaemon,
            engineLimits: EngineLimits(), models: models)
    }

    /// - Parameters:
    ///   - clock: the engines' and the registry's clock; tests pass a fake.
    ///   - device: wraps each model's device for its engine; tests gate it.
    init(
        host: PersonaHost, catalog: PersonaCatalog, metrics: (any MetricsSink)?,
        isDaemon: Bool, engineLimits: EngineLimits,
        models settings: ModelRegistrySettings = .inProcess,
        clock: any EngineClock = MonotonicClock(),
        device: @escaping @Sendable (any Device) -> any Device = { $0 }
    ) {
        self.host = host
        self.catalog = catalog
        let metrics = metrics ?? host.metrics
        self.metrics = metrics
        self.isDaemon = isDaemon
        self.engineLimits = engineLimits
        self.speculation = PersonaSpeculation(home: host.home, store: host.store)
        self.clock = clock
        self.models = ModelRegistry(
            settings: settings, store: host.store, threads: host.threads, clock: clock,
            engineLimits: engineLimits
        ) { model in
            ModelEngine(
                modelName: model.name, device: device(model.device), clock: clock,
                limits: engineLimits, metrics: metrics, draftThreads: host.threads)
        }
    }

    /// Unloads models left unused past the idle timeout, on the host's
    /// clock, until the host drains (`asth serve`).
    public func startModelReaper() {
        models.startReaper()
    }

    public func personas() -> [Persona] {
        catalog.list()
    }

    @discardableResult
    public func complete(
        _ request: CompletionRequest, cancellation: Cancellation,
        events: (CompletionEvent) -> Void
    ) throws -> CompletionUsage {
        // The model, leased until the reply ends so that it stays loaded.
        var lease: ModelRegistry.Lease?
        defer { lease.map(models.release) }
        let prepared = try prepare(request) { reference in
            let leased = try models.acquire(reference) { events(.progress($0)) }
            lease = leased
            return leased.model
        }
        guard let engine = lease?.engine else {
            preconditionFailure("request prepared without leasing its model")
        }

        // Queue first (busy is refused before anything is held), then hold.
        var spec = prepared.jobSpec
        spec.speculation = try speculation.plan(for: prepared, engine: engine)
        let job = try engine.submit(spec, cancellation: cancellation)
        let billing: Billing
        do {
            billing = try Billing(holding: prepared, ledger: try ledger(for: prepared))
        } catch {
            engine.withdraw(job)
            throw error
        }
        engine.release(job)

        // Stream the reply, then settle the hold for what was produced.
        var decoder = StreamDecoder(tokenizer: prepared.model.tokenizer)
        var ids: [Int] = []
        let result: JobResult
        do {
            result = try job.wait { id in
                // Tokens the engine made after the client cancelled (a stop
                // string met, the client gone) reached no one: a step of
                // drafts may carry many. They are not counted, charged or
                // learned, so a reply cut short costs what plain decoding's would.
                guard !cancellation.isCancelled else { return }
                ids.append(id)
                let piece = (try? decoder.push(id)) ?? ""
                if !piece.isEmpty { events(.text(piece)) }
            }
        } catch {
            var partial = CompletionUsage()
            partial.promptTokens = prepared.prompt.count
            partial.completionTokens = ids.count
            partial.stopReason = "error"
            let charge = try? billing.settle(partial, promptTokensComputed: prepared.prompt.count)
            partial.microMotes = charge ?? 0
            report(partial, prepared: prepared)
            throw error
        }
        let tail = decoder.finish()
        if !tail.isEmpty { events(.text(tail)) }
        var usage = CompletionUsage(result, prepared: prepared)
        usage.completionTokens = ids.count
        if request.returnsTokenIds { usage.outputIds = ids }
        usage.microMotes = try settle(billing, usage: usage, result: result)
        engine.record(microMotes: usage.microMotes, tenant: prepared.tenant)
        report(usage, prepared: prepared)
        events(.done(usage))
        // After the client has its answer: a slow memory file delays no one.
        speculation.learn(spec.speculation, reply: ids, prompt: prepared.prompt)
        return usage
    }

    /// Posts the usage, or voids the hold when nothing was computed (a
    /// request cancelled while it waited).
    private func settle(_ billing: Billing, usage: CompletionUsage, result: JobResult)
        throws -> Int64
    {
        guard result.stats.dispatches > 0 else {
            try billing.void()
            return 0
        }
        return try billing.settle(usage, promptTokensComputed: result.promptTokensComputed)
    }

    /// What the host is doing now.
    public func status() -> HostStatus {
        var statuses = models.statuses()
        for m in statuses.indices {
            for p in statuses[m].personas.indices {
                let persona = statuses[m].personas[p]
                guard
                    let record = speculation.snapshot(
                        persona: persona.name, model: statuses[m].name)
                else { continue }
                statuses[m].personas[p].speculationPauseRemaining = record.pauseRemaining
                statuses[m].personas[p].speculationPauses = record.pauses
            }
        }
        return HostStatus(
            pid: getpid(), isDaemon: isDaemon, uptimeSeconds: clock.now().seconds,
            dispatches: statuses.reduce(models.dispatchesUnloaded) { $0 + $1.dispatches },
            models: statuses,
            modelMemory: models.memoryStatus())
    }

    /// Refuses new requests, lets admitted ones finish for up to `bound`,
    /// then cuts the rest; returns once every generation has ended.
    public func drain(within bound: Duration) {
        let engines = models.drain()
        for engine in engines { engine.drain() }
        let deadline = ContinuousClock.now + bound
        while engines.contains(where: { !$0.isIdle }) && ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.02)
        }
        for engine in engines { engine.cutAll() }
        while engines.contains(where: { !$0.isIdle }) {
            Thread.sleep(forTimeInterval: 0.01)
        }
        for engine in engines { engine.stop() }
    }

    /// The ledger for a billed request, with the persona's account set up
    /// once per process; nil for an unbilled one.
    private func ledger(for prepared: PreparedRequest) throws -> Ledger? {
        guard let persona = prepared.persona else { return nil }
        let ledger = try host.ledger()
        let economy = persona.economy
        let key = "\(persona.name) \(economy.allowanceMicroMotes) \(economy.refillPeriod)"
        if lock.withLock({ accounts.contains(key) }) { return ledger }
        try ledger.ensureAccount(
            persona: persona.name, allowance: MicroMotes(economy.allowanceMicroMotes),
            periodSeconds: economy.refillPeriod.seconds)
        lock.withLock { _ = accounts.insert(key) }
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
    /// Resolves the persona and model (through `load`, which takes a store
    /// name or a path), checks the overrides and renders the prompt.
    func prepare(_ request: CompletionRequest, load: (String) throws -> LanguageModel)
        throws -> PreparedRequest
    {
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
            model = try load(reference)
        } else {
            persona = try lookup(request.persona)
            model = try load(persona!.model.description)
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
            contextTokens = try CompletionRequest.rawContextTokens(
                promptTokens: prompt.count, replyTokens: replyMax,
                contextLength: model.config.contextLength)
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
    /// The usage of a job, before its charge is known.
    init(_ result: JobResult, prepared: PreparedRequest) {
        self.init()
        let stats = result.stats
        promptTokens = prepared.prompt.count
        cachedPromptTokens = stats.cachedPromptTokens
        completionTokens = stats.outputTokens
        dispatches = stats.dispatches
        elapsedMs = stats.elapsed.milliseconds
        deviceMs = result.deviceSeconds * 1000
        timeToFirstTokenMs = stats.timeToFirstToken.milliseconds
        draftedTokens = stats.draftedTokens
        acceptedTokens = stats.acceptedTokens
        draftingDispatches = stats.draftingDispatches
        speculationPauses = stats.speculationPauses
        stopReason = stats.stopReason.rawValue
        droppedMessages = prepared.droppedMessages
    }
}

extension CompletionUsage: ReplyCounts {}
