import Database
import Foundation
import Support

/// One thing `verify` found wrong.
public struct VerifyProblem: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Where: `transfer 12 (charge:r1)`, `usage 3`, `account 2`,
    /// `balance of persona:ada`, `open hold 7`, `checkpoint`, `database`.
    public let entry: String
    /// Why, with the values found.
    public let reason: String

    public var description: String { "\(entry): \(reason)" }
}

/// What `verify` checked and what it found, in the order it found it.
public struct VerifyReport: Sendable, Hashable, Codable {
    /// Transfers in the chain (the highest sequence seen).
    public var size: Int64 = 0
    /// The last transfer's stored hash, hex.
    public var headHash = Hex.encode(TransferRow.genesisHash)
    public var transfersChecked = 0
    public var accountsChecked = 0
    public var usageChecked = 0
    /// True when a checkpoint was compared.
    public var checkpointChecked = false
    /// The first `Verifier.problemsListedMax` problems, first found first.
    public var problems: [VerifyProblem] = []
    /// All problems found, listed or not.
    public var problemCount = 0

    /// True when every hash, signature, balance and charge holds.
    public var ok: Bool { problemCount == 0 }

    /// The first bad entry and why.
    public var firstProblem: VerifyProblem? { problems.first }
}

extension Ledger {
    /// Checks every hash, signature, balance and recomputed charge, and,
    /// given a checkpoint, that the ledger still extends it.
    public func verify(checkpoint: Checkpoint? = nil) throws -> VerifyReport {
        try store.withLock { store in
            try store.db.readTransaction {
                var verifier = Verifier(
                    db: store.db, publicKey: store.key.publicKey, schedules: store.schedules)
                return try verifier.run(checkpoint: checkpoint)
            }
        }
    }

    /// Verifies the ledger at `url` without writing to it: no migration, no
    /// refill, no expiry. The key file must exist; only its public half is
    /// used.
    public static func verify(
        url: URL, keyURL: URL, checkpoint: Checkpoint? = nil
    ) throws -> VerifyReport {
        guard let key = try SigningKey.load(at: keyURL) else {
            throw LedgerError.keyFile(path: keyURL.path, reason: "missing")
        }
        let db = try SQLiteConnection(path: url.path, create: false)
        try db.setBusyTimeout(milliseconds: LedgerStore.busyTimeoutMs)
        let shipped = try PriceSchedule.shipped()
        return try db.readTransaction {
            let version = try Migrations.version(of: db)
            guard version == Migrations.latestVersion else {
                throw LedgerError.schemaTooNew(
                    path: url.path, found: version, supported: Migrations.latestVersion)
            }
            var verifier = Verifier(
                db: db, publicKey: key.publicKey,
                schedules: Dictionary(uniqueKeysWithValues: shipped.map { ($0.version, $0) }))
            return try verifier.run(checkpoint: checkpoint)
        }
    }
}

/// Replays the chain from the first transfer, checking each row and
/// deriving every balance, then compares the caches with the derivation.
struct Verifier {
    let db: SQLiteConnection
    let publicKey: [UInt8]
    let schedules: [Int: PriceSchedule]

    /// Problems listed in a report; beyond this only the count grows.
    static let problemsListedMax = 100

    var report = VerifyReport()
    /// Accounts by id, as stored (signature checked).
    var accounts: [Int64: AccountSettings] = [:]
    /// Balances derived from the transfers so far, by account id.
    var derived: [Int64: BalanceDelta] = [:]
    /// Every hold seen so far, by transfer id.
    var holds: [String: HeldAmount] = [:]
    /// Usage rows some transfer pays for.
    var paidUsage = Set<Int64>()
    /// The stored hash of transfer `checkpoint.size`, once reached.
    var hashAtCheckpoint: [UInt8]?

    /// A hold as the replay needs it.
    struct HeldAmount {
        let row: TransferRow
        var resolved: Bool
    }

    mutating func run(checkpoint: Checkpoint?) throws -> VerifyReport {
        try checkDatabase()
        try checkAccounts()
        try checkTransfers(checkpointSize: checkpoint?.size)
        try checkBalances()
        try checkOpenHolds()
        try checkUsage()
        if let checkpoint { check(checkpoint) }
        return report
    }

    /// Records a problem.
    mutating func flag(_ entry: String, _ reason: String) {
        report.problemCount += 1
        if report.problems.count < Self.problemsListedMax {
            report.problems.append(VerifyProblem(entry: entry, reason: reason))
        }
    }

    // MARK: - Database and accounts

    /// SQLite's own structural check, and the key record.
    private mutating func checkDatabase() throws {
        let quick = try db.query("PRAGMA quick_check").compactMap { $0.text(0) }
        if quick != ["ok"] {
            flag("database", "quick_check: " + quick.prefix(3).joined(separator: "; "))
        }
        let stored = try db.first(
            "SELECT value FROM ledger_meta WHERE key = 'signing_public_key'")?.blob(0)
        if let stored {
            if !Sodium.constantTimeEqual(stored, publicKey) {
                flag(
                    "ledger_meta",
                    "signing key \(Hex.encode(stored)) is not the key file's "
                        + Hex.encode(publicKey))
            }
        } else {
            flag("ledger_meta", "the signing key record is missing")
        }
    }

    /// Every account row is signed by the host key and well formed.
    private mutating func checkAccounts() throws {
        try db.forEach(
            """
            SELECT id, kind, name, allowance_micro, period_s, created_ms, signature
            FROM accounts ORDER BY id
            """
        ) { row in
            report.accountsChecked += 1
            let entry = "account \(row.int(0).map(String.init) ?? "?")"
            guard let id = row.int(0), let name = row.text(2),
                let kind = row.text(1).flatMap(Account.Kind.init(rawValue:)),
                let allowance = row.int(3), let period = row.int(4), let created = row.int(5)
            else { return flag(entry, "a column is NULL or of an unknown value") }
            let settings = AccountSettings(
                account: Account(kind: kind, name: name), allowance: MicroMotes(allowance),
                periodSeconds: period, createdMs: created)
            let bytes = AccountRow(id: id, settings: settings).canonicalBytes
            guard Sodium.verify(row.blob(6) ?? [], of: bytes, publicKey: publicKey) else {
                return flag("\(entry) (\(settings.account))", "signature does not verify")
            }
            accounts[id] = settings
            derived[id] = BalanceDelta()
        }
    }

    // MARK: - Transfers

    /// Streams the chain in order, checking and replaying each row.
    private mutating func checkTransfers(checkpointSize: Int64?) throws {
        var previousHash = TransferRow.genesisHash
        try db.forEach("SELECT \(TransferRow.columns) FROM transfers ORDER BY seq") { raw in
            report.transfersChecked += 1
            guard let row = TransferRow(row: raw) else {
                let seq = raw.int(0).map(String.init) ?? "?"
                return flag("transfer \(seq)", "a column is NULL or of an unknown value")
            }
            let entry = "transfer \(row.sequence) (\(row.id))"
            checkChain(row, entry: entry, previousHash: previousHash)
            if let reason = try rule(row) { flag(entry, reason) }
            replay(row, entry: entry)
            if row.sequence == checkpointSize { hashAtCheckpoint = row.hash }
            previousHash = row.hash
            report.size = row.sequence
            report.headHash = Hex.encode(row.hash)
        }
    }

    /// Position, link, hash and signature.
    private mutating func checkChain(_ row: TransferRow, entry: String, previousHash: [UInt8]) {
        let expected = report.size + 1
        if row.sequence != expected {
            flag(
                entry,
                row.sequence > expected
                    ? "transfers \(expected)...\(row.sequence - 1) are missing"
                    : "sequence \(row.sequence) is out of order after \(report.size)")
        }
        if !Sodium.constantTimeEqual(row.prevHash, previousHash) {
            flag(entry, "prev_hash does not match the previous transfer's hash")
        }
        let computed = (try? row.computeHash(after: row.prevHash)) ?? []
        if !Sodium.constantTimeEqual(row.hash, computed) {
            flag(entry, "hash does not match the row's contents")
        }
        if !Sodium.verify(row.signature, of: row.hash, publicKey: publicKey) {
            flag(entry, "signature does not verify")
        }
    }

    /// The first rule of double entry, holds or pricing `row` breaks.
    private mutating func rule(_ row: TransferRow) throws -> String? {
        guard let debit = accounts[row.debitAccountId]?.account,
            let credit = accounts[row.creditAccountId]?.account
        else { return "names an account that is missing or badly signed" }
        if let reason = Self.accountRule(row.kind, debit: debit, credit: credit) { return reason }
        if row.amountMicro < 0 { return "amount \(row.amountMicro) is negative" }
        if row.kind == .hold {
            guard let timeout = row.timeoutMs, timeout > row.createdMs, row.id.hasPrefix("hold:")
            else { return "a hold needs the id hold:<request> and a timeout after its creation" }
        } else if row.timeoutMs != nil {
            return "only a hold has a timeout"
        }
        if row.kind.resolvesHold {
            if let reason = resolutionRule(row) { return reason }
        } else if row.pendingId != nil {
            return "only post, void and expire name a hold"
        }
        if row.kind == .charge || row.kind == .post {
            return try paymentRule(row, debit: debit, credit: credit)
        }
        return row.usageId == nil && row.usageDigest == nil ? nil : "only a charge pays usage"
    }

    /// Which kinds of account each kind of transfer moves Motes between.
    private static func accountRule(
        _ kind: TransferKind, debit: Account, credit: Account
    ) -> String? {
        if debit == credit { return "debits and credits the same account" }
        switch kind {
        case .grant, .refill:
            if debit.kind != .treasury || credit.kind != .persona {
                return "a \(kind.rawValue) must move treasury → persona, not \(debit) → \(credit)"
            }
        case .charge, .hold, .post, .void, .expire:
            if debit.kind != .persona || credit.kind != .device {
                return "a \(kind.rawValue) must move persona → device, not \(debit) → \(credit)"
            }
        case .correction:
            break
        }
        return nil
    }

    /// A post, void or expire resolves one earlier open hold, within its time.
    private func resolutionRule(_ row: TransferRow) -> String? {
        guard let pendingId = row.pendingId, let held = holds[pendingId] else {
            return "names no earlier hold"
        }
        let hold = held.row
        if held.resolved { return "resolves \(pendingId), which was already resolved" }
        if row.id != "\(row.kind.rawValue):\(pendingId.dropFirst("hold:".count))" {
            return "its id does not match its hold \(pendingId)"
        }
        if row.debitAccountId != hold.debitAccountId || row.creditAccountId != hold.creditAccountId
        {
            return "moves between other accounts than its hold"
        }
        let timeout = hold.timeoutMs ?? 0
        if row.kind == .expire {
            if row.amountMicro != hold.amountMicro {
                return "releases other than the hold's amount"
            }
            if row.createdMs < timeout { return "expires the hold before its timeout" }
        } else {
            if row.createdMs >= timeout { return "resolves the hold after its timeout" }
            if row.kind == .void, row.amountMicro != hold.amountMicro {
                return "releases other than the hold's amount"
            }
        }
        return nil
    }

    /// A charge or post pays exactly what its usage row prices to.
    private mutating func paymentRule(
        _ row: TransferRow, debit: Account, credit: Account
    ) throws -> String? {
        guard let usageId = row.usageId, let digest = row.usageDigest else {
            return "a \(row.kind.rawValue) must name its usage row"
        }
        paidUsage.insert(usageId)
        guard
            let usage = try db.first(
                "SELECT \(UsageRow.columns) FROM usage WHERE id = ?", [.integer(usageId)]
            ).flatMap(UsageRow.init(row:))
        else { return "its usage row \(usageId) is missing" }
        guard Sodium.constantTimeEqual(digest, try usage.digest()) else {
            return "usage row \(usageId) was changed after it was charged"
        }
        if usage.usage.persona != debit.name || usage.usage.device != credit.name {
            return "usage row \(usageId) is for another persona or device"
        }
        if row.id != "\(row.kind.rawValue):\(usage.usage.requestId)" {
            return "its id does not match usage row \(usageId)"
        }
        return price(of: usage, charged: row)
    }

    /// Recomputes the price with the usage row's schedule.
    private func price(of usage: UsageRow, charged row: TransferRow) -> String? {
        guard let schedule = schedules[Int(usage.scheduleVersion)] else {
            return "usage row \(usage.id) names unknown schedule v\(usage.scheduleVersion)"
        }
        guard let price = try? schedule.price(usage.usage) else {
            return "usage row \(usage.id) cannot be priced by schedule v\(schedule.version)"
        }
        if price.rawValue != usage.priceMicro {
            return "usage row \(usage.id) stores price \(usage.priceMicro) µMotes; "
                + "schedule v\(schedule.version) gives \(price.rawValue)"
        }
        var expected = price.rawValue
        if row.kind == .post, let hold = row.pendingId.flatMap({ holds[$0] }) {
            expected = min(expected, hold.row.amountMicro)
        }
        if row.amountMicro != expected {
            return "charges \(row.amountMicro) µMotes; the price recomputes to \(expected)"
        }
        return nil
    }

    /// Moves the derived balances by `row`; a persona may never go below zero.
    private mutating func replay(_ row: TransferRow, entry: String) {
        let amount = row.amountMicro
        switch row.kind {
        case .grant, .refill, .charge, .correction:
            derived[row.debitAccountId, default: BalanceDelta()].debitsPosted &+= amount
            derived[row.creditAccountId, default: BalanceDelta()].creditsPosted &+= amount
        case .hold:
            derived[row.debitAccountId, default: BalanceDelta()].debitsPending &+= amount
            derived[row.creditAccountId, default: BalanceDelta()].creditsPending &+= amount
            holds[row.id] = HeldAmount(row: row, resolved: false)
        case .post, .void, .expire:
            guard let pendingId = row.pendingId, let held = holds[pendingId], !held.resolved
            else { return }
            holds[pendingId]?.resolved = true
            let posted = row.kind == .post ? amount : 0
            derived[row.debitAccountId, default: BalanceDelta()].debitsPending &-=
                held.row.amountMicro
            derived[row.creditAccountId, default: BalanceDelta()].creditsPending &-=
                held.row.amountMicro
            derived[row.debitAccountId, default: BalanceDelta()].debitsPosted &+= posted
            derived[row.creditAccountId, default: BalanceDelta()].creditsPosted &+= posted
        }

        // TigerBeetle's debits_must_not_exceed_credits, for personas.
        guard accounts[row.debitAccountId]?.account.kind == .persona,
            let sums = derived[row.debitAccountId]
        else { return }
        let available = sums.creditsPosted &- sums.debitsPosted &- sums.debitsPending
        if available < 0 {
            flag(entry, "leaves \(accounts[row.debitAccountId]!.account) at \(available) µMotes")
        }
    }

    // MARK: - Caches, usage and checkpoint

    /// Cached balances equal derived ones; debits equal credits.
    private mutating func checkBalances() throws {
        var seen = Set<Int64>()
        var totals = BalanceDelta()
        try db.forEach(
            """
            SELECT account_id, debits_posted, credits_posted, debits_pending, credits_pending
            FROM balances ORDER BY account_id
            """
        ) { row in
            guard let id = row.int(0) else { return flag("balances", "a row without an account") }
            seen.insert(id)
            let cached = BalanceDelta(
                debitsPosted: row.int(1) ?? -1, creditsPosted: row.int(2) ?? -1,
                debitsPending: row.int(3) ?? -1, creditsPending: row.int(4) ?? -1)
            totals.add(cached)
            guard let account = accounts[id]?.account else {
                return flag("balance of account \(id)", "no such account")
            }
            let expected = derived[id] ?? BalanceDelta()
            if cached != expected {
                flag(
                    "balance of \(account)", "cached \(cached) but the transfers sum to \(expected)"
                )
            }
        }
        for (id, settings) in accounts.sorted(by: { $0.key < $1.key }) where !seen.contains(id) {
            flag("balance of \(settings.account)", "the cached balance row is missing")
        }
        if totals.debitsPosted != totals.creditsPosted
            || totals.debitsPending != totals.creditsPending
        {
            flag("balances", "debits \(totals.debitsPosted) ≠ credits \(totals.creditsPosted)")
        }
    }

    /// The cached open-hold set equals the holds the chain leaves open.
    private mutating func checkOpenHolds() throws {
        var open: [Int64: Int64] = [:]
        for held in holds.values where !held.resolved {
            open[held.row.sequence] = held.row.timeoutMs ?? 0
        }
        try db.forEach("SELECT transfer_seq, timeout_ms FROM open_holds ORDER BY transfer_seq") {
            row in
            let seq = row.int(0) ?? -1
            guard let timeout = open.removeValue(forKey: seq) else {
                return flag("open hold \(seq)", "no open hold has this sequence")
            }
            if row.int(1) != timeout {
                flag("open hold \(seq)", "timeout \(row.int(1) ?? -1) but the hold says \(timeout)")
            }
        }
        for seq in open.keys.sorted() {
            flag("open hold \(seq)", "the hold is open but missing from open_holds")
        }
    }

    /// Every usage row is paid for by exactly the transfer that names it.
    private mutating func checkUsage() throws {
        try db.forEach("SELECT id FROM usage ORDER BY id") { row in
            report.usageChecked += 1
            let id = row.int(0) ?? -1
            if !paidUsage.contains(id) {
                flag("usage \(id)", "no charge pays for it")
            }
        }
    }

    /// The ledger extends `checkpoint`: at least as long, same hash there.
    private mutating func check(_ checkpoint: Checkpoint) {
        report.checkpointChecked = true
        if !checkpoint.isSignatureValid {
            flag("checkpoint", "its signature does not verify")
        }
        if checkpoint.publicKey != Hex.encode(publicKey) {
            flag("checkpoint", "signed by \(checkpoint.publicKey), not the ledger's key")
        }
        if report.size < checkpoint.size {
            flag(
                "checkpoint",
                "the ledger has \(report.size) transfers but had \(checkpoint.size): "
                    + "its tail was truncated")
            return
        }
        let stored = checkpoint.size == 0 ? TransferRow.genesisHash : hashAtCheckpoint
        if stored.map(Hex.encode) != checkpoint.headHash {
            flag(
                "transfer \(checkpoint.size)",
                "hash differs from the checkpoint's head: history was rewritten")
        }
    }
}

extension BalanceDelta: CustomStringConvertible {
    mutating func add(_ other: BalanceDelta) {
        debitsPosted &+= other.debitsPosted
        creditsPosted &+= other.creditsPosted
        debitsPending &+= other.debitsPending
        creditsPending &+= other.creditsPending
    }

    var description: String {
        "(debits \(debitsPosted) + \(debitsPending) pending, "
            + "credits \(creditsPosted) + \(creditsPending) pending)"
    }
}
