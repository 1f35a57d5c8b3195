import Foundation
import Inference
import Personas
import Support

/// What a host keeps for speculation across replies: each persona's
/// memory of its past replies (in the home folder's memory store, so it
/// survives a restart) and each persona's governor, per model.
///
/// Both are keyed by persona and model and handed only to that persona's
/// jobs: one persona's text never reaches another's drafts.
final class PersonaSpeculation: @unchecked Sendable {
    private let home: Home
    private let log = Log("speculation")

    /// Guards every field below.
    private let lock = NSLock()
    /// The memory file, opened on first use; nil until then or when it
    /// could not be opened (memories are then kept in memory only).
    private var store: PersonaMemoryStore?
    private var storeTried = false
    /// By `key(persona:model:)`.
    private var memories: [String: PersonaMemory] = [:]
    private var governors: [String: SpeculationGovernor] = [:]
    /// Personas whose `draft` mode was logged as decoded plainly.
    private var draftNoted: Set<String> = []

    init(home: Home) {
        self.home = home
    }

    /// The speculator for one job of `prepared`'s persona on `engine`;
    /// nil when its mode is off or it has no persona (raw completions).
    ///
    /// The host drafts with prompt lookup and the persona's memory; a draft
    /// model (mode `draft`, or the model named for `auto`) is not run by the
    /// host yet: `draft` decodes plainly and `auto` combines the other two.
    func plan(for prepared: PreparedRequest, engine: ModelEngine) -> JobSpeculation? {
        guard let persona = prepared.persona else { return nil }
        let model = prepared.model
        let drafter: Drafter
        switch persona.speculation.mode {
        case .off:
            return nil
        case .draft:
            noteDraftUnsupported(persona.name)
            return nil
        case .ngram:
            drafter = PromptLookupDrafter()
        case .memory:
            drafter = MemoryDrafter(memory: memory(persona: persona.name, model: model))
        case .auto:
            drafter = CombinedDrafter([
                PromptLookupDrafter(),
                MemoryDrafter(memory: memory(persona: persona.name, model: model)),
            ])
        }
        let governor = governor(persona: persona.name, model: model.name, engine: engine)
        return JobSpeculation(
            speculator: Speculator(drafter: drafter, governor: governor),
            clock: engine.dispatchClock)
    }

    /// Lets the job's drafter learn from its finished reply (the persona's
    /// memory takes it in and saves it). A failure loses only the lesson.
    func learn(_ speculation: JobSpeculation?, reply: [Int], prompt: [Int]) {
        guard let drafter = speculation?.speculator.drafter, !reply.isEmpty else { return }
        do {
            try drafter.finish(reply: reply, after: prompt)
        } catch {
            log.warn("learn: memory not saved", ["drafter": drafter.name, "error": error])
        }
    }

    /// The persona's memory on `model`, read from the store on first use.
    private func memory(persona: String, model: LanguageModel) -> PersonaMemory {
        lock.withLock {
            let key = Self.key(persona: persona, model: model.name)
            if let memory = memories[key] { return memory }
            let vocabularySize = model.config.vocabularySize
            var memory: PersonaMemory
            do {
                guard let store = openStore() else { throw HostSpeculationError.noStore }
                memory = try store.memory(
                    persona: persona, model: model.name, vocabularySize: vocabularySize)
            } catch {
                log.warn(
                    "memory: kept in memory only",
                    ["persona": persona, "model": model.name, "error": error])
                memory = .inMemory(
                    persona: persona, model: model.name, vocabularySize: vocabularySize)
            }
            memories[key] = memory
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

    private func noteDraftUnsupported(_ persona: String) {
        let isNew = lock.withLock { draftNoted.insert(persona).inserted }
        if isNew {
            log.warn("draft model not run by the host; decoding plainly", ["persona": persona])
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
