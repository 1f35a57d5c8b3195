import Foundation
import Support

/// Charges (usage row plus charge or post transfer) and reading transfers
/// back as the public `Transfer` and `HistoryEntry`.
extension LedgerStore {
    /// Prices `usage` and writes its usage row and its transfer: a charge,
    /// or the post of `hold` for at most the hold's amount. A retry of the
    /// same request id returns the stored charge.
    func recordCharge(_ usage: Usage, hold: TransferRow?, now: Int64) throws -> Charge {
        if let stored = try usageRow(requestId: usage.requestId) {
            return try replayedCharge(stored, retry: usage)
        }
        let personaId = try accountId(.persona(usage.persona), now: now)
        let deviceId = try accountId(.device(usage.device), now: now)
        if hold == nil { try refillIfDue(accountId: personaId, now: now) }

        // Price it; a post never takes more than its hold reserved.
        let schedule = currentSchedule
        let price = try schedule.price(usage)
        var amount = price
        if let hold, price.rawValue > hold.amountMicro {
            log.warn(
                "post: price exceeds hold",
                ["hold": hold.id, "price": price.rawValue, "held": hold.amountMicro])
            amount = MicroMotes(hold.amountMicro)
        }

        // The usage row first: its id and digest go into the transfer.
        let usageRow = try insertUsage(
            usage, scheduleVersion: schedule.version, price: price, now: now)
        let kind: TransferKind = hold == nil ? .charge : .post
        let draft = TransferRow(
            sequence: 0, id: "\(kind.rawValue):\(usage.requestId)", kind: kind,
            debitAccountId: personaId, creditAccountId: deviceId, amountMicro: amount.rawValue,
            pendingId: hold?.id, usageId: usageRow.id, usageDigest: try usageRow.digest(),
            timeoutMs: nil, createdMs: now)
        let (row, _) = try append(draft)
        log.info(
            "charge",
            ["persona": usage.persona, "request": usage.requestId, "micro": amount.rawValue])
        return Charge(
            transferId: row.id, sequence: row.sequence, usageId: usageRow.id, usage: usage,
            scheduleVersion: schedule.version, price: price, amount: amount,
            alreadyRecorded: false)
    }

    /// The stored charge for a retried request id, if the retry matches the
    /// stored usage field for field.
    private func replayedCharge(_ stored: UsageRow, retry: Usage) throws -> Charge {
        for (old, new) in zip(stored.usage.fields, retry.fields) where old.value != new.value {
            throw LedgerError.idempotencyConflict(
                id: retry.requestId, field: old.column, stored: old.value, given: new.value)
        }
        guard
            let row = try db.first(
                "SELECT \(TransferRow.columns) FROM transfers WHERE usage_id = ?",
                [.integer(stored.id)]
            ).flatMap(TransferRow.init(row:))
        else {
            throw LedgerError.inconsistent(entry: "usage \(stored.id)", reason: "has no transfer")
        }
        return Charge(
            transferId: row.id, sequence: row.sequence, usageId: stored.id, usage: stored.usage,
            scheduleVersion: Int(stored.scheduleVersion), price: MicroMotes(stored.priceMicro),
            amount: MicroMotes(row.amountMicro), alreadyRecorded: true)
    }

    /// Inserts a usage row and returns it with its assigned id.
    private func insertUsage(
        _ usage: Usage, scheduleVersion: Int, price: MicroMotes, now: Int64
    ) throws -> UsageRow {
        let id = (try db.first("SELECT COALESCE(MAX(id), 0) + 1 FROM usage")?.int(0)) ?? 1
        let row = UsageRow(
            id: id, usage: usage, scheduleVersion: Int64(scheduleVersion),
            priceMicro: price.rawValue, createdMs: now)
        try db.query(
            "INSERT INTO usage (\(UsageRow.columns)) VALUES (\(Self.marks(13)))", row.bindings)
        return row
    }

    /// The usage row recorded for `requestId`.
    func usageRow(requestId: String) throws -> UsageRow? {
        try db.first(
            "SELECT \(UsageRow.columns) FROM usage WHERE request_id = ?", [.text(requestId)]
        ).flatMap(UsageRow.init(row:))
    }

    /// The usage row with `id`.
    func usageRow(id: Int64) throws -> UsageRow? {
        try db.first("SELECT \(UsageRow.columns) FROM usage WHERE id = ?", [.integer(id)])
            .flatMap(UsageRow.init(row:))
    }

    // MARK: - Reading back

    /// `row` with account names in place of ids.
    func transfer(_ row: TransferRow, accounts: [Int64: Account]? = nil) throws -> Transfer {
        func account(_ id: Int64) throws -> Account {
            if let known = accounts?[id] { return known }
            guard let settings = try settings(ofAccount: id) else {
                throw LedgerError.inconsistent(
                    entry: "transfer \(row.sequence)", reason: "names missing account \(id)")
            }
            return settings.account
        }
        return Transfer(
            sequence: row.sequence, id: row.id, kind: row.kind,
            debit: try account(row.debitAccountId), credit: try account(row.creditAccountId),
            amount: MicroMotes(row.amountMicro), pendingId: row.pendingId, usageId: row.usageId,
            timeoutMs: row.timeoutMs, createdMs: row.createdMs)
    }

    /// `account`'s transfers, newest first.
    func history(of account: Account, limit: Int) throws -> [HistoryEntry] {
        guard let id = try existingAccountId(account) else { return [] }
        let accounts = try accountsById()
        let rows = try db.query(
            """
            SELECT \(TransferRow.columns) FROM transfers
            WHERE debit_account = ?1 OR credit_account = ?1 ORDER BY seq DESC LIMIT ?2
            """, [.integer(id), .integer(Int64(limit))]
        ).compactMap(TransferRow.init(row:))
        return try rows.map { row in
            var change: Int64 = 0
            if row.kind.movesPosted {
                change = row.creditAccountId == id ? row.amountMicro : -row.amountMicro
            }
            let usage = try row.usageId.flatMap { try usageRow(id: $0) }
            return HistoryEntry(
                transfer: try transfer(row, accounts: accounts), change: MicroMotes(change),
                usage: usage?.usage, price: usage.map { MicroMotes($0.priceMicro) },
                scheduleVersion: usage.map { Int($0.scheduleVersion) })
        }
    }
}
