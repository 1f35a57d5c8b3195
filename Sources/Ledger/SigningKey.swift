import Foundation
import Support

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// The host's Ed25519 key: it signs every transfer, every account row and
/// every checkpoint.
///
/// The key file holds the 32-byte seed and nothing else, mode 0600. It is
/// created on first use; a file that others may read is refused, as ssh
/// refuses a private key others can read.
struct SigningKey: Sendable {
    /// The file the seed came from.
    let url: URL
    /// The Ed25519 public key (32 bytes), stored in the ledger and in
    /// checkpoints so an auditor knows which key to expect.
    let publicKey: [UInt8]
    /// libsodium's 64-byte secret key (seed, then public key).
    private let secretKey: [UInt8]

    /// Loads the key at `url`, creating it (mode 0600) if the file is absent.
    static func loadOrCreate(at url: URL) throws -> SigningKey {
        if let key = try load(at: url) { return key }
        try create(at: url)
        guard let key = try load(at: url) else {
            throw LedgerError.keyFile(path: url.path, reason: "vanished after creation")
        }
        return key
    }

    /// Signs `message` (a chain hash or a canonical row).
    func sign(_ message: [UInt8]) throws -> [UInt8] {
        try Sodium.sign(message, secretKey: secretKey)
    }

    /// True when `signature` is this key's signature of `message`.
    func isValid(_ signature: [UInt8], of message: [UInt8]) -> Bool {
        Sodium.verify(signature, of: message, publicKey: publicKey)
    }

    // MARK: - File handling

    /// Reads the seed at `url`; nil when no file is there.
    static func load(at url: URL) throws -> SigningKey? {
        var info = stat()
        guard stat(url.path, &info) == 0 else {
            if errno == ENOENT { return nil }
            throw LedgerError.keyFile(path: url.path, reason: "stat: errno \(errno)")
        }

        // Refuse a key that the group or others could read or change.
        let mode = info.st_mode & 0o777
        guard mode & 0o077 == 0 else {
            throw LedgerError.keyFile(
                path: url.path,
                reason: "mode \(String(mode, radix: 8)) lets others read it; chmod 600 the file")
        }

        // The file is exactly one seed.
        var seed = [UInt8](try Data(contentsOf: url))
        defer { Sodium.wipe(&seed) }
        guard seed.count == Sodium.seedBytes else {
            throw LedgerError.keyFile(
                path: url.path,
                reason: "holds \(seed.count) bytes, expected an Ed25519 seed of \(Sodium.seedBytes)"
            )
        }
        let pair = try Sodium.keyPair(seed: seed)
        return SigningKey(url: url, publicKey: pair.publicKey, secretKey: pair.secretKey)
    }

    /// Writes a fresh seed to a private temporary file, then links it into
    /// place. `link` fails if another process won the race, and then that
    /// process's key is the one everybody loads.
    private static func create(at url: URL) throws {
        var seed = try Sodium.randomBytes(Sodium.seedBytes)
        defer { Sodium.wipe(&seed) }
        let temporary = url.path + ".\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp"

        // Write and flush the seed, readable by the owner only.
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw LedgerError.keyFile(path: temporary, reason: "create: errno \(errno)")
        }
        defer { unlink(temporary) }
        let written = seed.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        let flushed = fsync(descriptor)
        close(descriptor)
        guard written == Sodium.seedBytes, flushed == 0 else {
            throw LedgerError.keyFile(path: temporary, reason: "write: errno \(errno)")
        }

        // Publish it under its final name unless someone else already did.
        if link(temporary, url.path) != 0, errno != EEXIST {
            throw LedgerError.keyFile(path: url.path, reason: "link: errno \(errno)")
        }
        Log("ledger").info("key: created", ["path": url.path])
    }
}
