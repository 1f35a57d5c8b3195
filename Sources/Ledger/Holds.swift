import Foundation
import Support

/// A reservation of a generation's worst case (TigerBeetle's pending
/// transfer): placed before compute, then posted for the actual price,
/// voided, or expired after its timeout.
public struct Hold: Sendable, Hashable, Codable {
    /// The request the hold was placed for.
    public let requestId: String
    /// The hold transfer's id: `hold:<requestId>`.
    public let transferId: String
    /// Its position in the chain.
    public let sequence: Int64
    public let persona: String
    public let device: String
    /// The Motes reserved.
    public let amount: MicroMotes
    /// When it expires, Unix milliseconds.
    public let expiresAtMs: Int64
    /// True when this request already had a hold and nothing was written.
    public let alreadyPlaced: Bool
}

extension Ledger {
    /// Reserves `amount` of the persona's Motes for `requestId`, or throws
    /// `refused` (writing nothing) when its available balance cannot cover
    /// it. Placing the same request again returns the first hold.
    ///
    /// - Parameters:
    ///   - timeout: after this the hold expires on the next write, also
    ///     after a restart; at most `Limits.Ledger.holdTimeoutMsMax`.
    @discardableResult
    public func hold(
        persona: String, requestId: String, amount: MicroMotes, device: String = "cpu",
        timeout: Duration
    ) throws -> Hold {
        try Validate.name(persona, field: "persona")
        try Validate.name(device, field: "device")
        try Validate.id(requestId, field: "requestId")
        try Validate.range(amount.rawValue, 0, Limits.Ledger.amountMicroMax, "amount")
        let timeoutMs =
            timeout.components.seconds * 1000
            + timeout.components.attoseconds / 1_000_000_000_000_000
        try Validate.range(timeoutMs, 1, Limits.Ledger.holdTimeoutMsMax, "timeoutMs")
        return try store.withLock { store in
            try store.write { now in
                let personaId = try store.accountId(.persona(persona), now: now)
                try store.refillIfDue(accountId: personaId, now: now)
                let draft = TransferRow(
                    sequence: 0, id: "hold:" + requestId, kind: .hold,
                    debitAccountId: personaId,
                    creditAccountId: try store.accountId(.device(device), now: now),
                    amountMicro: amount.rawValue, pendingId: nil, usageId: nil,
                    usageDigest: nil, timeoutMs: now + timeoutMs, createdMs: now)
                let (row, created) = try store.append(draft)
                if created {
                    store.log.info("hold", ["request": requestId, "amount": amount.rawValue])
                }
                return Hold(
                    requestId: requestId, transferId: row.id, sequence: row.sequence,
                    persona: persona, device: device, amount: MicroMotes(row.amountMicro),
                    expiresAtMs: row.timeoutMs ?? 0, alreadyPlaced: !created)
            }
        }
    }

    /// The most a request can cost under the current schedule: the amount
    /// to hold before running it.
    public func estimate(
        parameterCount: Int64, promptTokens: Int64, maxOutputTokens: Int64, device: String = "cpu"
    ) throws -> MicroMotes {
        try currentSchedule.worstCase(
            parameterCount: parameterCount, promptTokens: promptTokens,
            maxOutputTokens: maxOutputTokens, device: device)
    }

    /// Settles the hold placed for `usage.requestId` at the price of what was
    /// actually used (never more than the hold) and releases the rest. Use
    /// it also when a generation fails or is cancelled: `usage` then counts
    /// only what was produced. A retry with the same usage returns the
    /// stored charge.
    public func post(usage: Usage) throws -> Charge {
        try usage.validate()
        return try store.withLock { store in
            try store.write { now in
                let hold = try store.openHold(requestId: usage.requestId, resolvedBy: .post)
                guard let hold else {
                    return try store.recordCharge(usage, hold: nil, now: now)
                }
                try store.requireHoldAccounts(hold, usage: usage, now: now)
                return try store.recordCharge(usage, hold: hold, now: now)
            }
        }
    }

    /// Releases the hold for `requestId` in full: nothing was computed.
    /// Voiding an already voided hold returns the void.
    @discardableResult
    public func void(requestId: String) throws -> Transfer {
        try Validate.id(requestId, field: "requestId")
        return try store.withLock { store in
            try store.write { now in
                guard let hold = try store.openHold(requestId: requestId, resolvedBy: .void) else {
                    guard let done = try store.transferRow(id: "void:" + requestId) else {
                        throw LedgerError.inconsistent(
                            entry: "hold:" + requestId, reason: "voided by an unknown transfer")
                    }
                    return try store.transfer(done)
                }
                let draft = TransferRow(
                    sequence: 0, id: "void:" + requestId, kind: .void,
                    debitAccountId: hold.debitAccountId, creditAccountId: hold.creditAccountId,
                    amountMicro: hold.amountMicro, pendingId: hold.id, usageId: nil,
                    usageDigest: nil, timeoutMs: nil, createdMs: now)
                store.log.info("hold: voided", ["request": requestId])
                return try store.transfer(store.append(draft).row)
            }
        }
    }

    /// Expires every hold past its timeout now, rather than at the next
    /// write. Returns how many were expired.
    @discardableResult
    public func expireHolds() throws -> Int {
        try store.withLock { store in
            try store.db.writeTransaction {
                let before = try store.openHoldCount()
                try store.expireDue(now: store.clock.nowMs())
                return before - (try store.openHoldCount())
            }
        }
    }

    /// The holds not yet posted, voided or expired, oldest first.
    public func openHolds() throws -> [Hold] {
        try store.withLock { store in
            try store.db.readTransaction { try store.openHoldList() }
        }
    }

    /// The state of the hold placed for `requestId`, or nil if none was.
    public func holdState(requestId: String) throws -> HoldState? {
        try store.withLock { store in
            try store.db.readTransaction {
                guard try store.transferRow(id: "hold:" + requestId) != nil else { return nil }
                return try store.resolution(ofHold: "hold:" + requestId).map {
                    HoldState(resolvedBy: $0.kind) ?? .open
                } ?? .open
            }
        }
    }
}

extension HoldState {
    /// The state a resolution of `kind` leaves a hold in; nil for a kind
    /// that does not resolve holds.
    init?(resolvedBy kind: TransferKind) {
        switch kind {
        case .post: self = .posted
        case .void: self = .voided
        case .expire: self = .expired
        default: return nil
        }
    }
}

extension LedgerStore {
    /// The open hold for `requestId`. Nil when it was already resolved by
    /// `retry` (the caller then replays); throws when there is no hold or it
    /// was resolved another way.
    func openHold(requestId: String, resolvedBy retry: TransferKind) throws -> TransferRow? {
        guard let hold = try transferRow(id: "hold:" + requestId) else {
            throw LedgerError.holdNotFound(requestId: requestId)
        }
        guard let resolution = try resolution(ofHold: hold.id) else { return hold }
        guard resolution.kind == retry else {
            guard let state = HoldState(resolvedBy: resolution.kind) else {
                throw LedgerError.inconsistent(
                    entry: "transfer \(resolution.sequence)",
                    reason: "a \(resolution.kind.rawValue) names hold \(hold.id)")
            }
            throw LedgerError.holdNotOpen(requestId: requestId, state: state)
        }
        return nil
    }

    /// A post pays from the hold's persona to the hold's device.
    func requireHoldAccounts(_ hold: TransferRow, usage: Usage, now: Int64) throws {
        let pairs: [(String, Int64, Account)] = [
            ("persona", hold.debitAccountId, .persona(usage.persona)),
            ("device", hold.creditAccountId, .device(usage.device)),
        ]
        for (field, heldId, given) in pairs where try accountId(given, now: now) != heldId {
            let held = try settings(ofAccount: heldId)?.account.name ?? "#\(heldId)"
            throw LedgerError.idempotencyConflict(
                id: hold.id, field: field, stored: held, given: given.name)
        }
    }

    func openHoldCount() throws -> Int {
        Int(try db.first("SELECT COUNT(*) FROM open_holds")?.int(0) ?? 0)
    }

    /// Every open hold, oldest first.
    func openHoldList() throws -> [Hold] {
        let accounts = try accountsById()
        return try db.query(
            """
            SELECT \(TransferRow.columns) FROM transfers
            WHERE seq IN (SELECT transfer_seq FROM open_holds) ORDER BY seq
            """
        ).compactMap(TransferRow.init(row:)).map { row throws in
            Hold(
                requestId: try Self.requestId(ofHold: row.id), transferId: row.id,
                sequence: row.sequence, persona: accounts[row.debitAccountId]?.name ?? "?",
                device: accounts[row.creditAccountId]?.name ?? "?",
                amount: MicroMotes(row.amountMicro), expiresAtMs: row.timeoutMs ?? 0,
                alreadyPlaced: true)
        }
    }
}
