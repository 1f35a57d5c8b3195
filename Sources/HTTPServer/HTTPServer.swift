import CMicroHTTPD
import Foundation
import Support
import Synchronization

/// An HTTP/1.1 server over GNU libmicrohttpd: one thread per connection,
/// requests handed whole to an `HTTPResponder`, responses sent whole or
/// streamed.
///
/// Every bound on what a client sends is enforced here before the responder
/// sees it: head bytes (`Limits.HTTP.headerBytesMax`, 431), body bytes
/// (`Limits.HTTP.bodyBytesMax`, 413; a body must declare its length, 411),
/// connections at once (`connectionsMax`) and idle time (`idleTimeoutSeconds`).
public final class HTTPServer: Sendable {
    /// The address it listens on, with the port the kernel picked for 0.
    public let address: HTTPAddress
    /// What the C callbacks reach through their context pointer; kept alive
    /// until the daemon has stopped.
    private let core: ServerCore
    /// The running daemon; nil once stopped.
    private let daemon: Mutex<OpaquePointer?>

    /// Starts listening on `address` and serving requests with `responder`.
    ///
    /// - Throws: `HTTPServerError.startFailed` when the address cannot be
    ///   bound (taken, not this machine's).
    public init(address: HTTPAddress, responder: any HTTPResponder) throws(HTTPServerError) {
        let core = ServerCore(responder: responder, address: address)
        var flags =
            MHD_USE_INTERNAL_POLLING_THREAD.rawValue
            | MHD_USE_THREAD_PER_CONNECTION.rawValue | MHD_USE_POLL.rawValue
            | MHD_USE_ERROR_LOG.rawValue
        if case .ipv6 = address.host {
            flags |= MHD_USE_IPv6.rawValue
        }

        // Start the daemon; the core's pointer is unretained: `self` keeps it.
        let context = Unmanaged.passUnretained(core).toOpaque()
        errno = 0
        let started = address.withSocketAddress { socketAddress in
            asth_mhd_start(
                flags, socketAddress, ServerCore.accessHandler, context,
                ServerCore.completedHandler, context, ServerCore.logHandler, context,
                UInt32(Limits.HTTP.connectionsMax), Limits.HTTP.connectionMemoryBytesMax,
                UInt32(Limits.HTTP.idleTimeoutSeconds))
        }
        guard let started else {
            throw HTTPServerError.startFailed(address: address.description, errno: errno)
        }

        // Learn the port the kernel chose when asked for any.
        var bound = address
        bound.port = asth_mhd_bound_port(started)
        precondition(bound.port != 0, "a started daemon has a port")
        self.address = bound
        core.address.withLock { $0 = bound }
        self.core = core
        self.daemon = Mutex(started)
        core.log.info("listening", ["address": bound, "loopback": bound.isLoopback])
    }

    /// Requests being answered now, streams included.
    public var requestsInFlight: Int { core.exchangesInFlight.load(ordering: .relaxed) }

    /// Stops listening, cuts open streams and waits for every connection's
    /// thread to end. Responders see their clients gone. Safe to call twice.
    ///
    /// - Parameter grace: how long requests in flight may take to finish
    ///   first (a stream's last events, a reply being written); new ones
    ///   are still taken meanwhile, so refuse them at the responder.
    public func stop(grace: Duration = .zero) {
        let deadline = ContinuousClock.now + grace
        while requestsInFlight > 0 && ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.01)
        }
        core.stop.set()
        let running = daemon.withLock { daemon -> OpaquePointer? in
            defer { daemon = nil }
            return daemon
        }
        guard let running else { return }
        MHD_stop_daemon(running)
        core.log.info("stopped", ["address": address])
    }

    deinit {
        stop()
    }
}
