import Foundation
import Testing

/// Conversations kept in SQLite: `asth chat PERSONA --resume` and the
/// commands inside a chat.
@Suite("CLI: conversations", .serialized)
struct ConversationTests {
    @Test("--resume continues the last conversation; /history, /cost and /stats describe it")
    func resume() throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        let first = try cli.run(["chat", "tutor"], input: "What is a noun?\n")
        #expect(first.status == 0, "\(first.stderr)")
        let reply = first.stdout.trimmingCharacters(in: .whitespacesAndNewlines)

        // The resumed conversation shows its messages and carries them on.
        let second = try cli.run(
            ["chat", "tutor", "--resume"], input: "/history\nAnd a verb?\n/cost\n/stats\n")
        #expect(second.status == 0, "\(second.stderr)")
        #expect(second.stderr.contains("resuming the conversation"), "\(second.stderr)")
        #expect(second.stdout.contains("you› What is a noun?"), "\(second.stdout)")
        #expect(second.stdout.contains("tutor› \(reply)"), "\(second.stdout)")
        #expect(second.stderr.contains("over 2 replies in this conversation"), "\(second.stderr)")
        #expect(second.stderr.contains("2 replies · prompt"), "\(second.stderr)")

        // The ledger: the second reply's prompt held the first exchange.
        let history = try cli.run(["ledger", "history", "tutor", "--json"])
        let posts =
            (try JSONSerialization.jsonObject(with: Data(history.stdout.utf8)) as? [[String: Any]]
            ?? []).filter { $0["kind"] as? String == "post" }
        #expect(posts.count == 2)
        let prompts = posts.map {
            ($0["prompt_tokens"] as? Int ?? 0) + ($0["cached_prompt_tokens"] as? Int ?? 0)
        }.sorted()
        #expect(prompts.count == 2 && prompts[1] > prompts[0] + 20, "\(prompts)")

        // The charges /cost sums are the ledger's.
        let charged = posts.reduce(0) { $0 - ($1["change_micro_motes"] as? Int ?? 0) }
        let tenths = (charged + 50_000) / 100_000
        let motes = "\(tenths / 10).\(tenths % 10)"
        #expect(second.stderr.contains("\(motes) Motes charged"), "\(motes): \(second.stderr)")
    }

    @Test("after /reset, --resume picks up the new conversation")
    func resetThenResume() throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        let chat = try cli.run(["chat", "tutor"], input: "Hi\n/reset\nWhat is a verb?\n")
        #expect(chat.status == 0, "\(chat.stderr)")
        let resumed = try cli.run(["chat", "tutor", "--resume"], input: "/history\n")
        #expect(resumed.stdout.contains("you› What is a verb?"), "\(resumed.stdout)")
        #expect(!resumed.stdout.contains("you› Hi"), "\(resumed.stdout)")
    }
}
