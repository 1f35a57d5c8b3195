import Inference
import Testing

/// Prompt lookup on hand-made histories.
@Suite("Speculation: prompt lookup")
struct SpeculationDrafterTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let history: [Int]
        let countMax: Int
        let expected: [Int]
        var testDescription: String { name }
    }

    static let cases = [
        Case(
            name: "bigram seen before", history: [1, 2, 3, 4, 1, 2], countMax: 3,
            expected: [3, 4, 1]),
        Case(name: "no repeat", history: [1, 2, 3, 4], countMax: 3, expected: []),
        Case(
            name: "a run continues past the end", history: [5, 5, 5], countMax: 4,
            expected: [5, 5, 5, 5]),
        Case(
            name: "the longest n-gram wins over a later shorter one",
            history: [3, 1, 2, 8, 7, 1, 2, 9, 3, 1, 2], countMax: 3, expected: [8, 7, 1]),
        Case(
            name: "the latest occurrence of an n-gram wins",
            history: [1, 2, 5, 6, 1, 2, 7, 6, 1, 2], countMax: 2, expected: [7, 6]),
        Case(
            name: "a period of three repeats",
            history: [1, 2, 3, 1, 2, 3, 1, 2], countMax: 5, expected: [3, 1, 2, 3, 1]),
        Case(
            name: "a lone token with one earlier successor", history: [4, 8, 4], countMax: 2,
            expected: [8, 4]),
        Case(
            name: "a lone token seen with two successors is a guess", history: [4, 8, 4, 9, 4],
            countMax: 2, expected: []),
        Case(name: "count zero", history: [1, 2, 1, 2], countMax: 0, expected: []),
    ]

    @Test("proposes what followed the latest match", arguments: cases)
    func lookup(_ c: Case) {
        let drafter = PromptLookupDrafter()
        #expect(drafter.propose(after: c.history, countMax: c.countMax).tokens == c.expected)
    }

    @Test("the match length names the source, from ngram/1 up")
    func sources() {
        let drafter = PromptLookupDrafter()
        #expect(drafter.propose(after: [4, 8, 4], countMax: 1).source == "ngram/1")
        #expect(drafter.propose(after: [1, 2, 3, 1, 2], countMax: 1).source == "ngram/2")
        let long = Array(1...9) + [0] + Array(1...9)
        #expect(drafter.propose(after: long, countMax: 1).source == "ngram/8")
        // Ambiguity is the lone token's: a longer match still drafts.
        #expect(drafter.propose(after: [7, 4, 8, 4, 9, 7, 4], countMax: 1).tokens == [8])
    }

    @Test("indexes as the history grows, and starts over on another history")
    func incremental() {
        let drafter = PromptLookupDrafter()
        var history = [10, 11, 12, 13]
        #expect(drafter.propose(after: history, countMax: 2).tokens.isEmpty)
        history += [10, 11]
        #expect(drafter.propose(after: history, countMax: 2).tokens == [12, 13])
        history += [12, 13, 14, 10, 11]
        #expect(drafter.propose(after: history, countMax: 3).tokens == [12, 13, 14])
        #expect(drafter.propose(after: [13, 14, 20, 13, 14], countMax: 1).tokens == [20])
        #expect(drafter.propose(after: [10, 11], countMax: 2).tokens.isEmpty)
    }

    @Test("auto takes the first drafter that proposes anything")
    func auto() throws {
        let memory = PersonaMemory.inMemory(persona: "p", model: "m", vocabularySize: 100)
        try memory.learn(reply: [40, 41, 42], after: [1, 2, 3])
        let drafter = try #require(try Speculator.drafter(for: .auto, memory: memory))
        let fromMemory = try drafter.propose(after: [9, 1, 2, 3], countMax: 3)
        #expect(fromMemory.tokens == [40, 41, 42] && fromMemory.source == "memory/3")
        let fromLookup = try drafter.propose(after: [1, 2, 3, 7, 1, 2, 3], countMax: 2)
        #expect(fromLookup.tokens == [7, 1] && fromLookup.source == "ngram/3")
    }

    @Test("auto takes the proposal the governor lets run furthest")
    func autoPrefersTrusted() throws {
        let memory = PersonaMemory.inMemory(persona: "p", model: "m", vocabularySize: 100)
        try memory.learn(reply: [40, 41, 42], after: [1, 2, 3])
        let drafter = try #require(try Speculator.drafter(for: .auto, memory: memory))
        // Both propose: the lookup from a chance bigram, the memory from [1, 2, 3].
        let history = [2, 3, 7, 8, 1, 2, 3]
        #expect(try drafter.propose(after: history, countMax: 3).source == "ngram/2")
        let trusted = try drafter.propose(after: history, countMax: 3) { source in
            source == "ngram/2" ? 0 : 3
        }
        #expect(trusted.tokens == [40, 41, 42] && trusted.source == "memory/3")
        let lookup = try drafter.propose(after: history, countMax: 3) { source in
            source == "ngram/2" ? 2 : 1
        }
        #expect(lookup.source == "ngram/2")
        #expect(try drafter.propose(after: history, countMax: 3) { _ in 0 }.tokens.isEmpty)
    }

    @Test("modes that need a part refuse without it")
    func modes() throws {
        #expect(try Speculator.drafter(for: .off) == nil)
        #expect(
            throws: SpeculationError.drafterUnavailable(mode: "draft", missing: "a draft model")
        ) {
            try Speculator.drafter(for: .draft)
        }
        #expect(throws: SpeculationError.drafterUnavailable(mode: "memory", missing: "a persona")) {
            try Speculator.drafter(for: .memory)
        }
    }
}
