import Foundation

/// Who holds Motes: the treasury that grants them, a device that burns them,
/// or a persona that spends them.
public struct Account: Hashable, Sendable, Codable, CustomStringConvertible {
    /// The three roles of double entry in the Motes economy.
    public enum Kind: String, Sendable, Codable, CaseIterable {
        /// Issues Motes; its balance runs negative by all Motes ever granted.
        case treasury
        /// Burns Motes; credited with every charge run on it.
        case device
        /// Spends Motes; may never go below zero.
        case persona
    }

    public let kind: Kind
    public let name: String

    public init(kind: Kind, name: String) {
        self.kind = kind
        self.name = name
    }

    /// The one treasury.
    public static let treasury = Account(kind: .treasury, name: "treasury")

    public static func persona(_ name: String) -> Account { Account(kind: .persona, name: name) }

    public static func device(_ name: String) -> Account { Account(kind: .device, name: name) }

    /// `kind:name`, as in reports and exports.
    public var description: String { "\(kind.rawValue):\(name)" }
}

/// An account's settings as stored: its allowance and refill period.
public struct AccountSettings: Sendable, Hashable {
    public let account: Account
    /// The balance each refill tops the account up to; zero for none.
    public let allowance: MicroMotes
    /// Length of one refill period, in seconds. Periods start at multiples
    /// of it since the Unix epoch, so daily periods start at 00:00 UTC.
    public let periodSeconds: Int64
    /// When the account was created, Unix milliseconds.
    public let createdMs: Int64
}

/// An account's sums of transfers. Derived from the transfers; the cached
/// copy in `balances` must always equal the derivation.
public struct AccountBalance: Sendable, Hashable, Codable {
    /// Posted transfers out of the account.
    public var debitsPosted: MicroMotes
    /// Posted transfers into the account.
    public var creditsPosted: MicroMotes
    /// Open holds out of the account.
    public var debitsPending: MicroMotes
    /// Open holds into the account.
    public var creditsPending: MicroMotes

    public static let zero = AccountBalance(
        debitsPosted: .zero, creditsPosted: .zero, debitsPending: .zero, creditsPending: .zero)

    /// What the account can spend now: credits less debits and open holds.
    public var available: MicroMotes { creditsPosted - debitsPosted - debitsPending }

    /// Credits less debits, holds ignored.
    public var posted: MicroMotes { creditsPosted - debitsPosted }
}

/// Canonical bytes of an account row, the input of its signature.
struct AccountRow {
    let id: Int64
    let settings: AccountSettings

    var canonicalBytes: [UInt8] {
        var bytes = CanonicalBytes(tag: "asth.account.v1")
        bytes.append(id)
        bytes.append(settings.account.kind.rawValue)
        bytes.append(settings.account.name)
        bytes.append(settings.allowance.rawValue)
        bytes.append(settings.periodSeconds)
        bytes.append(settings.createdMs)
        return bytes.bytes
    }
}
