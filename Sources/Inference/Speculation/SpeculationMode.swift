/// Where drafts come from: the persona file's `[speculation] mode`, and
/// `asth complete --speculate`.
public enum SpeculationMode: String, Sendable, CaseIterable {
    /// No drafting: one token per dispatch.
    case off
    /// Prompt lookup in the sequence so far (`PromptLookupDrafter`).
    case ngram
    /// The persona's memory of its past replies (`MemoryDrafter`).
    case memory
    /// A smaller model sharing the vocabulary (`DraftModelDrafter`).
    case draft
    /// Every drafter available, cheapest first (`CombinedDrafter`).
    case auto
}

extension Speculator {
    /// The drafter for `mode` out of what the caller has.
    ///
    /// - Parameters:
    ///   - memory: the persona's memory; required by `.memory`, used by
    ///     `.auto` when given.
    ///   - draftModel: a drafter over the persona's draft model, with its own
    ///     cache for this sequence; required by `.draft`, used by `.auto`.
    /// - Returns: nil for `.off`.
    /// - Throws: `SpeculationError.drafterUnavailable` when a required
    ///   part is missing.
    public static func drafter(
        for mode: SpeculationMode, memory: PersonaMemory? = nil,
        draftModel: DraftModelDrafter? = nil
    ) throws -> Drafter? {
        switch mode {
        case .off:
            return nil
        case .ngram:
            return PromptLookupDrafter()
        case .memory:
            guard let memory else {
                throw SpeculationError.drafterUnavailable(mode: "memory", missing: "a persona")
            }
            return MemoryDrafter(memory: memory)
        case .draft:
            guard let draftModel else {
                throw SpeculationError.drafterUnavailable(mode: "draft", missing: "a draft model")
            }
            return draftModel
        case .auto:
            var drafters: [Drafter] = [PromptLookupDrafter()]
            if let memory {
                drafters.append(MemoryDrafter(memory: memory))
            }
            if let draftModel {
                drafters.append(draftModel)
            }
            return CombinedDrafter(drafters)
        }
    }
}
