import Foundation
import Support

/// The report a person reads: where the Motes went, what is held, how much
/// of each budget is used, the largest charges, and whether the ledger
/// verifies. Read-only: it grants no refill and expires no hold.
public struct AuditReport: Sendable, Hashable, Codable {
    /// When the report was made, Unix milliseconds.
    public let generatedAtMs: Int64
    /// Charges and posts summed by persona, largest first.
    public let spendByPersona: [SpendLine]
    /// … by model, largest first.
    public let spendByModel: [SpendLine]
    /// … by UTC day (`2025-01-31`), oldest first.
    public let spendByDay: [SpendLine]
    /// Holds not yet posted, voided or expired, oldest first.
    public let openHolds: [Hold]
    /// Every persona's budget in its current period.
    public let budgets: [Budget]
    /// The largest charges, largest first.
    public let largestCharges: [ChargeLine]
    /// Motes the treasury has issued (grants and refills, less corrections
    /// back to it) and devices have burned.
    public let issued: MicroMotes
    public let burned: MicroMotes
    public let verify: VerifyReport
}

/// Spend summed under one key.
public struct SpendLine: Sendable, Hashable, Codable {
    /// The persona, model or day.
    public let key: String
    /// Charges and posts counted.
    public let charges: Int
    public let outputTokens: Int64
    public let amount: MicroMotes
}

/// One charge as the audit lists it.
public struct ChargeLine: Sendable, Hashable, Codable {
    public let sequence: Int64
    public let transferId: String
    public let persona: String
    public let model: String
    public let outputTokens: Int64
    public let elapsedMs: Int64
    public let createdMs: Int64
    public let amount: MicroMotes
}

extension Ledger {
    /// Builds the audit report; `largest` is how many charges to list.
    public func audit(largest: Int = 10) throws -> AuditReport {
        try Validate.range(Int64(largest), 0, Int64(Limits.Ledger.historyLimitMax), "largest")
        return try store.withLock { store in
            try store.db.readTransaction {
                let now = store.clock.nowMs()
                var verifier = Verifier(
                    db: store.db, publicKey: store.key.publicKey, schedules: store.schedules)
                let treasury = try store.existingAccountId(.treasury)
                let issued = try treasury.map { try store.cachedBalance(ofAccount: $0) }
                return AuditReport(
                    generatedAtMs: now,
                    spendByPersona: try store.spend(by: "u.persona", order: "amount DESC"),
                    spendByModel: try store.spend(by: "u.model", order: "amount DESC"),
                    spendByDay: try store.spend(
                        by: "date(t.created_ms / 1000, 'unixepoch')", order: "key"),
                    openHolds: try store.openHoldList(), budgets: try store.budgets(now: now),
                    largestCharges: try store.largestCharges(limit: largest),
                    issued: issued.map { $0.debitsPosted - $0.creditsPosted } ?? .zero,
                    burned: try store.burned(), verify: try verifier.run(checkpoint: nil))
            }
        }
    }
}

extension LedgerStore {
    /// Charges and posts joined with their usage, summed by `key`. Both
    /// arguments are SQL fragments from this file, never from input.
    func spend(by key: String, order: String) throws -> [SpendLine] {
        try db.query(
            """
            SELECT \(key) AS key, COUNT(*), COALESCE(SUM(u.output_tokens), 0),
                COALESCE(SUM(t.amount_micro), 0) AS amount
            FROM transfers t JOIN usage u ON u.id = t.usage_id
            WHERE t.kind IN ('charge', 'post') GROUP BY key ORDER BY \(order), key
            """
        ).map { row in
            SpendLine(
                key: row.text(0) ?? "?", charges: Int(row.int(1) ?? 0),
                outputTokens: row.int(2) ?? 0, amount: MicroMotes(row.int(3) ?? 0))
        }
    }

    /// The `limit` largest charges and posts.
    func largestCharges(limit: Int) throws -> [ChargeLine] {
        try db.query(
            """
            SELECT t.seq, t.id, u.persona, u.model, u.output_tokens, u.elapsed_ms,
                t.created_ms, t.amount_micro
            FROM transfers t JOIN usage u ON u.id = t.usage_id
            WHERE t.kind IN ('charge', 'post') ORDER BY t.amount_micro DESC, t.seq LIMIT ?
            """, [.integer(Int64(limit))]
        ).map { row in
            ChargeLine(
                sequence: row.int(0) ?? 0, transferId: row.text(1) ?? "?",
                persona: row.text(2) ?? "?", model: row.text(3) ?? "?",
                outputTokens: row.int(4) ?? 0, elapsedMs: row.int(5) ?? 0,
                createdMs: row.int(6) ?? 0, amount: MicroMotes(row.int(7) ?? 0))
        }
    }

    /// Every persona's budget at `now`, by name.
    func budgets(now: Int64) throws -> [Budget] {
        try db.query("SELECT id FROM accounts WHERE kind = 'persona' ORDER BY name")
            .compactMap { $0.int(0) }
            .compactMap { try budget(accountId: $0, now: now) }
    }

    /// Motes credited to devices, less anything corrected back out.
    func burned() throws -> MicroMotes {
        MicroMotes(
            try db.first(
                """
                SELECT COALESCE(SUM(credits_posted - debits_posted), 0)
                FROM balances b JOIN accounts a ON a.id = b.account_id WHERE a.kind = 'device'
                """)?.int(0) ?? 0)
    }
}
