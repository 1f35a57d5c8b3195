import Foundation
import Testing

/// `asth ledger grant`: Motes from the treasury, once per `--id`.
@Suite("CLI: ledger grant")
struct LedgerGrantTests {
    @Test("a grant shows in the balance, in text and JSON")
    func grantThenBalance() throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        let grant = try cli.run(["ledger", "grant", "assistant", "12.5"])
        #expect(grant.status == 0, "\(grant.stderr)")
        #expect(grant.stdout.contains("granted 12.5 Motes to assistant"), "\(grant.stdout)")

        let balance = try cli.run(["ledger", "balance", "assistant", "--json"])
        #expect(balance.status == 0, "\(balance.stderr)")
        let rows = try jsonArray(balance.stdout)
        #expect(rows.first?["balance_micro_motes"] as? Int == 12_500_000)
        let text = try cli.run(["ledger", "balance", "assistant"])
        #expect(text.stdout.contains("12.5 Motes"), "\(text.stdout)")
    }

    @Test("the same --id grants once, says so the second time, and refuses another amount")
    func grantIdempotency() throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        let first = try cli.run(["ledger", "grant", "assistant", "5", "--id", "invoice-7"])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(!first.stdout.contains("already"), "\(first.stdout)")

        // The retry grants nothing and says so, in text and in JSON.
        let again = try cli.run(["ledger", "grant", "assistant", "5", "--id", "invoice-7"])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stdout.contains("already granted"), "\(again.stdout)")
        let json = try cli.run(["ledger", "grant", "--json", "assistant", "5", "--id=invoice-7"])
        #expect(try json.json()["already_granted"] as? Bool == true, "\(json.stdout)")
        #expect(try json.json()["balance_micro_motes"] as? Int == 5_000_000)

        // The id with another amount is a conflict that names the id.
        let conflict = try cli.run(["ledger", "grant", "assistant", "6", "--id", "invoice-7"])
        #expect(conflict.status == 1)
        #expect(conflict.stderr.contains("invoice-7"), "\(conflict.stderr)")

        let history = try cli.run(["ledger", "history", "assistant", "--json"])
        let grants = try jsonArray(history.stdout).filter { $0["kind"] as? String == "grant" }
        #expect(grants.count == 1, "\(history.stdout)")
    }

    @Test(
        "an amount that is not a positive number of Motes is a usage error",
        arguments: ["0", "-1", "1.1234567", "abc", "1e3", "", "2000000000"])
    func badAmount(amount: String) throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        let result = try cli.run(["ledger", "grant", "assistant", amount])
        #expect(result.status == 1, "\(amount): \(result.stdout)")
        #expect(CLI.isErrorLine(result.stderr), "\(result.stderr)")
        #expect(!result.stdout.contains("granted"))
    }

    @Test("a persona that is neither defined nor has an account gets nothing")
    func unknownPersona() throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        let result = try cli.run(["ledger", "grant", "nobody", "3"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("'nobody'"), "\(result.stderr)")
        let balance = try cli.run(["ledger", "balance", "--json"])
        #expect(try jsonArray(balance.stdout).isEmpty, "\(balance.stdout)")
    }
}

/// Ledger commands called wrongly: exit 1 and one line naming what is wrong.
@Suite("CLI: ledger usage errors")
struct LedgerUsageTests {
    @Test(
        "each names the word, option or file at fault",
        arguments: [
            (["ledger"], "action"),
            (["ledger", "frobnicate"], "frobnicate"),
            (["ledger", "verify"], "no ledger"),
            (["ledger", "verify", "--checkpoint", "/nonexistent/note"], "/nonexistent/note"),
            (["ledger", "verify", "--checkpoint", "Personas/assistant.toml"], "line 1"),
            (["ledger", "export", "--csv", "--json"], "one of --csv or --json"),
            (["ledger", "audit", "--largest", "-1"], "--largest"),
            (["ledger", "grant", "assistant"], "MOTES"),
            (["ledger", "balance", "--bogus"], "--bogus"),
        ])
    func usageError(arguments: [String], evidence: String) throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        let result = try cli.run(arguments)
        #expect(result.status == 1, "\(arguments): \(result.stdout)")
        #expect(CLI.isErrorLine(result.stderr), "\(result.stderr)")
        #expect(result.stderr.contains(evidence), "\(evidence) in \(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
    }
}

/// Audit, verify, checkpoint and export over a ledger a real two-turn chat
/// wrote, and tampering with its file behind the host's back.
@Suite("CLI: ledger audit, verify, checkpoint, export", .chattedLedger)
struct LedgerReportTests {
    @Test("after a chat, audit shows the persona's spend and budget, and verify exits 0")
    func auditAfterChat() throws {
        let cli = try ChattedLedger.copy()
        defer { cli.cleanUp() }
        let audit = try cli.run(["ledger", "audit", "--json"])
        #expect(audit.status == 0, "\(audit.stderr)")
        let report = try audit.json()
        let spend = report["spend_by_persona"] as? [[String: Any]] ?? []
        #expect(spend.count == 1)
        #expect(spend.first?["key"] as? String == ChattedLedger.persona)
        #expect(spend.first?["charges"] as? Int == 2)
        #expect((spend.first?["amount_micro_motes"] as? Int ?? 0) > 0)
        let budgets = report["budgets"] as? [[String: Any]] ?? []
        #expect(
            budgets.first?["spent_this_period_micro_motes"] as? Int
                == spend.first?["amount_micro_motes"] as? Int)
        #expect(budgets.first?["refills_at"] is String)
        #expect((report["open_holds"] as? [Any])?.isEmpty == true)
        #expect((report["verify"] as? [String: Any])?["ok"] as? Bool == true)

        // The text report names the persona, its units and the verify result.
        let text = try cli.run(["ledger", "audit"])
        #expect(text.status == 0, "\(text.stderr)")
        for expected in [
            "Spend by persona", "Budgets (Motes)", "Largest charges", ChattedLedger.persona,
            "smollm2-135m-instruct", "Verify: ok",
        ] {
            #expect(text.stdout.contains(expected), "\(expected) in \(text.stdout)")
        }

        let verify = try cli.run(["ledger", "verify"])
        #expect(verify.status == 0, "\(verify.stderr)")
        #expect(verify.stdout.hasPrefix("ok: "), "\(verify.stdout)")
    }

    /// A change to the file, and how to find the entry verify must name.
    struct Tamper: CustomTestStringConvertible, Sendable {
        let name: String
        /// SQL run after the guards are dropped.
        let sql: String
        /// SQL whose first value, `V`, makes the entry: `transfer V `.
        let entry: String

        var testDescription: String { name }
    }

    static let tampers = [
        Tamper(
            name: "an amount edited",
            sql: "UPDATE transfers SET amount_micro = amount_micro + 1 WHERE seq = "
                + "(SELECT MAX(seq) FROM transfers WHERE kind = 'post')",
            entry: "SELECT MAX(seq) FROM transfers WHERE kind = 'post'"),
        Tamper(
            name: "a usage row edited",
            sql: "UPDATE usage SET output_tokens = output_tokens - 1 WHERE id = "
                + "(SELECT MIN(id) FROM usage)",
            entry: "SELECT seq FROM transfers WHERE usage_id = (SELECT MIN(id) FROM usage)"),
        Tamper(
            name: "a hold deleted",
            sql: "DELETE FROM transfers WHERE seq = (SELECT MIN(seq) FROM transfers"
                + " WHERE kind = 'hold')",
            entry: "SELECT MIN(seq) + 1 FROM transfers WHERE kind = 'hold'"),
        Tamper(
            name: "the first transfer deleted",
            sql: "DELETE FROM transfers WHERE seq = 1",
            entry: "SELECT 2"),
    ]

    @Test("tampering with the file makes verify exit 3 naming the entry", arguments: tampers)
    func tampering(tamper: Tamper) throws {
        let cli = try ChattedLedger.copy()
        defer { cli.cleanUp() }
        let path = cli.home.appendingPathComponent("ledger.sqlite").path
        let entry: String
        do {
            let file = try SQLiteFile(path: path)
            entry = "transfer \(try file.integer(tamper.entry)) ("
            try file.dropLedgerGuards()
            try file.execute(tamper.sql)
        }

        // Verify names the entry, and leaves the file as it found it.
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        let verify = try cli.run(["ledger", "verify"])
        #expect(verify.status == 3, "\(verify.stdout)")
        #expect(verify.stderr.contains(entry), "\(entry) in \(verify.stderr)")
        #expect(verify.stdout.hasPrefix("FAILED"), "\(verify.stdout)")
        let json = try cli.run(["ledger", "verify", "--json"])
        #expect(json.status == 3)
        let first = try json.json()["first_problem"] as? [String: Any]
        #expect((first?["entry"] as? String)?.hasPrefix(entry) == true, "\(json.stdout)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)

        // The audit still prints, then exits 3 the same way.
        let audit = try cli.run(["ledger", "audit"])
        #expect(audit.status == 3)
        #expect(audit.stdout.contains("Verify: FAILED"), "\(audit.stdout)")
    }

    @Test("bytes overwritten below SQL make verify and audit exit 3")
    func damagedFile() throws {
        let cli = try ChattedLedger.copy()
        defer { cli.cleanUp() }
        let url = cli.home.appendingPathComponent("ledger.sqlite")
        let handle = try FileHandle(forUpdating: url)
        try handle.seek(toOffset: 100)  // the first page's b-tree header, after the file header
        try handle.write(contentsOf: Data(repeating: 0xFF, count: 64))
        try handle.close()
        for command in [["ledger", "verify"], ["ledger", "audit"]] {
            let result = try cli.run(command)
            #expect(result.status == 3, "\(command): \(result.stderr)")
            #expect(result.stderr.contains("database"), "\(result.stderr)")
        }
    }

    @Test("a checkpoint, then the tail truncated consistently: only verify --checkpoint sees it")
    func checkpointThenTruncate() throws {
        let cli = try ChattedLedger.copy()
        defer { cli.cleanUp() }
        let note = cli.home.appendingPathComponent("checkpoint.txt").path
        let taken = try cli.run(["ledger", "checkpoint", "--out", note])
        #expect(taken.status == 0, "\(taken.stderr)")
        #expect(taken.stderr.contains("Keep a copy"), "\(taken.stderr)")
        let again = try cli.run(["ledger", "checkpoint", "--out", note])
        #expect(again.status == 1, "an older checkpoint is never written over")
        let intact = try cli.run(["ledger", "verify", "--checkpoint", note])
        #expect(intact.status == 0, "\(intact.stdout) \(intact.stderr)")

        // Drop the last reply (its hold, post and usage) and fix the caches.
        let file = try SQLiteFile(path: cli.home.appendingPathComponent("ledger.sqlite").path)
        try file.dropLedgerGuards()
        let holdSeq = try file.integer("SELECT MAX(seq) FROM transfers WHERE kind = 'hold'")
        try file.execute(
            """
            DELETE FROM usage WHERE id IN (SELECT usage_id FROM transfers WHERE seq >= \(holdSeq));
            DELETE FROM open_holds WHERE transfer_seq >= \(holdSeq);
            DELETE FROM transfers WHERE seq >= \(holdSeq);
            """)
        try file.execute(Self.rebuildCaches)

        let plain = try cli.run(["ledger", "verify"])
        #expect(plain.status == 0, "a consistent truncation passes alone: \(plain.stdout)")
        let checked = try cli.run(["ledger", "verify", "--checkpoint", note])
        #expect(checked.status == 3, "\(checked.stdout)")
        #expect(checked.stderr.contains("checkpoint"), "\(checked.stderr)")
        #expect(checked.stderr.contains("truncated"), "\(checked.stderr)")
    }

    /// Cached balances and open holds recomputed from the transfers, as an
    /// attacker covering their tracks would.
    static let rebuildCaches = """
        UPDATE balances SET
          debits_posted = (SELECT COALESCE(SUM(amount_micro), 0) FROM transfers
            WHERE debit_account = balances.account_id
            AND kind IN ('grant', 'refill', 'charge', 'post', 'correction')),
          credits_posted = (SELECT COALESCE(SUM(amount_micro), 0) FROM transfers
            WHERE credit_account = balances.account_id
            AND kind IN ('grant', 'refill', 'charge', 'post', 'correction')),
          debits_pending = (SELECT COALESCE(SUM(amount_micro), 0) FROM transfers h
            WHERE h.debit_account = balances.account_id AND h.kind = 'hold'
            AND NOT EXISTS (SELECT 1 FROM transfers r WHERE r.pending_id = h.id)),
          credits_pending = (SELECT COALESCE(SUM(amount_micro), 0) FROM transfers h
            WHERE h.credit_account = balances.account_id AND h.kind = 'hold'
            AND NOT EXISTS (SELECT 1 FROM transfers r WHERE r.pending_id = h.id));
        DELETE FROM open_holds;
        INSERT INTO open_holds (transfer_seq, timeout_ms)
          SELECT seq, timeout_ms FROM transfers h WHERE kind = 'hold'
          AND NOT EXISTS (SELECT 1 FROM transfers r WHERE r.pending_id = h.id);
        """

    @Test("export --csv has a header row and one row per transfer; --json the same objects")
    func export() throws {
        let cli = try ChattedLedger.copy()
        defer { cli.cleanUp() }
        let file = try SQLiteFile(path: cli.home.appendingPathComponent("ledger.sqlite").path)
        let amounts = try file.rows("SELECT seq, amount_micro FROM transfers ORDER BY seq")
            .map { $0.map { $0 ?? "" } }
        #expect(amounts.count >= 5, "a refill and two holds and posts")

        // CSV: a header, then sequence and amount as stored, row by row.
        let csv = try cli.run(["ledger", "export", "--csv"])
        #expect(csv.status == 0, "\(csv.stderr)")
        let table = CSVText.parse(csv.stdout)
        let header = table.first ?? []
        #expect(header.prefix(3) == ["sequence", "id", "kind"], "\(header)")
        let rows = table.dropFirst()
        #expect(rows.count == amounts.count, "\(csv.stdout)")
        #expect(rows.allSatisfy { $0.count == header.count })
        let sequence = header.firstIndex(of: "sequence") ?? 0
        let amount = header.firstIndex(of: "amount_micro") ?? 0
        #expect(rows.map { [$0[sequence], $0[amount]] } == amounts)

        // JSON, to a file: the same transfers.
        let out = cli.home.appendingPathComponent("export.json")
        let json = try cli.run(["ledger", "export", "--json", "--out", out.path])
        #expect(json.status == 0, "\(json.stderr)")
        let objects = try jsonArray(String(decoding: Data(contentsOf: out), as: UTF8.self))
        #expect(objects.map { "\($0["sequence"] ?? "")" } == amounts.map { $0[0] })

        let neither = try cli.run(["ledger", "export"])
        #expect(neither.status == 1)
    }
}

/// Parses standard output as a JSON array of objects.
func jsonArray(_ text: String) throws -> [[String: Any]] {
    try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]] ?? []
}

/// RFC 4180 CSV, as far as the export writes it: quoted fields may hold
/// commas, doubled quotes and line breaks; records end in CRLF.
enum CSVText {
    static func parse(_ text: String) -> [[String]] {
        var records: [[String]] = []
        var record: [String] = []
        var field = ""
        var quoted = false
        var previous: Character?
        for character in text {
            defer { previous = character }
            if quoted {
                // A quote ends the field unless the next one doubles it.
                if character == "\"" {
                    quoted = false
                } else {
                    field.append(character)
                }
                continue
            }
            switch character {
            case "\"":
                if previous == "\"" { field.append("\"") }
                quoted = true
            case ",":
                record.append(field)
                field = ""
            case "\r\n", "\n":
                records.append(record + [field])
                record = []
                field = ""
            default:
                field.append(character)
            }
        }
        if !field.isEmpty || !record.isEmpty { records.append(record + [field]) }
        return records
    }
}

/// A home whose ledger holds one two-turn chat, made once for the suite
/// that carries the `.chattedLedger` trait and copied by each test.
enum ChattedLedger {
    /// The persona of the chat: short replies keep the chat quick.
    static let persona = "brief"

    @TaskLocal static var home: URL?

    /// A fresh home holding a copy of the chatted ledger and its key.
    static func copy() throws -> CLI {
        guard let home else { throw SetupError("the suite lacks the .chattedLedger trait") }
        let cli = try CLI()
        for name in ["ledger.sqlite", "ledger.sqlite-wal", "host.key"] {
            let source = home.appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: source.path) else { continue }
            try FileManager.default.copyItem(
                at: source, to: cli.home.appendingPathComponent(name))
        }
        try FileManager.default.setAttributes(
            [.posixPermissions: 0o600],
            ofItemAtPath: cli.home.appendingPathComponent("host.key").path)
        return cli
    }

    /// Chats two turns with `persona` in `cli`'s home.
    static func chat(in cli: CLI) throws {
        let folder = cli.home.appendingPathComponent("personas")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let file = """
            description = "Short replies for the ledger tests."
            model = "smollm2-135m-instruct"
            max_tokens = 12
            [economy]
            allowance_motes = 100.0
            """
        try Data(file.utf8).write(to: folder.appendingPathComponent("\(persona).toml"))
        let chat = try cli.run(
            ["chat", "--personas", folder.path, persona],
            input: "What is the capital of France?\nName one animal.\n")
        let charged = chat.stderr.components(separatedBy: "Motes charged").count - 1
        guard chat.status == 0, charged == 2 else {
            throw SetupError("chat exited \(chat.status), \(charged) charges: \(chat.stderr)")
        }
    }

    struct SetupError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}

/// Runs the suite with `ChattedLedger.home` set to a home it chatted in.
struct ChattedLedgerTrait: SuiteTrait, TestScoping {
    func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        try ChattedLedger.chat(in: cli)
        try await ChattedLedger.$home.withValue(cli.home) { try await function() }
    }
}

extension Trait where Self == ChattedLedgerTrait {
    /// The suite's tests read copies of a ledger a real chat wrote.
    static var chattedLedger: Self { Self() }
}
