import Database
import Foundation
import Support

/// The ledger's SQL: one connection, the signing key and the clock. Every
/// write goes through `write`, which opens a `BEGIN IMMEDIATE` transaction,
/// expires overdue holds and then runs the caller's steps.
///
/// Not thread-safe; `Ledger` keeps it behind a `Mutex`.
final class LedgerStore {
    let db: SQLiteConnection
    let key: SigningKey
    let clock: LedgerClock
    /// Every shipped price schedule by version, to recompute old charges.
    let schedules: [Int: PriceSchedule]
    /// The schedule that prices new charges: the highest version.
    let currentSchedule: PriceSchedule
    let log = Log("ledger")
    /// Set when the key file does not match the ledger's key record; every
    /// write then throws it, while reads and `verify` still work.
    private(set) var keyProblem: LedgerError?

    /// How long a writer waits for another connection's lock. Generous: 64
    /// contending writers each holding the lock for a few ms must all pass.
    static let busyTimeoutMs: Int32 = 30_000

    /// Opens the database at `path` (creating and migrating it) with the
    /// key at `keyURL` (creating it on first use).
    init(path: URL, keyURL: URL, clock: LedgerClock) throws {
        db = try SQLiteConnection(path: path.path)
        try db.setBusyTimeout(milliseconds: Self.busyTimeoutMs)

        // Durability: WAL, and every commit reaches the disk before it returns.
        let mode = try db.first("PRAGMA journal_mode = WAL")?.text(0) ?? "?"
        if mode.lowercased() != "wal" {
            log.warn("open: journal mode is not WAL", ["mode": mode, "path": path.path])
        }
        try db.execute("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON")
        try Migrations.apply(to: db)

        // Keys and prices.
        key = try SigningKey.loadOrCreate(at: keyURL)
        let shipped = try PriceSchedule.shipped()
        schedules = Dictionary(uniqueKeysWithValues: shipped.map { ($0.version, $0) })
        guard let current = shipped.max(by: { $0.version < $1.version }) else {
            preconditionFailure("LedgerStore: no price schedule is embedded")
        }
        currentSchedule = current
        self.clock = clock

        // Bind the key to the ledger, create the treasury, expire stale holds.
        try db.writeTransaction { keyProblem = try bindKey(path: keyURL.path) }
        if let keyProblem {
            log.error("open: signing key mismatch", ["problem": keyProblem])
        } else {
            try write { now in _ = try accountId(.treasury, now: now) }
        }
        log.info("open", ["path": path.path, "schema": Migrations.latestVersion])
    }

    // MARK: - Transactions

    /// Runs `body` in a write transaction after expiring overdue holds.
    func write<T>(_ body: (_ nowMs: Int64) throws -> T) throws -> T {
        if let keyProblem { throw keyProblem }
        return try db.writeTransaction {
            let now = clock.nowMs()
            try expireDue(now: now)
            return try body(now)
        }
    }

    /// Stores the key's public half in a fresh ledger; afterwards returns
    /// the problem if the key file is not the one the ledger was signed with
    /// (or the record is gone), rather than writing over the evidence.
    private func bindKey(path: String) throws -> LedgerError? {
        let stored = try db.first(
            "SELECT value FROM ledger_meta WHERE key = 'signing_public_key'")?.blob(0)
        guard let stored else {
            guard try db.first("SELECT 1 FROM accounts LIMIT 1") == nil else {
                return .inconsistent(entry: "ledger_meta", reason: "the signing key record is gone")
            }
            try db.query(
                "INSERT INTO ledger_meta (key, value) VALUES ('signing_public_key', ?)",
                [.blob(key.publicKey)])
            return nil
        }
        guard Sodium.constantTimeEqual(stored, key.publicKey) else {
            return .keyMismatch(
                path: path, ledgerKey: Hex.encode(stored), fileKey: Hex.encode(key.publicKey))
        }
        return nil
    }

    // MARK: - Accounts

    /// The id of `account`, creating it (signed, zero allowance) if absent.
    func accountId(_ account: Account, now: Int64) throws -> Int64 {
        if let id = try existingAccountId(account) { return id }
        try Validate.name(account.name, field: "account.name")
        let settings = AccountSettings(
            account: account, allowance: .zero, periodSeconds: Self.defaultPeriodSeconds,
            createdMs: now)
        return try insertAccount(settings)
    }

    /// The id of `account`, or nil when it does not exist.
    func existingAccountId(_ account: Account) throws -> Int64? {
        try db.first(
            "SELECT id FROM accounts WHERE kind = ? AND name = ?",
            [.text(account.kind.rawValue), .text(account.name)])?.int(0)
    }

    /// The default refill period: a day.
    static let defaultPeriodSeconds: Int64 = 86_400

    /// Inserts a signed account row and its zero balance.
    func insertAccount(_ settings: AccountSettings) throws -> Int64 {
        let id = (try db.first("SELECT COALESCE(MAX(id), 0) + 1 FROM accounts")?.int(0)) ?? 1
        let signature = try key.sign(AccountRow(id: id, settings: settings).canonicalBytes)
        try db.query(
            """
            INSERT INTO accounts (id, kind, name, allowance_micro, period_s, created_ms, signature)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            """,
            [
                .integer(id), .text(settings.account.kind.rawValue), .text(settings.account.name),
                .integer(settings.allowance.rawValue), .integer(settings.periodSeconds),
                .integer(settings.createdMs), .blob(signature),
            ])
        try db.query("INSERT INTO balances (account_id) VALUES (?)", [.integer(id)])
        log.info("account: created", ["account": settings.account, "id": id])
        return id
    }

    /// Changes an account's allowance or period and signs the row again.
    func updateAccount(id: Int64, _ settings: AccountSettings) throws {
        let signature = try key.sign(AccountRow(id: id, settings: settings).canonicalBytes)
        try db.query(
            "UPDATE accounts SET allowance_micro = ?, period_s = ?, signature = ? WHERE id = ?",
            [
                .integer(settings.allowance.rawValue), .integer(settings.periodSeconds),
                .blob(signature), .integer(id),
            ])
        log.info(
            "account: updated",
            [
                "account": settings.account, "allowance": settings.allowance,
                "period_s": settings.periodSeconds,
            ])
    }

    /// The stored settings of account `id`.
    func settings(ofAccount id: Int64) throws -> AccountSettings? {
        guard
            let row = try db.first(
                """
                SELECT kind, name, allowance_micro, period_s, created_ms FROM accounts WHERE id = ?
                """, [.integer(id)]),
            let kind = row.text(0).flatMap(Account.Kind.init(rawValue:)), let name = row.text(1),
            let allowance = row.int(2), let period = row.int(3), let created = row.int(4)
        else { return nil }
        return AccountSettings(
            account: Account(kind: kind, name: name), allowance: MicroMotes(allowance),
            periodSeconds: period, createdMs: created)
    }

    /// Every account by id, for turning stored ids into names.
    func accountsById() throws -> [Int64: Account] {
        var accounts: [Int64: Account] = [:]
        try db.forEach("SELECT id, kind, name FROM accounts") { row in
            guard let id = row.int(0), let name = row.text(2),
                let kind = row.text(1).flatMap(Account.Kind.init(rawValue:))
            else { return }
            accounts[id] = Account(kind: kind, name: name)
        }
        return accounts
    }

    // MARK: - Balances

    /// The cached balance of account `id`.
    func cachedBalance(ofAccount id: Int64) throws -> AccountBalance {
        guard
            let row = try db.first(
                """
                SELECT debits_posted, credits_posted, debits_pending, credits_pending
                FROM balances WHERE account_id = ?
                """, [.integer(id)])
        else { return .zero }
        return AccountBalance(
            debitsPosted: MicroMotes(row.int(0) ?? 0), creditsPosted: MicroMotes(row.int(1) ?? 0),
            debitsPending: MicroMotes(row.int(2) ?? 0), creditsPending: MicroMotes(row.int(3) ?? 0))
    }

    /// Applies `change` to the cached balance of account `id`.
    func adjustBalance(
        ofAccount id: Int64, _ change: (inout BalanceDelta) -> Void
    ) throws {
        var delta = BalanceDelta()
        change(&delta)
        let old = try cachedBalance(ofAccount: id)
        let new = AccountBalance(
            debitsPosted: try Self.add(old.debitsPosted, delta.debitsPosted, "debits_posted"),
            creditsPosted: try Self.add(old.creditsPosted, delta.creditsPosted, "credits_posted"),
            debitsPending: try Self.add(old.debitsPending, delta.debitsPending, "debits_pending"),
            creditsPending: try Self.add(
                old.creditsPending, delta.creditsPending, "credits_pending"))
        try db.query(
            """
            UPDATE balances SET debits_posted = ?, credits_posted = ?, debits_pending = ?,
                credits_pending = ? WHERE account_id = ?
            """,
            [
                .integer(new.debitsPosted.rawValue), .integer(new.creditsPosted.rawValue),
                .integer(new.debitsPending.rawValue), .integer(new.creditsPending.rawValue),
                .integer(id),
            ])
        guard db.changes == 1 else {
            throw LedgerError.inconsistent(entry: "account \(id)", reason: "has no balances row")
        }
    }

    private static func add(_ a: MicroMotes, _ b: Int64, _ field: String) throws -> MicroMotes {
        let (sum, overflow) = a.rawValue.addingReportingOverflow(b)
        guard !overflow else { throw LedgerError.overflow(field: field) }
        return MicroMotes(sum)
    }
}

/// A change to the four sums of one account, in micro-Motes.
struct BalanceDelta: Equatable {
    var debitsPosted: Int64 = 0
    var creditsPosted: Int64 = 0
    var debitsPending: Int64 = 0
    var creditsPending: Int64 = 0
}

/// The ledger's time source: Unix milliseconds. Tests pass a fake.
public struct LedgerClock: Sendable {
    public let nowMs: @Sendable () -> Int64

    public init(nowMs: @escaping @Sendable () -> Int64) {
        self.nowMs = nowMs
    }

    /// The system clock.
    public static let system = LedgerClock {
        Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
    }
}

/// Lower-case hexadecimal.
enum Hex {
    static func encode(_ bytes: [UInt8]) -> String {
        bytes.map { byte in
            let digits = String(byte, radix: 16)
            return byte < 16 ? "0" + digits : digits
        }.joined()
    }

    /// The bytes of `text`, or nil if it is not even-length hexadecimal.
    static func decode(_ text: String) -> [UInt8]? {
        let digits = Array(text.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        for index in stride(from: 0, to: digits.count, by: 2) {
            guard let high = nibble(digits[index]), let low = nibble(digits[index + 1]) else {
                return nil
            }
            bytes.append(high << 4 | low)
        }
        return bytes
    }

    private static func nibble(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return digit - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
