/// `auto`: asks each available drafter in turn and takes the first that
/// proposes anything.
///
/// The order puts the cheap and specific first: prompt lookup (what this
/// conversation repeats), then persona memory (what the persona tends to
/// say), then the draft model, which always proposes but costs dispatches.
public final class CombinedDrafter: Drafter {
    public let name = "auto"
    public let drafters: [Drafter]

    public var sources: [String] { drafters.flatMap(\.sources) }

    public init(_ drafters: [Drafter]) {
        precondition(!drafters.isEmpty, "auto needs at least one drafter")
        self.drafters = drafters
    }

    public func propose(after history: [Int], countMax: Int) throws -> Draft {
        for drafter in drafters {
            let draft = try drafter.propose(after: history, countMax: countMax)
            if !draft.tokens.isEmpty {
                return draft
            }
        }
        return .none(name)
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
