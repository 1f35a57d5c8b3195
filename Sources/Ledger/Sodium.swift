import CSodium

/// A failed libsodium call: the operation and its status code.
public struct SodiumError: Error, CustomStringConvertible, Sendable {
    /// The C call that failed, e.g. `crypto_sign_detached`.
    public let operation: String
    /// The status it returned (libsodium uses -1 for every failure).
    public let code: Int32

    public var description: String { "libsodium: \(operation) failed with code \(code)" }
}

/// The one thin wrapper over libsodium: BLAKE2b hashes, Ed25519 keys and
/// signatures, random bytes and constant-time comparison.
enum Sodium {
    /// Bytes of a chain hash: BLAKE2b-256.
    static let hashBytes = 32
    /// Bytes of an Ed25519 seed, from which the key pair is derived.
    static let seedBytes = Int(crypto_sign_SEEDBYTES)
    /// Bytes of an Ed25519 public key.
    static let publicKeyBytes = Int(crypto_sign_PUBLICKEYBYTES)
    /// Bytes of libsodium's Ed25519 secret key (seed followed by public key).
    static let secretKeyBytes = Int(crypto_sign_SECRETKEYBYTES)
    /// Bytes of a detached Ed25519 signature.
    static let signatureBytes = Int(crypto_sign_BYTES)

    /// Initialises libsodium once per process; safe to call from any thread.
    private static let initialised: Int32 = sodium_init()

    /// Fails unless libsodium initialised (0: now, 1: already).
    static func ready() throws {
        guard initialised >= 0 else {
            throw SodiumError(operation: "sodium_init", code: initialised)
        }
    }

    /// BLAKE2b-256 of the concatenation of `parts`. One-shot over a joined
    /// buffer: libsodium's streaming state is an over-aligned struct that
    /// Swift imports only as an opaque type, and our inputs are small.
    static func blake2b(_ parts: [UInt8]...) throws -> [UInt8] {
        try ready()
        let input = Array(parts.joined())
        var digest = [UInt8](repeating: 0, count: hashBytes)
        let status = crypto_generichash(
            &digest, hashBytes, input, UInt64(input.count), nil, 0)
        try check(status, "crypto_generichash")
        return digest
    }

    /// `count` bytes from the operating system's secure random source.
    static func randomBytes(_ count: Int) throws -> [UInt8] {
        try ready()
        var bytes = [UInt8](repeating: 0, count: count)
        randombytes_buf(&bytes, count)
        return bytes
    }

    /// The Ed25519 key pair derived from a 32-byte seed.
    static func keyPair(seed: [UInt8]) throws -> (publicKey: [UInt8], secretKey: [UInt8]) {
        precondition(seed.count == seedBytes, "Sodium: seed of \(seed.count) bytes")
        try ready()
        var publicKey = [UInt8](repeating: 0, count: publicKeyBytes)
        var secretKey = [UInt8](repeating: 0, count: secretKeyBytes)
        let status = crypto_sign_seed_keypair(&publicKey, &secretKey, seed)
        try check(status, "crypto_sign_seed_keypair")
        return (publicKey, secretKey)
    }

    /// The detached Ed25519 signature of `message` under `secretKey`.
    static func sign(_ message: [UInt8], secretKey: [UInt8]) throws -> [UInt8] {
        precondition(secretKey.count == secretKeyBytes, "Sodium: secret key size")
        var signature = [UInt8](repeating: 0, count: signatureBytes)
        let status = crypto_sign_detached(
            &signature, nil, message, UInt64(message.count), secretKey)
        try check(status, "crypto_sign_detached")
        return signature
    }

    /// True when `signature` is `publicKey`'s signature of `message`. A
    /// malformed signature or key is simply not valid.
    static func verify(_ signature: [UInt8], of message: [UInt8], publicKey: [UInt8]) -> Bool {
        guard signature.count == signatureBytes, publicKey.count == publicKeyBytes else {
            return false
        }
        guard (try? ready()) != nil else { return false }
        return crypto_sign_verify_detached(
            signature, message, UInt64(message.count), publicKey) == 0
    }

    /// Compares two byte strings in time that depends only on their length.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        if a.isEmpty { return true }
        return sodium_memcmp(a, b, a.count) == 0
    }

    /// Overwrites `bytes` with zeros in a way the optimiser keeps.
    static func wipe(_ bytes: inout [UInt8]) {
        let count = bytes.count
        bytes.withUnsafeMutableBytes { sodium_memzero($0.baseAddress, count) }
    }

    private static func check(_ status: Int32, _ operation: String) throws {
        guard status == 0 else { throw SodiumError(operation: operation, code: status) }
    }
}
