import Foundation
import Support
import Synchronization

/// The daemon's socket front end: `host.sock` in the home folder, mode
/// 0600, serving the line protocol of `PROTOCOL.md` to processes of the
/// same user, one thread per connection.
///
/// It holds the home's lock file for its lifetime, so a second daemon on
/// the same home refuses to start.
public final class HostServer: @unchecked Sendable {
    public let service: LocalHost
    public let socketPath: String

    private let lock: HostLock
    private let listener: UnixSocket
    /// The user this process runs as: the only peer it serves.
    private let uid = getuid()
    /// Connections being served. Guarded by itself.
    private let connections = Mutex(0)
    /// False once `stop` has begun.
    private let accepting = Atomic<Bool>(true)
    private let log = Log("serve")

    /// Queue of connections the kernel holds before `accept`.
    static let backlog: Int32 = 64

    /// Takes the home's lock and listens on its socket.
    ///
    /// - Throws: `HostLockError.held` when another daemon serves the home;
    ///   `SocketError` when the socket cannot be made.
    public init(service: LocalHost, home: Home) throws {
        try home.create()
        self.service = service
        self.socketPath = home.socketURL.path
        self.lock = try HostLock(path: home.url.appendingPathComponent("host.lock").path)
        self.listener = try UnixSocket.listen(at: socketPath, backlog: Self.backlog)
        log.info("listen", ["socket": socketPath, "pid": getpid()])
    }

    /// Accepts connections until `stop`.
    public func run() {
        while accepting.load(ordering: .relaxed) {
            let connection: UnixSocket
            do {
                connection = try listener.accept()
            } catch {
                if accepting.load(ordering: .relaxed) {
                    log.warn("accept", ["error": error])
                    continue
                }
                break
            }
            let admitted = connections.withLock { count in
                guard count < Limits.Host.connectionsMax else { return false }
                count += 1
                return true
            }
            guard admitted else {
                refuse(
                    connection, kind: "busy",
                    "too many connections (limit: \(Limits.Host.connectionsMax))")
                continue
            }
            let thread = Thread { [self] in
                serve(connection)
                connections.withLock { $0 -= 1 }
            }
            thread.name = "connection"
            thread.start()
        }
    }

    /// Stops accepting, removes the socket, lets admitted generations finish
    /// for up to `bound` (the rest are cut and charged for what they
    /// produced), and waits for every connection to write its last event.
    public func stop(drainingWithin bound: Duration) {
        guard accepting.exchange(false, ordering: .relaxed) else { return }
        log.info("drain", ["bound_s": bound.components.seconds])
        listener.shutdown()
        unlink(socketPath)
        service.drain(within: bound)
        let deadline = ContinuousClock.now + Self.lastWordsBound
        while connections.withLock({ $0 }) > 0 && ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.01)
        }
        listener.close()
        log.info("stopped", ["socket": socketPath])
    }

    /// How long connections get to write their final events after the drain.
    static let lastWordsBound = Duration.seconds(2)

    // MARK: - One connection

    private func serve(_ connection: UnixSocket) {
        defer { connection.close() }

        // Only the daemon's own user may talk to it.
        guard let peer = try? connection.peerCredentials(), peer.uid == uid else {
            log.warn("refuse peer", ["socket": socketPath])
            refuse(connection, kind: "forbidden", "the host serves its own user only")
            return
        }
        let reader = LineReader(socket: connection, lineBytesMax: Limits.Host.protocolLineBytesMax)
        do {
            while let line = try reader.next() {
                guard try answer(line, connection: connection, reader: reader) else { return }
            }
        } catch {
            refuse(connection, kind: "protocol", "\(error)")
        }
    }

    /// Answers one request line; false when the connection should close.
    private func answer(_ line: [UInt8], connection: UnixSocket, reader: LineReader) throws
        -> Bool
    {
        let request: WireRequest
        do {
            request = try WireProtocol.decoder.decode(WireRequest.self, from: Data(line))
        } catch {
            refuse(connection, kind: "protocol", "not a request line: \(error)")
            return false
        }
        guard request.v == WireProtocol.version else {
            refuse(
                connection, kind: "protocol",
                "protocol version \(request.v) (this host speaks \(WireProtocol.version))")
            return false
        }
        switch request.op {
        case .status:
            try send(WireEvent(event: .status, status: service.status()), on: connection)
        case .personas:
            let personas = service.personas().map(WirePersona.init)
            try send(WireEvent(event: .personas, personas: personas), on: connection)
        case .cancel:
            break
        case .complete:
            guard let wire = request.request else {
                refuse(connection, kind: "bad_request", "complete needs a request")
                return true
            }
            return complete(wire, connection: connection, reader: reader)
        }
        return true
    }

    /// Runs one completion, streaming its events, while a watcher turns a
    /// `cancel` line or a hang-up into its cancellation.
    private func complete(_ wire: WireCompletion, connection: UnixSocket, reader: LineReader)
        -> Bool
    {
        let cancellation = Cancellation()
        let watcher = Watcher(connection: connection, reader: reader, cancellation: cancellation)
        watcher.start()
        defer { watcher.stop() }
        do {
            let request = try wire.request()
            try service.complete(request, cancellation: cancellation) { event in
                let line: WireEvent
                switch event {
                case .progress(let step):
                    guard wire.progress == true else { return }
                    line = WireEvent(event: .progress, progress: step)
                case .text(let text): line = WireEvent(event: .text, text: text)
                case .done(let usage): line = WireEvent(event: .done, usage: usage)
                }
                do {
                    try send(line, on: connection)
                } catch {
                    cancellation.cancel()
                }
            }
        } catch {
            try? send(WireEvent(event: .error, error: WireError(error)), on: connection)
        }
        return !watcher.sawHangUp
    }

    private func send(_ event: WireEvent, on connection: UnixSocket) throws {
        try connection.write(WireProtocol.line(event))
    }

    private func refuse(_ connection: UnixSocket, kind: String, _ message: String) {
        let event = WireEvent(event: .error, error: WireError(kind: kind, message: message))
        try? send(event, on: connection)
        connection.close()
    }
}

/// Watches a connection while its completion runs: a `cancel` line or the
/// client hanging up cancels the generation.
private final class Watcher: @unchecked Sendable {
    let connection: UnixSocket
    let reader: LineReader
    let cancellation: Cancellation
    private let done = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)
    private let hungUp = Atomic<Bool>(false)

    /// How long one wait for input lasts: the watcher's reaction time.
    static let pollMs: Int32 = 10

    init(connection: UnixSocket, reader: LineReader, cancellation: Cancellation) {
        self.connection = connection
        self.reader = reader
        self.cancellation = cancellation
    }

    var sawHangUp: Bool { hungUp.load(ordering: .relaxed) }

    func start() {
        Thread { [self] in
            defer { finished.signal() }
            while !done.load(ordering: .relaxed) {
                guard (try? connection.waitReadable(timeoutMs: Self.pollMs)) ?? false else {
                    continue
                }
                guard (try? reader.fill()) ?? false else {
                    hungUp.store(true, ordering: .relaxed)
                    cancellation.cancel()
                    return
                }
                if let line = try? reader.takeLine(), isCancel(line) {
                    cancellation.cancel()
                }
            }
        }.start()
    }

    /// Stops watching; returns once the watcher no longer reads.
    func stop() {
        done.store(true, ordering: .relaxed)
        finished.wait()
    }

    private func isCancel(_ line: [UInt8]) -> Bool {
        let request = try? WireProtocol.decoder.decode(WireRequest.self, from: Data(line))
        return request?.op == .cancel
    }
}
