import Database
import Foundation

/// Why a transfer exists. Posted kinds move Motes; a hold reserves them;
/// post, void and expire resolve a hold.
public enum TransferKind: String, Sendable, Codable, CaseIterable {
    /// Motes granted by hand from the treasury to a persona.
    case grant
    /// A persona's allowance topped up at the start of a refill period.
    case refill
    /// A generation paid without a hold.
    case charge
    /// A pending transfer reserving a generation's worst case.
    case hold
    /// A hold settled for the actual price; the rest released.
    case post
    /// A hold released in full: nothing was computed.
    case void
    /// A hold released in full because it outlived its timeout.
    case expire
    /// A correction between any two accounts.
    case correction

    /// True for the kinds whose amount moves posted balances.
    var movesPosted: Bool {
        switch self {
        case .grant, .refill, .charge, .post, .correction: return true
        case .hold, .void, .expire: return false
        }
    }

    /// True for post, void and expire.
    var resolvesHold: Bool { self == .post || self == .void || self == .expire }
}

/// The state of a hold, derived from whether and how it was resolved.
public enum HoldState: String, Sendable, Codable {
    /// Reserved; counts against the persona's available balance.
    case open
    /// Settled for the actual price.
    case posted
    /// Released: nothing was computed.
    case voided
    /// Released after its timeout.
    case expired
}

/// One immutable transfer as the ledger reports it.
public struct Transfer: Sendable, Hashable, Codable {
    /// Position in the chain: 1, 2, 3, … without gaps.
    public let sequence: Int64
    /// The idempotency id.
    public let id: String
    public let kind: TransferKind
    public let debit: Account
    public let credit: Account
    public let amount: MicroMotes
    /// For post, void and expire: the hold's id.
    public let pendingId: String?
    /// For charge and post: the usage row it pays for.
    public let usageId: Int64?
    /// For a hold: when it expires, Unix milliseconds.
    public let timeoutMs: Int64?
    /// When it was written, Unix milliseconds.
    public let createdMs: Int64
}

/// A transfer row as stored, with the account ids and chain fields.
struct TransferRow: Sendable {
    var sequence: Int64
    var id: String
    var kind: TransferKind
    var debitAccountId: Int64
    var creditAccountId: Int64
    var amountMicro: Int64
    var pendingId: String?
    var usageId: Int64?
    /// BLAKE2b-256 of the usage row's canonical bytes (32 bytes).
    var usageDigest: [UInt8]?
    var timeoutMs: Int64?
    var createdMs: Int64
    /// The previous row's hash; 32 zero bytes for the first row.
    var prevHash: [UInt8] = []
    /// BLAKE2b-256(prevHash ‖ canonicalBytes), 32 bytes.
    var hash: [UInt8] = []
    /// Ed25519 signature of `hash`, 64 bytes.
    var signature: [UInt8] = []

    /// The hash of the row before the first.
    static let genesisHash = [UInt8](repeating: 0, count: Sodium.hashBytes)

    /// The columns, in the order `init(row:)` reads them.
    static let columns = """
        seq, id, kind, debit_account, credit_account, amount_micro, pending_id, usage_id, \
        usage_digest, timeout_ms, created_ms, prev_hash, hash, signature
        """

    /// The chained fields, in a fixed layout (see `CanonicalBytes`).
    var canonicalBytes: [UInt8] {
        var bytes = CanonicalBytes(tag: "asth.transfer.v1")
        bytes.append(sequence)
        bytes.append(id)
        bytes.append(kind.rawValue)
        bytes.append(debitAccountId)
        bytes.append(creditAccountId)
        bytes.append(amountMicro)
        bytes.append(pendingId)
        bytes.append(usageId)
        bytes.append(bytes: usageDigest)
        bytes.append(timeoutMs)
        bytes.append(createdMs)
        return bytes.bytes
    }

    /// The chain hash of this row after `prevHash`.
    func computeHash(after prevHash: [UInt8]) throws -> [UInt8] {
        try Sodium.blake2b(prevHash, canonicalBytes)
    }

    /// The values bound to `INSERT … (columns) VALUES (?, …)`.
    var bindings: [SQLiteValue] {
        [
            .integer(sequence), .text(id), .text(kind.rawValue), .integer(debitAccountId),
            .integer(creditAccountId), .integer(amountMicro),
            pendingId.map(SQLiteValue.text) ?? .null,
            usageId.map(SQLiteValue.integer) ?? .null, usageDigest.map(SQLiteValue.blob) ?? .null,
            timeoutMs.map(SQLiteValue.integer) ?? .null, .integer(createdMs), .blob(prevHash),
            .blob(hash), .blob(signature),
        ]
    }
}

extension TransferRow {
    /// Reads a row selected with `TransferRow.columns`. A row whose kind is
    /// not one we know (edited behind our back) reads as nil.
    init?(row: SQLiteRow) {
        guard let sequence = row.int(0), let id = row.text(1),
            let kind = row.text(2).flatMap(TransferKind.init(rawValue:)),
            let debit = row.int(3), let credit = row.int(4), let amount = row.int(5),
            let created = row.int(10)
        else { return nil }
        self.init(
            sequence: sequence, id: id, kind: kind, debitAccountId: debit,
            creditAccountId: credit, amountMicro: amount, pendingId: row.text(6),
            usageId: row.int(7), usageDigest: row.blob(8), timeoutMs: row.int(9),
            createdMs: created, prevHash: row.blob(11) ?? [], hash: row.blob(12) ?? [],
            signature: row.blob(13) ?? [])
    }
}
