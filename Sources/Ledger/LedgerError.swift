import Database
import Foundation

/// What the ledger refuses or cannot do. Each case carries its evidence:
/// the file, field or id at fault, the value found and the limit.
///
/// SQLite and libsodium failures arrive as `SQLiteError` and `SodiumError`.
public enum LedgerError: Error, CustomStringConvertible, Sendable {
    /// The key file is unreadable, malformed or readable by others.
    case keyFile(path: String, reason: String)
    /// The key file's public key is not the one the ledger was signed with.
    case keyMismatch(path: String, ledgerKey: String, fileKey: String)
    /// The database was migrated by a newer build.
    case schemaTooNew(path: String, found: Int, supported: Int)
    /// A price schedule file has a bad or missing field.
    case priceSchedule(name: String, field: String, value: String, reason: String)
    /// A usage record names a schedule version this build does not ship.
    case scheduleUnknown(version: Int)
    /// The schedule has no price factor for the device.
    case deviceNotPriced(device: String, scheduleVersion: Int)
    /// A number is outside its documented bounds.
    case valueOutOfRange(field: String, value: Int64, min: Int64, max: Int64)
    /// A name or id is empty, too long or not valid text.
    case invalidName(field: String, value: String, reason: String)
    /// No account of that kind and name exists.
    case accountNotFound(kind: String, name: String)
    /// A retry reused an id with different fields (TigerBeetle's
    /// `exists_with_different_*`): names the first field that differs.
    case idempotencyConflict(id: String, field: String, stored: String, given: String)
    /// The balance cannot cover the amount; nothing was written.
    case refused(Refusal)
    /// No hold was placed for this request.
    case holdNotFound(requestId: String)
    /// The hold was already posted, voided or expired.
    case holdNotOpen(requestId: String, state: HoldState)
    /// A sum would leave Int64.
    case overflow(field: String)
    /// A checkpoint file does not parse.
    case checkpointMalformed(line: Int, reason: String)
    /// The stored rows contradict each other (changed behind the ledger's
    /// back); `asth ledger verify` names what and where.
    case inconsistent(entry: String, reason: String)

    public var description: String {
        switch self {
        case .keyFile(let path, let reason):
            return "ledger: signing key \(path): \(reason)"
        case .keyMismatch(let path, let ledgerKey, let fileKey):
            return "ledger: signing key \(path) is \(fileKey) but the ledger was signed by "
                + ledgerKey
        case .schemaTooNew(let path, let found, let supported):
            return
                "ledger: \(path) has schema version \(found); this build knows up to \(supported)"
        case .priceSchedule(let name, let field, let value, let reason):
            return "ledger: price schedule \(name): field \(field) = \(value): \(reason)"
        case .scheduleUnknown(let version):
            return "ledger: price schedule version \(version) is not shipped with this build"
        case .deviceNotPriced(let device, let version):
            return "ledger: price schedule v\(version) has no factor for device '\(device)'"
        case .valueOutOfRange(let field, let value, let min, let max):
            return "ledger: \(field) = \(value) is outside \(min)...\(max)"
        case .invalidName(let field, let value, let reason):
            return "ledger: \(field) '\(value)': \(reason)"
        case .accountNotFound(let kind, let name):
            return "ledger: no \(kind) account '\(name)'"
        case .idempotencyConflict(let id, let field, let stored, let given):
            return "ledger: id '\(id)' already used with \(field) = \(stored), not \(given)"
        case .refused(let refusal):
            return refusal.description
        case .holdNotFound(let requestId):
            return "ledger: no hold for request '\(requestId)'"
        case .holdNotOpen(let requestId, let state):
            return "ledger: the hold for request '\(requestId)' is already \(state.rawValue)"
        case .overflow(let field):
            return "ledger: \(field) would overflow"
        case .checkpointMalformed(let line, let reason):
            return "ledger: checkpoint line \(line): \(reason)"
        case .inconsistent(let entry, let reason):
            return "ledger: \(entry): \(reason); run asth ledger verify"
        }
    }
}

/// A request the balance cannot cover, refused before any compute.
public struct Refusal: Sendable, Hashable, CustomStringConvertible {
    /// The persona whose account was asked.
    public let persona: String
    /// What the account can spend now: posted credits less posted and
    /// pending debits.
    public let available: MicroMotes
    /// What the request may cost at most.
    public let estimate: MicroMotes
    /// When the next refill period starts; nil without an allowance.
    public let refillsAt: Date?
    /// The balance the refill tops the account up to.
    public let allowance: MicroMotes

    public var description: String {
        var text =
            "persona '\(persona)' has \(available) Motes; this request may cost up to "
            + "\(estimate) Motes"
        if let refillsAt {
            let time = ISO8601DateFormatter().string(from: refillsAt)
            text += "; the allowance refills to \(allowance) Motes at \(time)"
        } else {
            text += "; it has no allowance (grant Motes with: asth ledger grant \(persona) N)"
        }
        return text
    }
}
