import Foundation
import Inference
import Personas
import Support

/// What a host keeps for speculation across replies: each persona's
/// memory of its past replies (in the home folder's memory store, so it
/// survives a restart) and each persona's governor, per model.
///
/// Both are keyed by persona and model and handed only to that persona's
/// jobs: one persona's text never reaches another's drafts. A persona's
/// draft model lives in its target's engine (`ModelEngine.draftModels`);
/// each job gets its own drafter over it, with its own draft KV cache.
final class PersonaSpeculation: @unchecked Sendable {
    private let home: Home
    /// Resolves `draft_model` references.
    private let models: ModelStore
    private let log = Log("speculation")

    /// Held while a memory is read from the store for the first time.
    private let loading = NSLock()
    /// Guards every field below; never held across a read of the store.
    private let lock = NSLock()
    /// The memory file, opened on first use; nil until then or when it
    /// could not be opened (memories are then kept in memory only).
    private var store: PersonaMemoryStore?
    private var storeTried = false
    /// By `key(persona:model:)`.
    private var memories: [String: PersonaMemory] = [:]
    private var governors: [String: SpeculationGovernor] = [:]
    /// Personas whose `auto` mode was logged as going without its draft model.
    private var draftNoted: Set<String> = []
    /// The last save of a memory failed (and was logged).
    private var saveFailing = false

    init(home: Home, store: ModelStore) {
        self.home = home
        self.models = store
    }

    /// The speculator for one job of `prepared`'s persona on `engine`;
    /// nil when its mode is off or it has no persona (raw completions).
    ///
    /// `draft` runs the persona's draft model; `auto` combines prompt
    /// lookup, the persona's memory and the draft model when one is named
    /// (going without it, logged once, when its file cannot be loaded).
    ///
    /// - Throws: `DraftModelError` when the draft model's vocabulary is
    ///   not the target's; for `draft`, the loader's errors.
    func plan(for prepared: PreparedRequest, engine: ModelEngine) throws -> JobSpeculation? {
        guard let persona = prepared.persona else { return nil }
        let model = prepared.model
        guard let mode = SpeculationMode(rawValue: persona.speculation.mode.rawValue) else {
            preconditionFailure("persona mode \(persona.speculation.mode) has no drafter")
        }
        guard mode != .off else { return nil }
        let drafter = try Speculator.drafter(
            for: mode,
            memory: mode == .memory || mode == .auto
                ? memory(persona: persona.name, model: model) : nil,
            draftModel: draftDrafter(for: prepared, persona: persona, engine: engine))
        let governor = governor(persona: persona.name, model: model.name, engine: engine)
        return JobSpeculation(
            speculator: Speculator(drafter: drafter, governor: governor),
            clock: engine.dispatchClock)
    }

    /// A drafter over the persona's draft model, with a draft cache of the
    /// job's own; nil when the mode runs none or names none.
    private func draftDrafter(
        for prepared: PreparedRequest, persona: Persona, engine: ModelEngine
    ) throws -> DraftModelDrafter? {
        let mode = persona.speculation.mode
        guard mode == .draft || mode == .auto,
            let reference = persona.speculation.draftModel
        else { return nil }

        let refused = { (reason: SpeculationError) in
            DraftModelError(
                file: persona.file ?? persona.name, draftModel: reference.description,
                reason: reason)
        }

        // The model, loaded once per engine; auto goes on without it.
        let draft: LanguageModel
        do {
            draft = try engine.draftModels.model(at: models.resolve(reference.description))
        } catch  where mode == .auto {
            noteDraftUnavailable(persona.name, error: error)
            return nil
        } catch {
            throw refused(.draftModelUnloadable(reason: "\(error)"))
        }

        // Its own cache on the draft device, checked against the target.
        do {
            return try DraftModelDrafter(
                draft: draft, target: prepared.model, capacity: prepared.contextTokens,
                settings: prepared.sampling)
        } catch let error as SpeculationError {
            throw refused(error)
        }
    }

    /// Lets the job's drafter learn from its finished reply (the persona's
    /// memory takes it in and saves it). A failure loses only the lesson.
    func learn(_ speculation: JobSpeculation?, reply: [Int], prompt: [Int]) {
        guard let drafter = speculation?.speculator.drafter, !reply.isEmpty else { return }
        var failure: (any Error)?
        do {
            try drafter.finish(reply: reply, after: prompt)
        } catch {
            failure = error
        }
        // Logged once per run of failures (a locked or read-only file fails
        // every reply): the lesson stays in memory and rides with the next
        // save that goes through.
        let wasFailing = lock.withLock { () -> Bool in
            defer { saveFailing = failure != nil }
            return saveFailing
        }
        switch (failure, wasFailing) {
        case (let error?, false):
            log.warn("learn: memory not saved", ["drafter": drafter.name, "error": error])
        case (nil, true):
            log.info("learn: memory saved again", ["drafter": drafter.name])
        default:
            break
        }
    }

    /// The persona's memory on `model`, read from the store on first use.
    ///
    /// A first read can take seconds (a file trimmed back to its bound), so
    /// it holds only `loading`, which keeps two first reads of one memory
    /// from both loading it: governors, snapshots (`asth ps`) and personas
    /// already loaded never wait for it.
    private func memory(persona: String, model: LanguageModel) -> PersonaMemory {
        let key = Self.key(persona: persona, model: model.name)
        if let memory = lock.withLock({ memories[key] }) { return memory }
        return loading.withLock {
            if let memory = lock.withLock({ memories[key] }) { return memory }
            let vocabularySize = model.config.vocabularySize
            var memory: PersonaMemory
            do {
                guard let store = lock.withLock({ openStore() }) else {
                    throw HostSpeculationError.noStore
                }
                memory = try store.memory(
                    persona: persona, model: model.name, vocabularySize: vocabularySize)
            } catch {
                log.warn(
                    "memory: kept in memory only",
                    ["persona": persona, "model": model.name, "error": error])
                memory = .inMemory(
                    persona: persona, model: model.name, vocabularySize: vocabularySize)
            }
            lock.withLock { memories[key] = memory }
            log.info(
                "memory", ["persona": persona, "model": model.name, "pairs": memory.entryCount])
            return memory
        }
    }

    /// The memory store in the home folder. Caller holds `lock`.
    private func openStore() -> PersonaMemoryStore? {
        guard !storeTried else { return store }
        storeTried = true
        do {
            store = try PersonaMemoryStore(home: home)
        } catch {
            log.warn("store: cannot open", ["home": home.url.path, "error": error])
        }
        return store
    }

    /// The persona's governor on `model`, shared by its replies so that
    /// its record carries over; prices rows with the engine's cost model.
    /// The governor's record of `persona` on `model`; nil when it has not
    /// speculated there.
    func snapshot(persona: String, model: String) -> SpeculationGovernor.Snapshot? {
        lock.withLock { governors[Self.key(persona: persona, model: model)]?.snapshot() }
    }

    private func governor(persona: String, model: String, engine: ModelEngine)
        -> SpeculationGovernor
    {
        lock.withLock {
            let key = Self.key(persona: persona, model: model)
            if let governor = governors[key] { return governor }
            let governor = SpeculationGovernor(costModel: engine.costModel)
            governors[key] = governor
            return governor
        }
    }

    private func noteDraftUnavailable(_ persona: String, error: any Error) {
        let isNew = lock.withLock { draftNoted.insert(persona).inserted }
        if isNew {
            log.warn("auto: draft model not loaded", ["persona": persona, "error": error])
        }
    }

    /// A key no persona or model name can forge: names hold no NUL.
    static func key(persona: String, model: String) -> String {
        persona + "\u{0}" + model
    }
}

/// Why a persona's memory is kept in memory only.
enum HostSpeculationError: Error {
    /// The memory file could not be opened (logged when it was tried).
    case noStore
}
