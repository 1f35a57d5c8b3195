import Foundation
import Support

/// A persona's budget in its current refill period, computed from the rows
/// of that period rather than kept in a counter that must be reset.
public struct Budget: Sendable, Hashable, Codable {
    public let persona: String
    /// The balance each refill tops the account up to; zero for none.
    public let allowance: MicroMotes
    /// Length of a refill period, in seconds.
    public let periodSeconds: Int64
    /// When the current period started, Unix milliseconds.
    public let periodStartMs: Int64
    /// When the next starts (and the allowance refills); nil without an
    /// allowance.
    public let refillsAtMs: Int64?
    /// Charges and posts in the current period: the sum of their rows.
    public let spentThisPeriod: MicroMotes
    /// Open holds against the account.
    public let held: MicroMotes
    /// What the persona can spend now.
    public let available: MicroMotes
}

extension Ledger {
    /// The persona's budget now, after granting its allowance if a new
    /// period has started. Nil for a persona without an account.
    public func budget(persona: String) throws -> Budget? {
        try Validate.name(persona, field: "persona")
        return try store.withLock { store in
            try store.write { now in
                guard let id = try store.existingAccountId(.persona(persona)) else { return nil }
                try store.refillIfDue(accountId: id, now: now)
                return try store.budget(accountId: id, now: now)
            }
        }
    }

    /// Fails with `refused` when the persona cannot cover `estimate` now;
    /// writes nothing but a due refill. `hold` makes the same check
    /// atomically with the reservation; this is for a refusal before any
    /// other work, such as loading a model.
    public func requireFunds(persona: String, estimate: MicroMotes) throws {
        try Validate.name(persona, field: "persona")
        try store.withLock { store in
            try store.write { now in
                let id = try store.accountId(.persona(persona), now: now)
                try store.refillIfDue(accountId: id, now: now)
                let available = try store.cachedBalance(ofAccount: id).available
                guard available >= estimate else {
                    guard let settings = try store.settings(ofAccount: id) else {
                        throw LedgerError.accountNotFound(kind: "persona", name: persona)
                    }
                    throw LedgerError.refused(
                        store.refusal(
                            settings, available: available, estimate: estimate, now: now))
                }
            }
        }
    }
}

extension LedgerStore {
    /// The budget of persona account `id` at `now`, from cached balances
    /// and the charges of the current period.
    func budget(accountId id: Int64, now: Int64) throws -> Budget? {
        guard let settings = try settings(ofAccount: id), settings.account.kind == .persona else {
            return nil
        }
        let lengthMs = settings.periodSeconds * 1000
        let start = Self.periodIndex(now: now, periodSeconds: settings.periodSeconds) * lengthMs
        let spent =
            try db.first(
                """
                SELECT COALESCE(SUM(amount_micro), 0) FROM transfers
                WHERE debit_account = ? AND kind IN ('charge', 'post')
                    AND created_ms >= ? AND created_ms < ?
                """, [.integer(id), .integer(start), .integer(start + lengthMs)]
            )?.int(0) ?? 0
        let balance = try cachedBalance(ofAccount: id)
        return Budget(
            persona: settings.account.name, allowance: settings.allowance,
            periodSeconds: settings.periodSeconds, periodStartMs: start,
            refillsAtMs: settings.allowance > .zero ? start + lengthMs : nil,
            spentThisPeriod: MicroMotes(spent), held: balance.debitsPending,
            available: balance.available)
    }
}
