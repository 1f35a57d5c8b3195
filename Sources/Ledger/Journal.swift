import Foundation
import Support

/// Appending transfers to the chain, and the two automatic kinds of
/// transfer: refills at the start of a period and expiry of overdue holds.
/// Every function here runs inside `LedgerStore.write`.
extension LedgerStore {
    /// Appends `draft` to the chain, or returns the stored row if its id was
    /// already used with the same fields (`created` is then false).
    ///
    /// Refuses a persona debit the available balance cannot cover, and a
    /// reused id whose fields differ, naming the first field that does.
    func append(_ draft: TransferRow) throws -> (row: TransferRow, created: Bool) {
        try Validate.id(draft.id, field: "transfer.id")
        try Validate.range(draft.amountMicro, 0, Limits.Ledger.amountMicroMax, "amount_micro")
        if let existing = try transferRow(id: draft.id) {
            try requireSameFields(existing, draft)
            return (existing, false)
        }
        try requireFunds(for: draft)

        // Link to the head of the chain, hash and sign.
        let head = try db.first("SELECT seq, hash FROM transfers ORDER BY seq DESC LIMIT 1")
        var row = draft
        row.sequence = (head?.int(0) ?? 0) + 1
        row.prevHash = head?.blob(1) ?? TransferRow.genesisHash
        row.hash = try row.computeHash(after: row.prevHash)
        row.signature = try key.sign(row.hash)

        // Store the row and keep the caches in step, in the same transaction.
        try db.query(
            "INSERT INTO transfers (\(TransferRow.columns)) VALUES (\(Self.marks(14)))",
            row.bindings)
        try applyToCaches(row)
        return (row, true)
    }

    /// The transfer with idempotency id `id`.
    func transferRow(id: String) throws -> TransferRow? {
        try db.first(
            "SELECT \(TransferRow.columns) FROM transfers WHERE id = ?", [.text(id)]
        ).flatMap(TransferRow.init(row:))
    }

    /// The resolution (post, void or expire) of the hold `holdId`, if any.
    func resolution(ofHold holdId: String) throws -> TransferRow? {
        try db.first(
            "SELECT \(TransferRow.columns) FROM transfers WHERE pending_id = ?", [.text(holdId)]
        ).flatMap(TransferRow.init(row:))
    }

    /// `count` SQL parameter marks: `?, ?, ?`.
    static func marks(_ count: Int) -> String {
        Array(repeating: "?", count: count).joined(separator: ", ")
    }

    // MARK: - Rules

    /// TigerBeetle's `exists_with_different_*`: a retry must match the
    /// stored transfer field for field. The hold timeout and creation time
    /// are not compared: a retry naturally computes them anew.
    private func requireSameFields(_ stored: TransferRow, _ given: TransferRow) throws {
        func conflict(_ field: String, _ a: String, _ b: String) -> LedgerError {
            .idempotencyConflict(id: given.id, field: field, stored: a, given: b)
        }
        if stored.kind != given.kind {
            throw conflict("kind", stored.kind.rawValue, given.kind.rawValue)
        }
        if stored.debitAccountId != given.debitAccountId {
            throw conflict(
                "debit_account", try accountLabel(stored.debitAccountId),
                try accountLabel(given.debitAccountId))
        }
        if stored.creditAccountId != given.creditAccountId {
            throw conflict(
                "credit_account", try accountLabel(stored.creditAccountId),
                try accountLabel(given.creditAccountId))
        }
        if stored.amountMicro != given.amountMicro {
            throw conflict(
                "amount", MicroMotes(stored.amountMicro).exactDescription,
                MicroMotes(given.amountMicro).exactDescription)
        }
        if stored.pendingId != given.pendingId {
            throw conflict("pending_id", stored.pendingId ?? "none", given.pendingId ?? "none")
        }
    }

    private func accountLabel(_ id: Int64) throws -> String {
        try settings(ofAccount: id).map { "\($0.account)" } ?? "#\(id)"
    }

    /// A persona's debit (charge, hold, correction) may not exceed what it
    /// has available: TigerBeetle's `debits_must_not_exceed_credits`.
    private func requireFunds(for draft: TransferRow) throws {
        guard draft.kind == .charge || draft.kind == .hold || draft.kind == .correction else {
            return
        }
        guard let settings = try settings(ofAccount: draft.debitAccountId),
            settings.account.kind == .persona
        else { return }
        let available = try cachedBalance(ofAccount: draft.debitAccountId).available
        guard available.rawValue >= draft.amountMicro else {
            throw LedgerError.refused(
                refusal(
                    settings, available: available, estimate: MicroMotes(draft.amountMicro),
                    now: draft.createdMs))
        }
    }

    /// The refusal for `estimate` against `settings`' account.
    func refusal(
        _ settings: AccountSettings, available: MicroMotes, estimate: MicroMotes, now: Int64
    ) -> Refusal {
        var refillsAt: Date?
        if settings.allowance > .zero {
            let next = Self.periodIndex(now: now, periodSeconds: settings.periodSeconds) + 1
            let startMs = next * settings.periodSeconds * 1000
            refillsAt = Date(timeIntervalSince1970: Double(startMs) / 1000)
        }
        return Refusal(
            persona: settings.account.name, available: available, estimate: estimate,
            refillsAt: refillsAt, allowance: settings.allowance)
    }

    // MARK: - Caches

    /// Moves the cached sums and the open-hold set by one transfer.
    private func applyToCaches(_ row: TransferRow) throws {
        let amount = row.amountMicro
        switch row.kind {
        case .grant, .refill, .charge, .correction:
            try adjustBalance(ofAccount: row.debitAccountId) { $0.debitsPosted = amount }
            try adjustBalance(ofAccount: row.creditAccountId) { $0.creditsPosted = amount }
        case .hold:
            try adjustBalance(ofAccount: row.debitAccountId) { $0.debitsPending = amount }
            try adjustBalance(ofAccount: row.creditAccountId) { $0.creditsPending = amount }
            try db.query(
                "INSERT INTO open_holds (transfer_seq, timeout_ms) VALUES (?, ?)",
                [.integer(row.sequence), .integer(row.timeoutMs ?? 0)])
        case .post, .void, .expire:
            guard let pendingId = row.pendingId, let hold = try transferRow(id: pendingId) else {
                throw LedgerError.inconsistent(entry: row.id, reason: "its hold is missing")
            }
            let posted = row.kind == .post ? amount : 0
            try adjustBalance(ofAccount: row.debitAccountId) {
                $0.debitsPending = -hold.amountMicro
                $0.debitsPosted = posted
            }
            try adjustBalance(ofAccount: row.creditAccountId) {
                $0.creditsPending = -hold.amountMicro
                $0.creditsPosted = posted
            }
            try db.query(
                "DELETE FROM open_holds WHERE transfer_seq = ?", [.integer(hold.sequence)])
            guard db.changes == 1 else {
                throw LedgerError.inconsistent(entry: hold.id, reason: "is not in open_holds")
            }
        }
    }

    // MARK: - Automatic transfers

    /// Expires every open hold whose timeout has passed: run at the start of
    /// every write, so a hold expires on the first write after its timeout,
    /// also after a restart.
    func expireDue(now: Int64) throws {
        let due = try db.query(
            """
            SELECT t.id FROM open_holds o JOIN transfers t ON t.seq = o.transfer_seq
            WHERE o.timeout_ms <= ? ORDER BY o.timeout_ms, o.transfer_seq
            """, [.integer(now)])
        for holdId in due.compactMap({ $0.text(0) }) {
            guard let hold = try transferRow(id: holdId) else { continue }
            let draft = TransferRow(
                sequence: 0, id: "expire:" + (try Self.requestId(ofHold: hold.id)), kind: .expire,
                debitAccountId: hold.debitAccountId, creditAccountId: hold.creditAccountId,
                amountMicro: hold.amountMicro, pendingId: hold.id, usageId: nil,
                usageDigest: nil, timeoutMs: nil, createdMs: now)
            _ = try append(draft)
            log.info("hold: expired", ["hold": hold.id, "timeout_ms": hold.timeoutMs ?? 0])
        }
    }

    /// Tops a persona's account up to its allowance once per period: the
    /// refill's id names the period, so it is granted at most once however
    /// many processes ask. Balances stay sums of transfers; nothing resets.
    func refillIfDue(accountId personaId: Int64, now: Int64) throws {
        guard let settings = try settings(ofAccount: personaId),
            settings.account.kind == .persona, settings.allowance > .zero
        else { return }
        let period = Self.periodIndex(now: now, periodSeconds: settings.periodSeconds)
        let id = "refill:\(settings.account.name):\(settings.periodSeconds):\(period)"
        guard try transferRow(id: id) == nil else { return }

        // Top up to the allowance; a zero refill still marks the period.
        let available = try cachedBalance(ofAccount: personaId).available
        let amount = max(0, settings.allowance.rawValue - available.rawValue)
        let draft = TransferRow(
            sequence: 0, id: id, kind: .refill,
            debitAccountId: try accountId(.treasury, now: now), creditAccountId: personaId,
            amountMicro: amount, pendingId: nil, usageId: nil, usageDigest: nil,
            timeoutMs: nil, createdMs: now)
        _ = try append(draft)
        log.info("refill", ["account": settings.account, "period": period, "amount": amount])
    }

    /// The index of the refill period containing `now`: periods start at
    /// multiples of their length since the Unix epoch.
    static func periodIndex(now: Int64, periodSeconds: Int64) -> Int64 {
        let lengthMs = periodSeconds * 1000
        return now >= 0 ? now / lengthMs : (now - lengthMs + 1) / lengthMs
    }

    /// The request id a hold was placed for: its id without `hold:`.
    static func requestId(ofHold holdId: String) throws -> String {
        guard holdId.hasPrefix("hold:") else {
            throw LedgerError.inconsistent(entry: holdId, reason: "a hold id without 'hold:'")
        }
        return String(holdId.dropFirst("hold:".count))
    }
}
