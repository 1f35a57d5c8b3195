import Database
import Foundation
import Synchronization

@testable import Ledger

/// A temporary folder holding one test's ledger and key, removed when the
/// last reference goes.
final class Scratch: Sendable {
    let folder: URL

    init() throws {
        folder = FileManager.default.temporaryDirectory
            .appendingPathComponent("asth-ledger-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(at: folder)
    }

    var ledgerURL: URL { folder.appendingPathComponent("ledger.sqlite") }
    var keyURL: URL { folder.appendingPathComponent("host.key") }

    /// Opens (or reopens) the ledger in this folder.
    func open(clock: ManualClock? = nil) throws -> Ledger {
        try Ledger(url: ledgerURL, keyURL: keyURL, clock: clock?.ledgerClock ?? .system)
    }
}

/// A clock the test moves by hand, in Unix milliseconds.
final class ManualClock: Sendable {
    /// The current time; guarded by its own mutex.
    private let nowMs: Mutex<Int64>

    /// Starts at 2025-01-01T00:00:00Z plus `offsetMs`.
    init(offsetMs: Int64 = 0) {
        nowMs = Mutex(1_735_689_600_000 + offsetMs)
    }

    var now: Int64 { nowMs.withLock { $0 } }

    func advance(ms: Int64) {
        nowMs.withLock { $0 += ms }
    }

    var ledgerClock: LedgerClock {
        LedgerClock { [self] in self.now }
    }
}

/// A usage record for tests: the default model's size on the CPU.
func usage(
    _ requestId: String, persona: String = "ada", prompt: Int64 = 20, cached: Int64 = 0,
    output: Int64 = 10, elapsedMs: Int64 = 50, parameters: Int64 = 134_515_008
) -> Usage {
    Usage(
        requestId: requestId, persona: persona, model: "smollm2-135m-instruct",
        parameterCount: parameters, promptTokens: prompt, cachedPromptTokens: cached,
        outputTokens: output, elapsedMs: elapsedMs, device: "cpu")
}

/// The folder holding this test target's sources, found from `#filePath`.
func repositoryRoot(_ file: String = #filePath) -> URL {
    URL(fileURLWithPath: file).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
}

/// Raw access to a closed ledger file, as an attacker (or a careless tool)
/// would have it: no triggers, no foreign keys, no signing.
struct RawLedger {
    let db: SQLiteConnection

    init(url: URL) throws {
        db = try SQLiteConnection(path: url.path, create: false)
    }

    /// Drops the append-only triggers, as anyone with the file can.
    func dropGuards() throws {
        for name in [
            "transfers_no_update", "transfers_no_delete", "usage_no_update",
            "usage_no_delete",
        ] {
            try db.execute("DROP TRIGGER IF EXISTS \(name)")
        }
    }

    /// Sums of the transfers per account id, derived in SQL independently of
    /// the ledger's own code: posted kinds move posted sums, unresolved
    /// holds move pending sums.
    func derivedBalances() throws -> [Int64: BalanceDelta] {
        var sums: [Int64: BalanceDelta] = [:]
        try db.forEach(
            """
            SELECT a.id,
              (SELECT COALESCE(SUM(amount_micro), 0) FROM transfers WHERE debit_account = a.id
                 AND kind IN ('grant', 'refill', 'charge', 'post', 'correction')),
              (SELECT COALESCE(SUM(amount_micro), 0) FROM transfers WHERE credit_account = a.id
                 AND kind IN ('grant', 'refill', 'charge', 'post', 'correction')),
              (SELECT COALESCE(SUM(h.amount_micro), 0) FROM transfers h WHERE h.kind = 'hold'
                 AND h.debit_account = a.id
                 AND NOT EXISTS (SELECT 1 FROM transfers r WHERE r.pending_id = h.id)),
              (SELECT COALESCE(SUM(h.amount_micro), 0) FROM transfers h WHERE h.kind = 'hold'
                 AND h.credit_account = a.id
                 AND NOT EXISTS (SELECT 1 FROM transfers r WHERE r.pending_id = h.id))
            FROM accounts a
            """
        ) { row in
            sums[row.int(0)!] = BalanceDelta(
                debitsPosted: row.int(1)!, creditsPosted: row.int(2)!,
                debitsPending: row.int(3)!, creditsPending: row.int(4)!)
        }
        return sums
    }

    /// The cached balances per account id.
    func cachedBalances() throws -> [Int64: BalanceDelta] {
        try Self.cached(db)
    }

    /// The cached balances in `db` per account id.
    static func cached(_ db: SQLiteConnection) throws -> [Int64: BalanceDelta] {
        var sums: [Int64: BalanceDelta] = [:]
        try db.forEach(
            """
            SELECT account_id, debits_posted, credits_posted, debits_pending, credits_pending
            FROM balances
            """
        ) { row in
            sums[row.int(0)!] = BalanceDelta(
                debitsPosted: row.int(1)!, creditsPosted: row.int(2)!,
                debitsPending: row.int(3)!, creditsPending: row.int(4)!)
        }
        return sums
    }

    /// Rewrites both caches from the transfers, as a careful attacker
    /// would after changing history.
    func rebuildCaches() throws {
        let sums = try derivedBalances()
        for (id, sum) in sums {
            try db.query(
                """
                UPDATE balances SET debits_posted = ?, credits_posted = ?, debits_pending = ?,
                    credits_pending = ? WHERE account_id = ?
                """,
                [
                    .integer(sum.debitsPosted), .integer(sum.creditsPosted),
                    .integer(sum.debitsPending), .integer(sum.creditsPending), .integer(id),
                ])
        }
        try db.execute(
            """
            DELETE FROM open_holds;
            INSERT INTO open_holds (transfer_seq, timeout_ms)
                SELECT h.seq, h.timeout_ms FROM transfers h WHERE h.kind = 'hold'
                AND NOT EXISTS (SELECT 1 FROM transfers r WHERE r.pending_id = h.id);
            """)
    }
}
