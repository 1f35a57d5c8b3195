/// `auto`: asks the available drafters and takes the proposal that the
/// governor lets run furthest.
///
/// The order puts the cheap and specific first: prompt lookup (what this
/// conversation repeats), then persona memory (what the persona tends to
/// say), then the draft model, which always proposes but costs dispatches
/// and is asked only when neither of the others has a draft to run.
/// Taking the first proposal, whatever its source, let a chance bigram of
/// the conversation (a source the governor trims to nothing) shadow a
/// remembered phrase it would have let run.
public final class CombinedDrafter: Drafter {
    public let name = "auto"
    public let drafters: [Drafter]

    public var sources: [String] { drafters.flatMap(\.sources) }

    public init(_ drafters: [Drafter]) {
        precondition(!drafters.isEmpty, "auto needs at least one drafter")
        self.drafters = drafters
    }

    /// The first proposal of any drafter: what `auto` does without a governor.
    public func propose(after history: [Int], countMax: Int) throws -> Draft {
        try propose(after: history, countMax: countMax) { _ in countMax }
    }

    public func propose(after history: [Int], countMax: Int, lengths: (String) -> Int) throws
        -> Draft
    {
        var best = Draft.none(name)
        var bestKept = 0
        for drafter in drafters {
            if bestKept > 0 && drafter is DraftModelDrafter {
                break
            }
            let draft = try drafter.propose(after: history, countMax: countMax)
            let kept = min(draft.tokens.count, lengths(draft.source))
            if kept > bestKept {
                (best, bestKept) = (draft, kept)
            }
        }
        return best
    }

    public func finish(reply: [Int], after context: [Int]) throws {
        for drafter in drafters {
            try drafter.finish(reply: reply, after: context)
        }
    }
}

/// Drafts from a persona's memory (see `PersonaMemory`); learns from each
/// finished reply. The context length that chose the first token names the
/// source, "memory/6" down to "memory/2", as the longer is the surer.
public final class MemoryDrafter: Drafter {
    public let name = "memory"
    public let sources = PersonaMemory.orders.map { "memory/\($0)" }
    public let memory: PersonaMemory

    public init(memory: PersonaMemory) {
        self.memory = memory
    }

    public func propose(after history: [Int], countMax: Int) -> Draft {
        let (tokens, order) = memory.predictWithOrder(after: history, countMax: countMax)
        return Draft(tokens: tokens, source: "memory/\(order)")
    }

    public func finish(reply: [Int], after context: [Int]) throws {
        try memory.learn(reply: reply, after: context)
    }
}
