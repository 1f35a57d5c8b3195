import Foundation
import Testing

/// A persona that speculates, through `asth chat`: its figures reach
/// `/stats` and `asth metrics`, and its memory outlives the process.
@Suite("CLI: chat with a speculating persona", .serialized)
struct HostSpeculationCLITests {
    static let question = "List the days of the week, one per line."

    /// A fresh home with one greedy persona drafting with `mode` (and
    /// `draft`, the draft model, when given).
    static func setUp(mode: String, draft: String? = nil) throws -> (CLI, URL) {
        let cli = try CLI()
        let folder = cli.home.appendingPathComponent("personas")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let persona = """
            model = "smollm2-135m-instruct"
            system_prompt = "You make lists."
            max_tokens = 48
            [sampling]
            temperature = 0.0
            [speculation]
            mode = "\(mode)"
            \(draft.map { "draft_model = \"\($0)\"" } ?? "")
            """
        try Data(persona.utf8).write(to: folder.appendingPathComponent("lister.toml"))
        return (cli, folder)
    }

    @Test("personas show names the drafter and the draft model")
    func show() throws {
        let (cli, folder) = try Self.setUp(mode: "auto", draft: "smollm2-135m-instruct")
        defer { cli.cleanUp() }
        let text = try cli.run(["personas", "show", "lister", "--personas", folder.path])
        #expect(text.status == 0, "\(text.stderr)")
        #expect(
            text.stdout.contains("speculation   auto, draft_model smollm2-135m-instruct"),
            "\(text.stdout)")
        let json = try cli.run(["personas", "show", "lister", "--personas", folder.path, "--json"])
        let object = try json.json()
        #expect(object["speculation"] as? String == "auto")
        #expect(object["draft_model"] as? String == "smollm2-135m-instruct")
        #expect(object["repeat_last_n"] as? Int == 64 && object["top_k"] != nil)
    }

    @Test("/stats shows tok/s, eff tok/s and acceptance; metrics keep the drafts")
    func stats() throws {
        let (cli, folder) = try Self.setUp(mode: "auto")
        defer { cli.cleanUp() }

        // Twice the same question: the second reply drafts from memory too.
        let chat = try cli.run(
            ["chat", "--personas", folder.path, "lister"],
            input: "\(Self.question)\n\(Self.question)\n/stats\n/bye\n")
        #expect(chat.status == 0, "\(chat.stderr)")
        #expect(chat.stderr.contains(" tok/s · "), "\(chat.stderr)")
        #expect(chat.stderr.contains(" eff tok/s · "), "\(chat.stderr)")
        #expect(chat.stderr.contains("drafts accepted"), "\(chat.stderr)")
        #expect(chat.stderr.contains("mean accepted length"), "\(chat.stderr)")

        // The metrics keep each reply's acceptance; the second reply, which
        // repeats a question answered in the conversation, drafted. (How far
        // each draft runs depends on measured dispatch times, so acceptance
        // is pinned only where a reply repeats a learned one word for word.)
        let metrics = try cli.run(["metrics", "--json"])
        #expect(metrics.status == 0, "\(metrics.stderr)")
        let rows = try #require(try metrics.json()["replies"] as? [[String: Any]])
        #expect(rows.count == 2)
        let last = (rows.last?["acceptance_percent"] as? NSNumber)?.doubleValue
        #expect(last.map { $0 > 0 && $0 <= 100 } == true)
        let length = (rows.last?["mean_accepted_length"] as? NSNumber)?.doubleValue
        #expect((length ?? 0) > 0)
        let text = try cli.run(["metrics"])
        #expect(text.stdout.contains("acc len"), "\(text.stdout)")
    }

    @Test("a persona with a draft model drafts with it: /stats shows its acceptance")
    func draftModel() throws {
        // The default model is the only one with its vocabulary: it drafts
        // for itself, so every draft stands.
        let (cli, folder) = try Self.setUp(mode: "draft", draft: "smollm2-135m-instruct")
        defer { cli.cleanUp() }
        let input = "\(Self.question)\n/stats\n/bye\n"
        let chat = try cli.run(["chat", "--personas", folder.path, "lister"], input: input)
        #expect(chat.status == 0, "\(chat.stderr)")
        #expect(chat.stderr.contains("drafts accepted (100.0 %)"), "\(chat.stderr)")
    }

    @Test("a persona's memory is kept in the home and drafts in the next process")
    func memoryAcrossProcesses() throws {
        let (cli, folder) = try Self.setUp(mode: "memory")
        defer { cli.cleanUp() }
        for _ in 0..<2 {
            let chat = try cli.run(
                ["chat", "--personas", folder.path, "lister"], input: "\(Self.question)\n/bye\n")
            #expect(chat.status == 0, "\(chat.stderr)")
        }
        #expect(
            FileManager.default.fileExists(
                atPath: cli.home.appendingPathComponent("speculation.sqlite").path))
        let metrics = try cli.run(["metrics", "--json"])
        let rows = try #require(try metrics.json()["replies"] as? [[String: Any]])
        let acceptances = rows.map { ($0["acceptance_percent"] as? NSNumber)?.doubleValue }
        // The first process learned; the second drafted from what it learned.
        #expect(acceptances.count == 2)
        #expect(acceptances.first == .some(nil))
        #expect((acceptances.last.flatMap { $0 } ?? 0) >= 70)
    }
}
