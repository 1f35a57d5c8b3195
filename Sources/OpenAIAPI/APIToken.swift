import Foundation
import Support

/// The bearer token every API request but `/health` must carry.
///
/// It is made on first start from 32 bytes of the system's secure random
/// source, written to `<ASTH_HOME>/http.token` with mode 0600, and read back
/// on later starts. A file that others could read, or that is not a plain
/// file of ours, is refused rather than trusted.
public struct APIToken: Sendable {
    /// 64 lowercase hex digits.
    public let value: String

    /// Random bytes in a new token: 256 bits, beyond guessing.
    static let randomBytes = 32

    /// A token with a known value, for tests.
    public init(value: String) {
        precondition(!value.isEmpty, "an empty token would let anyone in")
        self.value = value
    }

    /// Where the token lives in `home`.
    public static func fileURL(in home: Home) -> URL {
        home.url.appendingPathComponent("http.token")
    }

    /// The token in `home`, made and written first if there is none.
    ///
    /// - Throws: `APITokenError` when the file is unsafe or unreadable.
    public static func loadOrCreate(in home: Home) throws -> APIToken {
        try home.create()
        let path = fileURL(in: home).path
        if let existing = try read(path) {
            return existing
        }
        let token = APIToken(value: fresh())
        if try write(token, to: path) {
            return token
        }
        // Another process made it between our look and our write: use theirs.
        guard let theirs = try read(path) else {
            throw APITokenError.unreadable(path: path, errno: ENOENT)
        }
        return theirs
    }

    /// A new token's value.
    static func fresh() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<randomBytes).map { _ in
            let byte = UInt8.random(in: 0...255, using: &generator)
            return String(byte, radix: 16).leftPadded(to: 2)
        }.joined()
    }

    /// True when `presented` is this token. The time taken does not depend
    /// on where the two first differ, so that timing reveals nothing.
    public func matches(_ presented: String) -> Bool {
        let expected = Array(value.utf8)
        let given = Array(presented.utf8)
        var difference = UInt8(truncatingIfNeeded: expected.count ^ given.count)
        for index in 0..<expected.count {
            let byte = index < given.count ? given[index] : 0
            difference |= expected[index] ^ byte
        }
        return difference == 0
    }

    /// The token in the file at `path`, nil if there is none.
    private static func read(_ path: String) throws -> APIToken? {
        let descriptor = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        if descriptor < 0 {
            if errno == ENOENT { return nil }
            throw APITokenError.unreadable(path: path, errno: errno)
        }
        defer { close(descriptor) }
        try checkSafe(descriptor, path: path)

        // Read at most the limit; a token file is one short line.
        var bytes = [UInt8](repeating: 0, count: Limits.HTTP.tokenFileBytesMax + 1)
        let count = Glibc.read(descriptor, &bytes, bytes.count)
        guard count >= 0 else { throw APITokenError.unreadable(path: path, errno: errno) }
        guard count <= Limits.HTTP.tokenFileBytesMax else {
            throw APITokenError.malformed(
                path: path, reason: "over \(Limits.HTTP.tokenFileBytesMax) bytes")
        }
        let text = String(decoding: bytes[0..<count], as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        guard text.count >= 32, text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) })
        else {
            throw APITokenError.malformed(
                path: path, reason: "expected at least 32 letters and digits")
        }
        return APIToken(value: text)
    }

    /// Refuses a token file that is not a plain file owned by us with no
    /// access for group or others.
    private static func checkSafe(_ descriptor: Int32, path: String) throws {
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            throw APITokenError.unreadable(path: path, errno: errno)
        }
        guard (status.st_mode & S_IFMT) == S_IFREG else {
            throw APITokenError.unsafe(path: path, reason: "not a regular file")
        }
        guard status.st_uid == getuid() else {
            throw APITokenError.unsafe(
                path: path, reason: "owned by uid \(status.st_uid), not \(getuid())")
        }
        let mode = status.st_mode & 0o777
        guard mode & 0o077 == 0 else {
            throw APITokenError.unsafe(
                path: path,
                reason: "mode \(String(mode, radix: 8)) lets others read it; run chmod 600 on it")
        }
    }

    /// Writes a new token file with mode 0600; false if one already exists.
    private static func write(_ token: APIToken, to path: String) throws -> Bool {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        if descriptor < 0 {
            if errno == EEXIST { return false }
            throw APITokenError.unwritable(path: path, errno: errno)
        }
        defer { close(descriptor) }
        let bytes = Array((token.value + "\n").utf8)
        guard Glibc.write(descriptor, bytes, bytes.count) == bytes.count, fsync(descriptor) == 0
        else {
            let code = errno
            unlink(path)
            throw APITokenError.unwritable(path: path, errno: code)
        }
        return true
    }
}

/// Why the API token could not be had.
public enum APITokenError: Error, CustomStringConvertible, Equatable {
    /// The file exists but could not be opened or read.
    case unreadable(path: String, errno: Int32)
    /// The file could not be created or written.
    case unwritable(path: String, errno: Int32)
    /// The file is not safe to trust: wrong type, owner or mode.
    case unsafe(path: String, reason: String)
    /// The file does not hold a token.
    case malformed(path: String, reason: String)

    public var description: String {
        switch self {
        case .unreadable(let path, let code):
            return "\(path): cannot read the API token: \(String(cString: strerror(code)))"
        case .unwritable(let path, let code):
            return "\(path): cannot write the API token: \(String(cString: strerror(code)))"
        case .unsafe(let path, let reason):
            return "\(path): refusing the API token file: \(reason)"
        case .malformed(let path, let reason):
            return "\(path): not an API token (\(reason)); delete it to make a new one"
        }
    }
}

extension String {
    /// The string with leading zeros up to `width` characters.
    fileprivate func leftPadded(to width: Int) -> String {
        String(repeating: "0", count: max(0, width - count)) + self
    }
}
