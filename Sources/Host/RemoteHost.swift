import Foundation
import Personas
import Support

/// The daemon as a `CompletionService`: each call is one connection to its
/// socket, speaking the protocol of `PROTOCOL.md`.
public final class RemoteHost: CompletionService, @unchecked Sendable {
    public let socketPath: String

    /// How often a waiting client looks at its cancellation.
    static let pollMs: Int32 = 10

    /// The daemon serving `home`, or nil when none answers on its socket.
    public static func running(in home: Home) -> RemoteHost? {
        let path = home.socketURL.path
        guard FileManager.default.fileExists(atPath: path),
            (try? UnixSocket.connect(to: path)) != nil
        else { return nil }
        return RemoteHost(socketPath: path)
    }

    public init(socketPath: String) {
        self.socketPath = socketPath
    }

    public func personas() -> [Persona] {
        guard let event = try? ask(WireRequest(v: WireProtocol.version, op: .personas)) else {
            return []
        }
        return (event.personas ?? []).map(\.persona)
    }

    /// What the daemon is doing now.
    public func status() throws -> HostStatus {
        let event = try ask(WireRequest(v: WireProtocol.version, op: .status))
        guard let status = event.status else {
            throw RemoteError(kind: "protocol", description: "the host sent no status")
        }
        return status
    }

    @discardableResult
    public func complete(
        _ request: CompletionRequest, cancellation: Cancellation,
        events: (CompletionEvent) -> Void
    ) throws -> CompletionUsage {
        let connection = try UnixSocket.connect(to: socketPath)
        defer { connection.close() }
        var wire = WireCompletion(request)
        wire.progress = true
        let line = WireRequest(v: WireProtocol.version, op: .complete, request: wire)
        let reader = LineReader(socket: connection, lineBytesMax: Limits.Host.protocolLineBytesMax)
        try send(line, reader: reader)

        // Events until the final one; a cancellation is passed on once.
        var cancelSent = false
        while true {
            if cancellation.isCancelled && !cancelSent {
                let cancel = WireRequest(v: WireProtocol.version, op: .cancel)
                try? connection.write(WireProtocol.line(cancel))
                cancelSent = true
            }
            guard let event = try nextEvent(reader, waitingMs: Self.pollMs) else { continue }
            switch event.event {
            case .progress:
                if let step = event.progress { events(.progress(step)) }
            case .text:
                events(.text(event.text ?? ""))
            case .done:
                let usage = event.usage ?? CompletionUsage()
                events(.done(usage))
                return usage
            case .error:
                throw Self.error(event.error)
            case .status, .personas:
                throw RemoteError(kind: "protocol", description: "unexpected \(event.event) event")
            }
        }
    }

    // MARK: - Helpers

    /// Sends one request and reads its one answer.
    private func ask(_ request: WireRequest) throws -> WireEvent {
        let connection = try UnixSocket.connect(to: socketPath)
        defer { connection.close() }
        let reader = LineReader(socket: connection, lineBytesMax: Limits.Host.protocolLineBytesMax)
        try send(request, reader: reader)
        guard let line = try reader.next() else {
            throw RemoteError(kind: "protocol", description: "the host closed the connection")
        }
        let event = try WireProtocol.decoder.decode(WireEvent.self, from: Data(line))
        if event.event == .error { throw Self.error(event.error) }
        return event
    }

    /// Sends one request line. A host that refused the connection may have
    /// answered and closed before the line went out; then its answer, not
    /// the broken pipe, is the error.
    private func send(_ request: WireRequest, reader: LineReader) throws {
        do {
            try reader.socket.write(WireProtocol.line(request))
        } catch {
            guard let line = try? reader.next(),
                let event = try? WireProtocol.decoder.decode(WireEvent.self, from: Data(line)),
                event.event == .error
            else { throw error }
            throw Self.error(event.error)
        }
    }

    /// The next event, or nil when none came within `waitingMs`.
    private func nextEvent(_ reader: LineReader, waitingMs: Int32) throws -> WireEvent? {
        if let line = try reader.takeLine() {
            return try WireProtocol.decoder.decode(WireEvent.self, from: Data(line))
        }
        guard try reader.socket.waitReadable(timeoutMs: waitingMs) else { return nil }
        guard try reader.fill() else {
            throw RemoteError(
                kind: "protocol", description: "the host closed the connection mid-reply")
        }
        return nil
    }

    /// The error to throw for an error event: a `HostError` where the kind
    /// has one, else a `RemoteError` with the host's message.
    static func error(_ wire: WireError?) -> any Error {
        guard let wire else {
            return RemoteError(kind: "protocol", description: "an error event without an error")
        }
        if wire.kind == "busy", let depth = wire.queueDepth {
            return HostError.busy(queueDepth: depth, retryAfterSeconds: wire.retryAfterSeconds ?? 1)
        }
        return RemoteError(kind: wire.kind, description: wire.message)
    }
}
