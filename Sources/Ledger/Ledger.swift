import Foundation
import Support
import Synchronization

/// The Motes ledger: a double-entry, hash-chained, signed record of every
/// grant and charge, in SQLite.
///
/// Balances are sums of immutable transfers; a cached copy is kept in the
/// same transactions and checked by `verify`. Every write runs in a
/// `BEGIN IMMEDIATE` transaction on a WAL database with `synchronous=FULL`,
/// so a returned charge survives a crash, and processes that open the same
/// file never spend the same Motes twice.
///
/// One `Ledger` serialises its own callers; for parallel writers open one
/// per thread or process.
public final class Ledger: Sendable {
    /// The database file.
    public let url: URL
    /// The store; every call takes this lock for its whole transaction.
    let store: Mutex<LedgerStore>

    /// Opens the ledger in `home` (`ledger.sqlite` and `host.key`), creating
    /// the folder, database and key on first use.
    public convenience init(home: Home, clock: LedgerClock = .system) throws {
        try home.create()
        try self.init(url: home.ledgerURL, keyURL: home.signingKeyURL, clock: clock)
    }

    /// Opens the ledger at `url` signed by the key at `keyURL`.
    public init(url: URL, keyURL: URL, clock: LedgerClock = .system) throws {
        self.url = url
        store = Mutex(try LedgerStore(path: url, keyURL: keyURL, clock: clock))
    }

    /// The host's Ed25519 public key, hexadecimal.
    public var publicKeyHex: String {
        store.withLock { Hex.encode($0.key.publicKey) }
    }

    /// The price schedule that prices new charges.
    public var currentSchedule: PriceSchedule {
        store.withLock { $0.currentSchedule }
    }

    // MARK: - Accounts

    /// Creates the persona's account if needed and sets its allowance and
    /// refill period (a change is signed and takes effect at the next
    /// period's refill). Returns the stored settings.
    @discardableResult
    public func ensureAccount(
        persona: String, allowance: MicroMotes = .zero, periodSeconds: Int64 = 86_400
    ) throws -> AccountSettings {
        try Validate.name(persona, field: "persona")
        try Validate.range(allowance.rawValue, 0, Limits.Ledger.amountMicroMax, "allowance")
        try Validate.range(
            periodSeconds, Limits.Ledger.periodSecondsMin, Limits.Ledger.periodSecondsMax,
            "periodSeconds")
        return try store.withLock { store in
            try store.write { now in
                let account = Account.persona(persona)
                let id = try store.accountId(account, now: now)
                guard let old = try store.settings(ofAccount: id) else {
                    throw LedgerError.inconsistent(entry: "account \(id)", reason: "unreadable")
                }
                let new = AccountSettings(
                    account: account, allowance: allowance, periodSeconds: periodSeconds,
                    createdMs: old.createdMs)
                if new != old { try store.updateAccount(id: id, new) }
                try store.refillIfDue(accountId: id, now: now)
                return new
            }
        }
    }

    /// Grants `amount` from the treasury to the persona. `id` makes a retry
    /// harmless; without one every call is a new grant.
    @discardableResult
    public func grant(persona: String, amount: MicroMotes, id: String? = nil) throws -> Transfer {
        try Validate.name(persona, field: "persona")
        try Validate.range(amount.rawValue, 1, Limits.Ledger.amountMicroMax, "amount")
        let transferId = id ?? "grant:\(UUID().uuidString.lowercased())"
        return try store.withLock { store in
            try store.write { now in
                let draft = TransferRow(
                    sequence: 0, id: transferId, kind: .grant,
                    debitAccountId: try store.accountId(.treasury, now: now),
                    creditAccountId: try store.accountId(.persona(persona), now: now),
                    amountMicro: amount.rawValue, pendingId: nil, usageId: nil,
                    usageDigest: nil, timeoutMs: nil, createdMs: now)
                let (row, _) = try store.append(draft)
                store.log.info("grant", ["persona": persona, "amount": amount, "id": transferId])
                return try store.transfer(row)
            }
        }
    }

    /// Moves `amount` between any two accounts to correct a mistake; the
    /// wrong transfer stays in the chain. A persona debit must be covered.
    @discardableResult
    public func correct(
        from debit: Account, to credit: Account, amount: MicroMotes, id: String
    ) throws -> Transfer {
        try Validate.range(amount.rawValue, 1, Limits.Ledger.amountMicroMax, "amount")
        return try store.withLock { store in
            try store.write { now in
                let draft = TransferRow(
                    sequence: 0, id: id, kind: .correction,
                    debitAccountId: try store.accountId(debit, now: now),
                    creditAccountId: try store.accountId(credit, now: now),
                    amountMicro: amount.rawValue, pendingId: nil, usageId: nil,
                    usageDigest: nil, timeoutMs: nil, createdMs: now)
                return try store.transfer(store.append(draft).row)
            }
        }
    }

    // MARK: - Charges

    /// Prices `usage` with the current schedule and charges it to the
    /// persona's account, writing the usage row and the charge transfer in
    /// one transaction. Recording the same request id again with the same
    /// fields returns the first charge; with different fields it throws
    /// `idempotencyConflict` naming the field.
    ///
    /// Throws `refused` (and writes nothing) when the balance cannot cover
    /// the price; the host avoids that by placing a hold first.
    public func record(usage: Usage) throws -> Charge {
        try usage.validate()
        return try store.withLock { store in
            try store.write { now in try store.recordCharge(usage, hold: nil, now: now) }
        }
    }

    // MARK: - Reading

    /// What the persona can spend now, after granting its allowance if a new
    /// period has started. Unknown personas have zero.
    public func balance(persona: String) throws -> MicroMotes {
        try accountBalance(persona: persona).available
    }

    /// The persona's four sums, after granting its allowance if due.
    public func accountBalance(persona: String) throws -> AccountBalance {
        try Validate.name(persona, field: "persona")
        return try store.withLock { store in
            try store.write { now in
                guard let id = try store.existingAccountId(.persona(persona)) else {
                    return .zero
                }
                try store.refillIfDue(accountId: id, now: now)
                return try store.cachedBalance(ofAccount: id)
            }
        }
    }

    /// The cached sums of any account, as stored (no refill).
    public func cachedBalance(of account: Account) throws -> AccountBalance {
        try store.withLock { store in
            guard let id = try store.existingAccountId(account) else { return .zero }
            return try store.cachedBalance(ofAccount: id)
        }
    }

    /// The persona's transfers, newest first, at most `limit`.
    public func history(persona: String, limit: Int = 50) throws -> [HistoryEntry] {
        try Validate.name(persona, field: "persona")
        try Validate.range(Int64(limit), 1, Int64(Limits.Ledger.historyLimitMax), "limit")
        return try store.withLock { store in
            try store.db.readTransaction {
                try store.history(of: .persona(persona), limit: limit)
            }
        }
    }
}

/// One line of a persona's history.
public struct HistoryEntry: Sendable, Hashable, Codable {
    public let transfer: Transfer
    /// The change to the persona's posted balance: + for credits, − for
    /// debits, zero for holds and their release (which move only pending).
    public let change: MicroMotes
    /// For a charge or post: what the generation used.
    public let usage: Usage?
    /// For a charge or post: the formula's price and its schedule version.
    public let price: MicroMotes?
    public let scheduleVersion: Int?
}
