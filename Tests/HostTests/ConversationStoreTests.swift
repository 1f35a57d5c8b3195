import Foundation
import Testing
import Tokenizer

@testable import Host

/// Conversations in SQLite: stored exchanges, the latest per persona,
/// messages left out of the context, and the totals.
@Suite("ConversationStore")
struct ConversationStoreTests {
    static func usage(tokens: Int, micro: Int64, dropped: Int = 0) -> CompletionUsage {
        var usage = CompletionUsage()
        usage.promptTokens = 40
        usage.cachedPromptTokens = 30
        usage.completionTokens = tokens
        usage.dispatches = tokens + 1
        usage.elapsedMs = Double(tokens) * 10
        usage.timeToFirstTokenMs = 20
        usage.microMotes = micro
        usage.droppedMessages = dropped
        return usage
    }

    @Test("exchanges come back in order, with their usage, across a reopen")
    func roundTrip() throws {
        let scratch = try Scratch()
        let url = scratch.url.appendingPathComponent("c.sqlite")
        let id: String
        do {
            let store = try ConversationStore(url: url)
            id = try store.create(persona: "poet").id
            try store.append(
                conversation: id, user: "Hi", reply: "Hello", usage: Self.usage(tokens: 2, micro: 5)
            )
            try store.append(
                conversation: id, user: "Rhyme?", reply: "Time",
                usage: Self.usage(tokens: 1, micro: 7))
        }
        let store = try ConversationStore(url: url)
        let latest = try #require(try store.latest(persona: "poet"))
        #expect(latest.id == id)
        #expect(latest.turns.map(\.content) == ["Hi", "Hello", "Rhyme?", "Time"])
        #expect(latest.turns.map(\.role) == [.user, .assistant, .user, .assistant])
        let history = try store.history(conversation: id)
        #expect(history.map(\.index) == [0, 1, 2, 3])
        #expect(history[1].usage == Self.usage(tokens: 2, micro: 5))
        #expect(history[0].usage == nil)
    }

    @Test("the latest conversation is the persona's own, most recent first")
    func latestPerPersona() throws {
        let scratch = try Scratch()
        let store = try ConversationStore(url: scratch.url.appendingPathComponent("c.sqlite"))
        let old = try store.create(persona: "poet").id
        try store.append(
            conversation: old, user: "a", reply: "b", usage: Self.usage(tokens: 1, micro: 1))
        let other = try store.create(persona: "pirate").id
        try store.append(
            conversation: other, user: "c", reply: "d", usage: Self.usage(tokens: 1, micro: 1))
        let new = try store.create(persona: "poet").id
        try store.append(
            conversation: new, user: "e", reply: "f", usage: Self.usage(tokens: 1, micro: 1))
        #expect(try store.latest(persona: "poet")?.id == new)
        #expect(try store.latest(persona: "pirate")?.id == other)
        #expect(try store.latest(persona: "tutor") == nil)
    }

    @Test("messages the host left out stay in the history but not in the turns")
    func dropped() throws {
        let scratch = try Scratch()
        let store = try ConversationStore(url: scratch.url.appendingPathComponent("c.sqlite"))
        let id = try store.create(persona: "poet").id
        try store.append(
            conversation: id, user: "1", reply: "2", usage: Self.usage(tokens: 1, micro: 1))
        try store.append(
            conversation: id, user: "3", reply: "4",
            usage: Self.usage(tokens: 1, micro: 1, dropped: 2))
        #expect(try store.latest(persona: "poet")?.turns.map(\.content) == ["3", "4"])
        #expect(try store.history(conversation: id).count == 4)
    }

    @Test("totals sum the replies")
    func totals() throws {
        let scratch = try Scratch()
        let store = try ConversationStore(url: scratch.url.appendingPathComponent("c.sqlite"))
        let id = try store.create(persona: "poet").id
        try store.append(
            conversation: id, user: "a", reply: "b", usage: Self.usage(tokens: 4, micro: 100))
        try store.append(
            conversation: id, user: "c", reply: "d", usage: Self.usage(tokens: 6, micro: 250))
        let totals = try store.totals(conversation: id)
        #expect(totals.replies == 2)
        #expect(totals.completionTokens == 10)
        #expect(totals.cachedPromptTokens == 60)
        #expect(totals.microMotes == 350)
        #expect(totals.tokensPerSecond == 100)
        #expect(totals.meanTimeToFirstTokenMs == 20)
    }
}
