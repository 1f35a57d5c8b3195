import CMicroHTTPD
import Foundation
import Synchronization

/// The client at the other end of one request, as far as the server can
/// tell whether it is still there.
///
/// A client that closes its connection while its request is being worked
/// on (a stream cut short, a timeout on its side) is noticed by looking at
/// the socket: it has been shut or reset. The check costs one `poll` and
/// never reads, so a request the client pipelines meanwhile stays intact.
public final class HTTPClient: Sendable {
    /// The connection's socket, or -1 for a client made in tests. Read only
    /// while `state` says the connection is open.
    private let socket: Int32
    /// Whether the connection is still open; guards the socket against
    /// reuse by the kernel once the server has closed it.
    private let state: Mutex<State>

    /// Where the connection stands.
    private enum State {
        /// The request is being answered; the socket is ours to look at.
        case open
        /// The client went away, or the server closed the connection.
        case gone
    }

    /// Set when the server stops: every client counts as gone.
    private let stop: StopFlag?

    init(socket: Int32, stop: StopFlag?) {
        self.socket = socket
        self.stop = stop
        self.state = Mutex(socket < 0 ? .gone : .open)
    }

    /// A client with no socket that stays connected until `disconnect()`;
    /// for responders under test.
    public static func detached() -> HTTPClient {
        let client = HTTPClient(socket: -1, stop: nil)
        client.state.withLock { $0 = .open }
        return client
    }

    /// True once the client has closed or reset its connection, or the
    /// server has finished with it.
    public var isGone: Bool {
        state.withLock { state in
            guard case .open = state else { return true }
            if stop?.isSet == true {
                state = .gone
            } else if socket >= 0 && asth_socket_peer_closed(socket) != 0 {
                state = .gone
            }
            return state == .gone
        }
    }

    /// Marks the client gone; later checks do not look at the socket, which
    /// the server may be about to close.
    public func disconnect() {
        state.withLock { $0 = .gone }
    }
}
