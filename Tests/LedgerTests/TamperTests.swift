import Database
import Foundation
import Testing

@testable import Ledger

/// Changes made to the database behind the host's back are detected:
/// editing any column of any row, deleting a row, swapping two rows, and,
/// against a checkpoint, truncating the tail or re-signing a rewritten
/// history.
@Suite struct TamperTests {
    let scratch: Scratch
    let checkpoint: Checkpoint

    /// A closed ledger holding every kind of transfer, and a checkpoint of it.
    init() throws {
        scratch = try Scratch()
        let clock = ManualClock()
        let ledger = try scratch.open(clock: clock)
        try ledger.ensureAccount(persona: "ada", allowance: .motes(10), periodSeconds: 3600)
        try ledger.grant(persona: "bob", amount: .motes(20), id: "grant-bob")
        _ = try ledger.record(usage: usage("r1"))
        try ledger.hold(persona: "bob", requestId: "h1", amount: .motes(2), timeout: .seconds(60))
        _ = try ledger.post(usage: usage("h1", persona: "bob", output: 5))
        try ledger.hold(persona: "bob", requestId: "h2", amount: .motes(2), timeout: .seconds(60))
        try ledger.void(requestId: "h2")
        try ledger.hold(persona: "ada", requestId: "h3", amount: .motes(1), timeout: .seconds(10))
        clock.advance(ms: 20_000)
        try ledger.expireHolds()
        try ledger.correct(from: .persona("bob"), to: .treasury, amount: .motes(1), id: "fix-1")
        try ledger.hold(persona: "ada", requestId: "h4", amount: .motes(1), timeout: .seconds(3600))
        _ = try ledger.record(usage: usage("r2", persona: "bob", output: 30))
        checkpoint = try ledger.checkpoint()
        #expect(try ledger.verify(checkpoint: checkpoint).ok)
    }

    /// The untouched ledger verifies, with and without its checkpoint, and
    /// the checkpoint survives a round trip through its text.
    @Test func untouchedLedgerVerifies() throws {
        let report = try Ledger.verify(
            url: scratch.ledgerURL, keyURL: scratch.keyURL, checkpoint: checkpoint)
        #expect(report.ok, "\(report.problems)")
        #expect(report.size == checkpoint.size && report.size >= 12)
        #expect(report.checkpointChecked)
        let parsed = try Checkpoint(parsing: checkpoint.text)
        #expect(parsed == checkpoint)
        #expect(parsed.isSignatureValid)
    }

    /// Every column of every row of every table, changed, is detected; for
    /// a transfer the first problem names that transfer.
    @Test func editingAnyColumnOfAnyRowIsDetected() throws {
        var missed: [String] = []
        var cases = 0
        for table in ["transfers", "usage", "accounts", "balances", "open_holds", "ledger_meta"] {
            let raw = try RawLedger(url: scratch.ledgerURL)
            let columns = try raw.db.query("PRAGMA table_info(\(table))").map {
                (name: $0.text(1)!, type: $0.text(2)!)
            }
            let rowids = try raw.db.query("SELECT rowid FROM \(table) ORDER BY rowid").map {
                $0.int(0)!
            }
            #expect(!rowids.isEmpty, "\(table) has rows to tamper with")
            for rowid in rowids {
                for column in columns {
                    cases += 1
                    let label = "\(table).\(column.name) of row \(rowid)"
                    let report = try tampered(label) { db in
                        try edit(db, table: table, rowid: rowid, column: column)
                    }
                    if report.ok { missed.append(label) }
                    if table == "transfers", column.name != "seq",
                        report.firstProblem?.entry.hasPrefix("transfer \(rowid) ") != true
                    {
                        missed.append(
                            "\(label): first problem \(String(describing: report.firstProblem))")
                    }
                }
            }
        }
        #expect(missed.isEmpty, "undetected: \(missed)")
        #expect(cases > 250)
    }

    /// Deleting any one row of any table is detected.
    @Test func deletingAnyRowIsDetected() throws {
        var missed: [String] = []
        for table in ["transfers", "usage", "accounts", "balances", "open_holds", "ledger_meta"] {
            let rowids = try RawLedger(url: scratch.ledgerURL).db
                .query("SELECT rowid FROM \(table)").map { $0.int(0)! }
            for rowid in rowids {
                let report = try tampered("delete \(table) \(rowid)") { db in
                    try db.query("DELETE FROM \(table) WHERE rowid = ?", [.integer(rowid)])
                }
                if report.ok { missed.append("\(table) row \(rowid)") }
            }
        }
        #expect(missed.isEmpty, "undetected deletions: \(missed)")
    }

    /// Swapping the contents of two neighbouring transfers, or of two usage
    /// rows, is detected.
    @Test func swappingTwoRowsIsDetected() throws {
        for (table, key, first, second) in [
            ("transfers", "seq", Int64(3), Int64(4)), ("transfers", "seq", 1, 12),
            ("usage", "id", 1, 2),
        ] {
            let report = try tampered("swap \(table) \(first) \(second)") { db in
                try swap(db, table: table, key: key, first, second)
            }
            #expect(!report.ok, "swap of \(table) \(first) and \(second)")
        }
    }

    /// Truncating the tail (and fixing the caches) passes a plain verify but
    /// not one against the checkpoint.
    @Test func truncatingTheTailIsDetectedByTheCheckpoint() throws {
        let url = try copyOfLedger("truncate")
        let raw = try RawLedger(url: url)
        try raw.dropGuards()
        try raw.db.execute(
            """
            DELETE FROM usage WHERE id IN
                (SELECT usage_id FROM transfers WHERE seq > \(checkpoint.size - 2));
            DELETE FROM open_holds WHERE transfer_seq > \(checkpoint.size - 2);
            DELETE FROM transfers WHERE seq > \(checkpoint.size - 2);
            """)
        try raw.rebuildCaches()

        let plain = try Ledger.verify(url: url, keyURL: scratch.keyURL)
        #expect(plain.ok, "a consistent truncation is invisible without a checkpoint")
        let checked = try Ledger.verify(url: url, keyURL: scratch.keyURL, checkpoint: checkpoint)
        #expect(!checked.ok)
        #expect(checked.firstProblem?.reason.contains("truncated") == true)
    }

    /// Rewriting an old transfer and re-signing the whole chain with the
    /// host key passes a plain verify but not one against the checkpoint.
    @Test func resignedRewrittenHistoryIsDetectedByTheCheckpoint() throws {
        let url = try copyOfLedger("resign")
        let raw = try RawLedger(url: url)
        try raw.dropGuards()
        try raw.db.query(
            "UPDATE transfers SET amount_micro = amount_micro * 2 WHERE id = 'grant-bob'")
        try resign(raw.db)
        try raw.rebuildCaches()

        let plain = try Ledger.verify(url: url, keyURL: scratch.keyURL)
        #expect(plain.ok, "a re-signed history is valid on its own: \(plain.problems)")
        let checked = try Ledger.verify(url: url, keyURL: scratch.keyURL, checkpoint: checkpoint)
        #expect(!checked.ok)
        #expect(checked.firstProblem?.reason.contains("rewritten") == true)
    }

    /// A checkpoint that was edited, or signed by another key, is refused.
    @Test func forgedCheckpointsAreRefused() throws {
        let text = checkpoint.text.replacingOccurrences(
            of: "size \(checkpoint.size)", with: "size \(checkpoint.size - 1)")
        let forged = try Checkpoint(parsing: text)
        #expect(!forged.isSignatureValid)
        let report = try Ledger.verify(
            url: scratch.ledgerURL, keyURL: scratch.keyURL, checkpoint: forged)
        #expect(report.firstProblem?.entry == "checkpoint")

        for bad in [
            "", "hello", checkpoint.text + "more\n",
            checkpoint.text.replacingOccurrences(of: "head ", with: "head zz"),
        ] {
            #expect(throws: LedgerError.self) { try Checkpoint(parsing: bad) }
        }
    }

    /// A ledger opened with another key file refuses to write and fails
    /// verification, naming the key.
    @Test func anotherKeyIsRefused() throws {
        let other = scratch.folder.appendingPathComponent("other.key")
        let ledger = try Ledger(url: scratch.ledgerURL, keyURL: other)
        #expect(throws: LedgerError.self) { try ledger.grant(persona: "ada", amount: .motes(1)) }
        let report = try ledger.verify()
        #expect(report.firstProblem?.entry == "ledger_meta")
    }

    // MARK: - Helpers

    /// A fresh copy of the fixture, edited by `change`, then verified.
    private func tampered(
        _ label: String, _ change: (SQLiteConnection) throws -> Void
    ) throws -> VerifyReport {
        let url = try copyOfLedger(label)
        do {
            let raw = try RawLedger(url: url)
            try raw.dropGuards()
            try change(raw.db)
        }
        defer { try? FileManager.default.removeItem(at: url) }
        return try Ledger.verify(url: url, keyURL: scratch.keyURL)
    }

    private func copyOfLedger(_ label: String) throws -> URL {
        let safe = label.map { $0.isLetter || $0.isNumber ? $0 : "-" }
        let url = scratch.folder.appendingPathComponent("case-\(String(safe)).sqlite")
        try? FileManager.default.removeItem(at: url)
        try FileManager.default.copyItem(at: scratch.ledgerURL, to: url)
        return url
    }

    /// Changes one value so that the column still accepts it.
    private func edit(
        _ db: SQLiteConnection, table: String, rowid: Int64, column: (name: String, type: String)
    ) throws {
        let current = try db.first(
            "SELECT \(column.name) FROM \(table) WHERE rowid = ?", [.integer(rowid)])!.values[0]
        for candidate in replacements(for: current, column: column) {
            let sql = "UPDATE \(table) SET \(column.name) = ? WHERE rowid = ?"
            if (try? db.query(sql, [candidate, .integer(rowid)])) != nil, db.changes == 1 {
                return
            }
        }
        Issue.record("no accepted replacement for \(table).\(column.name) row \(rowid)")
    }

    private func replacements(
        for value: SQLiteValue, column: (name: String, type: String)
    ) -> [SQLiteValue] {
        switch value {
        case .integer(let number):
            return [.integer(number + 1_000_003), .integer(number + 1)]
        case .text(let text) where column.name == "kind":
            return ["correction", "grant", "device", "persona", "treasury"]
                .filter { $0 != text }.map(SQLiteValue.text)
        case .text(let text):
            return [.text(text + "x")]
        case .blob(let bytes):
            var flipped = bytes.isEmpty ? [0] : bytes
            flipped[0] ^= 0x01
            return [.blob(flipped)]
        case .real(let number):
            return [.real(number + 1)]
        case .null:
            switch column.type {
            case "INTEGER": return [.integer(1)]
            case "TEXT": return [.text("x")]
            default: return [.blob([1])]
            }
        }
    }

    /// Exchanges every column but `key` between rows `a` and `b`.
    private func swap(
        _ db: SQLiteConnection, table: String, key: String, _ a: Int64, _ b: Int64
    ) throws {
        let columns = try db.query("PRAGMA table_info(\(table))").map { $0.text(1)! }
            .filter { $0 != key && $0 != "id" && $0 != "request_id" }
        let list = columns.joined(separator: ", ")
        let rowA = try db.first("SELECT \(list) FROM \(table) WHERE \(key) = ?", [.integer(a)])!
        let rowB = try db.first("SELECT \(list) FROM \(table) WHERE \(key) = ?", [.integer(b)])!
        let assignments = columns.map { "\($0) = ?" }.joined(separator: ", ")
        let sql = "UPDATE \(table) SET \(assignments) WHERE \(key) = ?"
        try db.query(sql, rowB.values + [.integer(a)])
        try db.query(sql, rowA.values + [.integer(b)])
    }

    /// Re-hashes and re-signs every transfer with the host key, as someone
    /// holding the key could.
    private func resign(_ db: SQLiteConnection) throws {
        let key = try #require(try SigningKey.load(at: scratch.keyURL))
        let rows = try db.query("SELECT \(TransferRow.columns) FROM transfers ORDER BY seq")
            .compactMap(TransferRow.init(row:))
        var previous = TransferRow.genesisHash
        for var row in rows {
            row.prevHash = previous
            row.hash = try row.computeHash(after: previous)
            row.signature = try key.sign(row.hash)
            try db.query(
                "UPDATE transfers SET prev_hash = ?, hash = ?, signature = ? WHERE seq = ?",
                [
                    .blob(row.prevHash), .blob(row.hash), .blob(row.signature),
                    .integer(row.sequence),
                ])
            previous = row.hash
        }
    }
}
