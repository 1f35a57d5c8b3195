import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// A failed system call on a socket or lock file: the call, the path, and
/// the `errno` it left.
public struct SocketError: Error, CustomStringConvertible, Equatable {
    /// The call that failed, e.g. `connect`.
    public let operation: String
    /// The socket or lock file's path.
    public let path: String
    public let code: Int32

    public var description: String {
        "\(operation) \(path): \(String(cString: strerror(code))) (errno \(code))"
    }
}

/// The peer of a Unix socket connection, from `SO_PEERCRED`. Laid out as
/// Linux's `struct ucred`.
struct PeerCredentials {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}

/// One thin wrapper over the socket calls the host uses: a stream socket
/// in the Unix domain. Every call retries `EINTR`; any other failure is
/// thrown with its `errno`.
final class UnixSocket: @unchecked Sendable {
    /// The descriptor; -1 once closed. Only `close` writes it.
    private(set) var descriptor: Int32
    /// The path it is bound or connected to, for messages.
    let path: String

    private init(descriptor: Int32, path: String) {
        self.descriptor = descriptor
        self.path = path
    }

    deinit {
        close()
    }

    /// The longest path `sockaddr_un` holds, its terminating zero excluded.
    static let pathBytesMax = MemoryLayout.size(ofValue: sockaddr_un().sun_path) - 1

    /// A socket listening at `path`, mode 0600. A file already there is
    /// replaced: the caller holds the host lock, so it is a stale socket.
    static func listen(at path: String, backlog: Int32) throws -> UnixSocket {
        let socket = try make(path: path)
        unlink(path)
        let saved = umask(0o177)
        defer { umask(saved) }
        try socket.withAddress { address, length in
            try socket.check("bind", Glibc.bind(socket.descriptor, address, length))
        }
        try socket.check("chmod", chmod(path, 0o600))
        try socket.check("listen", Glibc.listen(socket.descriptor, backlog))
        return socket
    }

    /// A socket connected to the listener at `path`.
    static func connect(to path: String) throws -> UnixSocket {
        let socket = try make(path: path)
        _ = try socket.withAddress { address, length in
            try socket.retrying("connect") { Glibc.connect(socket.descriptor, address, length) }
        }
        return socket
    }

    private static func make(path: String) throws -> UnixSocket {
        guard path.utf8.count <= pathBytesMax else {
            throw SocketError(operation: "socket path too long", path: path, code: ENAMETOOLONG)
        }
        let fd = Glibc.socket(
            AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SocketError(operation: "socket", path: path, code: errno) }
        return UnixSocket(descriptor: fd, path: path)
    }

    /// The next connection; throws once the listener is shut down.
    func accept() throws -> UnixSocket {
        let fd = try retrying("accept") { Glibc.accept(descriptor, nil, nil) }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        return UnixSocket(descriptor: fd, path: path)
    }

    /// The connected peer's process and user.
    func peerCredentials() throws -> PeerCredentials {
        var credentials = PeerCredentials()
        var length = socklen_t(MemoryLayout<PeerCredentials>.size)
        try check(
            "getsockopt(SO_PEERCRED)",
            getsockopt(descriptor, SOL_SOCKET, SO_PEERCRED, &credentials, &length))
        return credentials
    }

    /// Reads up to `count` bytes into `buffer`; 0 at the end of the stream.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        try retrying("read") { Glibc.read(descriptor, buffer.baseAddress, buffer.count) }
    }

    /// Writes all of `bytes`. A peer that went away is `EPIPE`, thrown, not
    /// a signal.
    func write(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let sent = try bytes.withUnsafeBytes { buffer in
                try retrying("send") {
                    send(
                        descriptor, buffer.baseAddress! + offset, buffer.count - offset,
                        Int32(MSG_NOSIGNAL))
                }
            }
            offset += sent
        }
    }

    /// Waits up to `timeoutMs` for input or a hang-up (which reads as the
    /// end of the stream); true if either came.
    func waitReadable(timeoutMs: Int32) throws -> Bool {
        var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        let ready = try retrying("poll") { Int(poll(&entry, 1, timeoutMs)) }
        return ready > 0
    }

    /// Stops a blocked `accept` or `read` in another thread.
    func shutdown() {
        _ = Glibc.shutdown(descriptor, Int32(SHUT_RDWR))
    }

    func close() {
        guard descriptor >= 0 else { return }
        _ = Glibc.close(descriptor)
        descriptor = -1
    }

    // MARK: - Helpers

    private func withAddress<T>(
        _ body: (UnsafePointer<sockaddr>, socklen_t) throws -> T
    ) throws -> T {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: path.utf8)
        }
        return try withUnsafePointer(to: &address) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                try body($0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
    }

    private func check(_ operation: String, _ status: Int32) throws {
        guard status == 0 else { throw SocketError(operation: operation, path: path, code: errno) }
    }

    /// Runs `call` until it does not fail with `EINTR`.
    @discardableResult
    private func retrying<T: BinaryInteger>(_ operation: String, _ call: () -> T) throws -> T {
        while true {
            let result = call()
            if result >= 0 { return result }
            guard errno == EINTR else {
                throw SocketError(operation: operation, path: path, code: errno)
            }
        }
    }
}

/// The host's lock file, held with `flock` for the daemon's lifetime: a
/// second `asth serve` on the same home cannot take it.
final class HostLock {
    let path: String
    private let descriptor: Int32

    /// Takes the lock at `path` and writes this process's id into it.
    ///
    /// - Throws: `HostLockError.held` naming the holder's pid when another
    ///   process has it.
    init(path: String) throws {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SocketError(operation: "open", path: path, code: errno) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            let holder = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            Glibc.close(fd)
            if code == EWOULDBLOCK {
                throw HostLockError.held(
                    path: path, pid: holder.trimmingCharacters(in: .whitespacesAndNewlines))
            }
            throw SocketError(operation: "flock", path: path, code: code)
        }
        _ = ftruncate(fd, 0)
        let pid = Array("\(getpid())\n".utf8)
        _ = pid.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        self.path = path
        self.descriptor = fd
    }

    deinit {
        _ = ftruncate(descriptor, 0)
        Glibc.close(descriptor)
    }
}

/// Another host already serves this home.
public enum HostLockError: Error, CustomStringConvertible, Equatable {
    case held(path: String, pid: String)

    public var description: String {
        switch self {
        case .held(let path, let pid):
            let holder = pid.isEmpty ? "another process" : "process \(pid)"
            return "a host already serves this home: \(holder) holds \(path); stop it first"
        }
    }
}
