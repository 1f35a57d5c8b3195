import Foundation
import Testing

/// `asth chat` with each shipped persona, scripted through standard input,
/// charged to a fresh ledger.
@Suite("CLI: chat with the shipped personas", .serialized)
struct ChatTests {
    static let personas = ["assistant", "pirate", "poet", "tutor"]
    static let script =
        "What is the capital of France?\nName one animal that lives in the sea.\nThank you!\n"

    /// A settled reply: a hold posted, or a direct charge.
    static func isCharge(_ row: [String: Any]) -> Bool {
        ["post", "charge"].contains(row["kind"] as? String ?? "")
    }

    @Test("three turns give three replies, three usage rows and three charges", arguments: personas)
    func scripted(persona: String) throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        let chat = try cli.run(["chat", persona], input: Self.script)
        #expect(chat.status == 0, "\(chat.stderr)")

        // One reply per turn on stdout, one status line per reply on stderr.
        let replies = chat.stdout.split(separator: "\n", omittingEmptySubsequences: true)
        #expect(replies.count >= 3, "replies: \(chat.stdout)")
        let statusLines = chat.stderr.split(separator: "\n").filter { $0.contains("Motes charged") }
        #expect(statusLines.count == 3, "stderr: \(chat.stderr)")

        // The ledger holds the allowance grant and one charge per reply.
        let history = try cli.run(["ledger", "history", persona, "--json"])
        #expect(history.status == 0, "\(history.stderr)")
        let rows =
            try JSONSerialization.jsonObject(with: Data(history.stdout.utf8))
            as? [[String: Any]] ?? []
        let charges = rows.filter(Self.isCharge)
        #expect(charges.count == 3)
        // In the journal's order, though a hold and its post share a second.
        let kinds = rows.compactMap { $0["kind"] as? String }.filter { $0 != "refill" }
        #expect(
            kinds == Array(repeating: ["hold", "post"], count: 3).flatMap { $0 }
                || kinds.allSatisfy { $0 == "charge" },
            "\(kinds)")
        for charge in charges {
            #expect((charge["change_micro_motes"] as? Int ?? 0) < 0)
            #expect((charge["output_tokens"] as? Int ?? 0) > 0)
            #expect(charge["model"] as? String == "smollm2-135m-instruct")
        }

        // The balance is the allowance less the charges.
        let balance = try cli.run(["ledger", "balance", persona, "--json"])
        let balanceRows =
            try JSONSerialization.jsonObject(with: Data(balance.stdout.utf8))
            as? [[String: Any]] ?? []
        let granted = rows.filter { !Self.isCharge($0) }
            .reduce(0) { $0 + ($1["change_micro_motes"] as? Int ?? 0) }
        let spent = charges.reduce(0) { $0 + ($1["change_micro_motes"] as? Int ?? 0) }
        #expect(balanceRows.first?["balance_micro_motes"] as? Int == granted + spent)
    }

    @Test("the second turn reuses the cached conversation")
    func prefixReuse() throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        let chat = try cli.run(["chat", "tutor", "--verbose"], input: Self.script)
        #expect(chat.status == 0, "\(chat.stderr)")
        let history = try cli.run(["ledger", "history", "tutor", "--json"])
        let rows =
            try JSONSerialization.jsonObject(with: Data(history.stdout.utf8))
            as? [[String: Any]] ?? []
        let charges = rows.filter(Self.isCharge)
        #expect(charges.count == 3)
        #expect((charges.last?["cached_prompt_tokens"] as? Int ?? 0) > 20)
    }

    @Test("a reply the budget cannot cover is refused before compute, with exit code 2")
    func overBudget() throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        let folder = cli.home.appendingPathComponent("personas")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let persona = """
            model = "smollm2-135m-instruct"
            max_tokens = 200
            [economy]
            allowance_motes = 0.5
            """
        try Data(persona.utf8).write(to: folder.appendingPathComponent("frugal.toml"))
        let chat = try cli.run(["chat", "--personas", folder.path, "frugal"], input: "Hi\n")
        #expect(chat.status == 2, "\(chat.stderr)")
        #expect(chat.stdout.isEmpty)
        #expect(chat.stderr.contains("may cost up to"), "\(chat.stderr)")
        #expect(chat.stderr.contains("refills"), "\(chat.stderr)")
        let history = try cli.run(["ledger", "history", "frugal", "--json"])
        #expect(!history.stdout.contains("\"post\""), "\(history.stdout)")
        #expect(!history.stdout.contains("\"charge\""), "\(history.stdout)")
    }

    @Test("an unknown persona is one clear error with exit code 1")
    func unknownPersona() throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        let result = try cli.run(["chat", "nobody"], input: "hi\n")
        #expect(result.status == 1)
        #expect(CLI.isErrorLine(result.stderr))
        #expect(result.stderr.contains("nobody"))
    }
}
