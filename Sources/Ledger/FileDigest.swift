import CSodium
import Foundation

/// SHA-256 of whole files, for reports that name a model by its hash.
///
/// It lives beside the ledger's other libsodium calls so that libsodium
/// stays behind one wrapper module. The file is mapped, not read, so a
/// model of many gigabytes costs address space rather than memory.
public enum FileDigest {
    /// The SHA-256 of the file at `path`, as 64 lowercase hex digits.
    ///
    /// - Throws: the file system's error when it cannot be mapped;
    ///   `SodiumError` when libsodium fails.
    public static func sha256(path: String) throws -> String {
        try Sodium.ready()
        let data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        var digest = [UInt8](repeating: 0, count: Int(crypto_hash_sha256_BYTES))
        let status = data.withUnsafeBytes { bytes in
            crypto_hash_sha256(
                &digest, bytes.bindMemory(to: UInt8.self).baseAddress, UInt64(bytes.count))
        }
        guard status == 0 else {
            throw SodiumError(operation: "crypto_hash_sha256", code: status)
        }
        return digest.map { String(format: "%02x", $0) }.joined()
    }
}
