import Foundation
import Support

/// A response body written by one thread while the server sends it: the
/// producer calls `write` as pieces are ready and `finish` at the end; the
/// server's connection thread takes the bytes as the socket accepts them.
///
/// The client going away is noticed on either side: `write` returns false,
/// and `onClientGone` runs once, so that the work feeding the stream can
/// stop (a generation is cancelled within one dispatch).
public final class HTTPStream: @unchecked Sendable {
    /// How the stream stands. Guarded by `condition`.
    private enum State {
        /// Bytes may still come.
        case open
        /// The producer is done; what is pending is the rest.
        case finished
        /// The client went away, fell too far behind, or the server is
        /// stopping: nothing more is sent.
        case broken
    }

    /// Bytes written and not yet taken by the server. Guarded by `condition`.
    private var pending: [UInt8] = []
    /// Guarded by `condition`.
    private var state = State.open
    /// Runs once when the stream breaks. Guarded by `condition`.
    private var goneHandler: (@Sendable () -> Void)?
    /// Wakes the server's reader when bytes come or the stream ends.
    private let condition = NSCondition()
    /// The client the bytes go to, looked at on every write and wait.
    private let client: HTTPClient
    private let pendingBytesMax: Int

    /// How long the server's reader sleeps between looks at the client
    /// while no bytes come: short enough that a generation is cancelled
    /// within about one dispatch of the client leaving.
    public static let clientCheckInterval = Duration.milliseconds(20)

    /// `clientCheckInterval` as `NSCondition` takes it.
    private static let checkIntervalSeconds: TimeInterval = {
        let (seconds, attoseconds) = clientCheckInterval.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }()

    /// A stream to `client`, dropping it if more than `pendingBytesMax`
    /// bytes wait to be sent.
    public init(client: HTTPClient, pendingBytesMax: Int = Limits.HTTP.streamPendingBytesMax) {
        precondition(pendingBytesMax > 0, "a stream needs room for at least one byte")
        self.client = client
        self.pendingBytesMax = pendingBytesMax
    }

    /// Sets what runs (once, on whichever thread notices) when the client
    /// goes away before the stream finishes; runs at once if it already has.
    public func onClientGone(_ handler: @escaping @Sendable () -> Void) {
        let runNow = condition.withLock { () -> Bool in
            guard case .broken = state else {
                goneHandler = handler
                return false
            }
            return true
        }
        if runNow {
            handler()
        }
    }

    /// Queues `bytes` for the client. False when the stream is broken (the
    /// client left or fell behind by more than `pendingBytesMax`) or already
    /// finished: the producer should stop.
    @discardableResult
    public func write(_ bytes: Data) -> Bool {
        if client.isGone {
            breakStream()
            return false
        }
        let outcome = condition.withLock { () -> Write in
            guard case .open = state else { return .closed }
            guard pending.count + bytes.count <= pendingBytesMax else { return .overflow }
            pending.append(contentsOf: bytes)
            condition.broadcast()
            return .queued
        }
        if outcome == .overflow {
            breakStream()
        }
        return outcome == .queued
    }

    /// What became of one `write`.
    private enum Write {
        /// The bytes wait for the server.
        case queued
        /// The client is too far behind: the stream breaks.
        case overflow
        /// The stream had already finished or broken; nothing changes.
        case closed
    }

    /// Ends the stream after what is pending.
    public func finish() {
        condition.withLock {
            if case .open = state {
                state = .finished
            }
            condition.broadcast()
        }
    }

    /// True while bytes written now would still reach the client.
    public var isOpen: Bool {
        let open = condition.withLock { () -> Bool in
            if case .open = state { return true }
            return false
        }
        return open && !client.isGone
    }

    /// Stops the stream: nothing more is sent, and the gone handler runs.
    func breakStream() {
        let handler = condition.withLock { () -> (@Sendable () -> Void)? in
            // Only a stream still being produced has work to stop.
            let wasOpen: Bool
            if case .open = state { wasOpen = true } else { wasOpen = false }
            state = .broken
            condition.broadcast()
            let handler = wasOpen ? goneHandler : nil
            goneHandler = nil
            return handler
        }
        handler?()
    }

    /// What the server's reader gets from `read`.
    enum Chunk: Equatable {
        /// This many bytes were copied.
        case bytes(Int)
        /// The stream finished and everything was taken.
        case end
        /// The stream broke; the connection should be closed.
        case broken
    }

    /// Copies up to `capacity` pending bytes into `buffer`, waiting for some
    /// while the stream is open, checking the client every
    /// `clientCheckInterval`; `stopping` cuts the wait short.
    func read(
        into buffer: UnsafeMutableRawPointer, capacity: Int, stopping: () -> Bool
    ) -> Chunk {
        while true {
            if let chunk = take(into: buffer, capacity: capacity) {
                return chunk
            }
            if client.isGone || stopping() {
                breakStream()
                return .broken
            }
        }
    }

    /// One wait: the chunk if there is one by the end of it, else nil.
    private func take(into buffer: UnsafeMutableRawPointer, capacity: Int) -> Chunk? {
        condition.withLock { () -> Chunk? in
            if pending.isEmpty, case .open = state {
                _ = condition.wait(until: Date.now.addingTimeInterval(Self.checkIntervalSeconds))
            }
            if !pending.isEmpty {
                let count = min(capacity, pending.count)
                pending.withUnsafeBytes { source in
                    buffer.copyMemory(from: source.baseAddress!, byteCount: count)
                }
                pending.removeFirst(count)
                return .bytes(count)
            }
            switch state {
            case .open: return nil
            case .finished: return .end
            case .broken: return .broken
            }
        }
    }
}
