import Foundation
import Support

/// A signed note of the ledger's size and head hash, for the user to keep
/// somewhere the host cannot write. Later, `verify(checkpoint:)` detects a
/// ledger that was truncated (fewer transfers than the note) or whose
/// history was rewritten and re-signed (another hash at the note's size).
///
/// The idea is a transparency log's signed checkpoint; the text format is
/// our own:
///
///     asthenosphere ledger checkpoint v1
///     size 1234
///     head <BLAKE2b-256 of transfer 1234, hex>
///     time 2025-01-01T00:00:00Z
///     key <Ed25519 public key, hex>
///
///     signature <Ed25519 signature of the five lines above, hex>
public struct Checkpoint: Sendable, Hashable, Codable {
    /// Transfers in the ledger when the note was signed.
    public let size: Int64
    /// The hash of transfer `size` (32 zero bytes when empty), hex.
    public let headHash: String
    /// When the note was signed, Unix milliseconds (whole seconds).
    public let timeMs: Int64
    /// The signing public key, hex.
    public let publicKey: String
    /// Ed25519 over `body`, hex.
    public let signature: String

    /// The first line; names the format and its version.
    static let header = "asthenosphere ledger checkpoint v1"

    /// The signed lines, each ending in a newline.
    public var body: String {
        let time = ISO8601DateFormatter().string(
            from: Date(timeIntervalSince1970: Double(timeMs / 1000)))
        return "\(Self.header)\nsize \(size)\nhead \(headHash)\ntime \(time)\nkey \(publicKey)\n"
    }

    /// The note as written to a file.
    public var text: String { body + "\nsignature \(signature)\n" }

    /// True when `signature` is `publicKey`'s signature of `body`.
    public var isSignatureValid: Bool {
        guard let key = Hex.decode(publicKey), let signature = Hex.decode(signature) else {
            return false
        }
        return Sodium.verify(signature, of: Array(body.utf8), publicKey: key)
    }

    /// Parses a note written by `text`; errors name the line at fault.
    public init(parsing text: String) throws {
        guard text.utf8.count <= Limits.Ledger.checkpointBytesMax else {
            throw LedgerError.checkpointMalformed(
                line: 0,
                reason: "\(text.utf8.count) bytes, more than \(Limits.Ledger.checkpointBytesMax)")
        }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard lines.count >= 7, lines[0] == Self.header else {
            throw LedgerError.checkpointMalformed(line: 1, reason: "expected '\(Self.header)'")
        }
        guard lines.dropFirst(7).allSatisfy(\.isEmpty) else {
            throw LedgerError.checkpointMalformed(line: 8, reason: "text after the signature")
        }
        guard lines[5].isEmpty else {
            throw LedgerError.checkpointMalformed(line: 6, reason: "expected an empty line")
        }
        let sizeText = try Self.value(lines, 1, "size")
        guard let size = Int64(sizeText), size >= 0 else {
            throw LedgerError.checkpointMalformed(line: 2, reason: "size '\(sizeText)'")
        }
        let timeText = try Self.value(lines, 3, "time")
        guard let time = ISO8601DateFormatter().date(from: timeText) else {
            throw LedgerError.checkpointMalformed(line: 4, reason: "time '\(timeText)'")
        }
        self.init(
            size: size, headHash: try Self.hex(lines, 2, "head", bytes: Sodium.hashBytes),
            timeMs: Int64(time.timeIntervalSince1970) * 1000,
            publicKey: try Self.hex(lines, 4, "key", bytes: Sodium.publicKeyBytes),
            signature: try Self.hex(lines, 6, "signature", bytes: Sodium.signatureBytes))
    }

    init(size: Int64, headHash: String, timeMs: Int64, publicKey: String, signature: String) {
        self.size = size
        self.headHash = headHash
        self.timeMs = timeMs
        self.publicKey = publicKey
        self.signature = signature
    }

    /// The text after `name ` on line `index`.
    private static func value(_ lines: [String], _ index: Int, _ name: String) throws -> String {
        guard lines[index].hasPrefix(name + " ") else {
            throw LedgerError.checkpointMalformed(line: index + 1, reason: "expected '\(name) …'")
        }
        return String(lines[index].dropFirst(name.count + 1))
    }

    /// The hex value on line `index`, checked to decode to `bytes` bytes.
    private static func hex(
        _ lines: [String], _ index: Int, _ name: String, bytes: Int
    ) throws -> String {
        let text = try value(lines, index, name)
        guard let decoded = Hex.decode(text), decoded.count == bytes else {
            throw LedgerError.checkpointMalformed(
                line: index + 1, reason: "\(name) must be \(bytes) bytes of hex")
        }
        return text.lowercased()
    }
}

extension Ledger {
    /// Signs a checkpoint of the ledger as it stands: its size and head hash.
    public func checkpoint() throws -> Checkpoint {
        try store.withLock { store in
            let head = try store.db.readTransaction {
                try store.db.first("SELECT seq, hash FROM transfers ORDER BY seq DESC LIMIT 1")
            }
            let nowMs = store.clock.nowMs() / 1000 * 1000
            let unsigned = Checkpoint(
                size: head?.int(0) ?? 0,
                headHash: Hex.encode(head?.blob(1) ?? TransferRow.genesisHash), timeMs: nowMs,
                publicKey: Hex.encode(store.key.publicKey), signature: "")
            let signature = try store.key.sign(Array(unsigned.body.utf8))
            store.log.info("checkpoint", ["size": unsigned.size, "head": unsigned.headHash])
            return Checkpoint(
                size: unsigned.size, headHash: unsigned.headHash, timeMs: nowMs,
                publicKey: unsigned.publicKey, signature: Hex.encode(signature))
        }
    }
}
