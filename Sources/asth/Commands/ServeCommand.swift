import Dispatch
import Foundation
import Host
import Support

/// `asth serve`: the host daemon. It owns the device and the ledger writer
/// and serves the socket protocol on `ASTH_HOME/host.sock` until SIGTERM
/// (or Ctrl-C), which drains: admitted generations finish or are cut at a
/// bound, their holds are settled, and the socket is removed.
enum ServeCommand {
    static func run(_ arguments: inout Arguments) throws {
        let context = try Context(&arguments)
        let catalog = try Context.catalog(&arguments)
        let http = try arguments.option("--http")
        let drainSeconds =
            try arguments.number("--drain-seconds", in: 0...Limits.Host.drainSecondsMax)
            ?? Limits.Host.drainSecondsMax
        try arguments.finish()
        if let http {
            // The slot the HTTP front end fills; nothing listens on it yet.
            try checkAddress(http)
            StatusLine.note(
                "asth serve: --http \(http): the HTTP front end is not available yet;"
                    + " serving the Unix socket only")
        }

        let service = LocalHost(host: context.host(), catalog: catalog, isDaemon: true)
        let server = try HostServer(service: service, home: context.home)
        let stopped = DispatchSemaphore(value: 0)
        let signals = drainOnSignals(server, within: .seconds(drainSeconds), then: stopped)
        StatusLine.note(
            "asth serve: listening on \(server.socketPath) (pid \(getpid())); SIGTERM drains")
        server.run()
        stopped.wait()
        withExtendedLifetime(signals) {}
    }

    /// Turns SIGTERM and SIGINT into a drain, once; `stopped` is signalled
    /// when it is over.
    static func drainOnSignals(
        _ server: HostServer, within bound: Duration, then stopped: DispatchSemaphore
    ) -> [DispatchSourceSignal] {
        signal(SIGPIPE, SIG_IGN)
        return [SIGTERM, SIGINT].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                server.stop(drainingWithin: bound)
                stopped.signal()
            }
            source.resume()
            return source
        }
    }

    /// `--http` takes `HOST:PORT`, as the HTTP front end will.
    static func checkAddress(_ address: String) throws {
        guard let colon = address.lastIndex(of: ":"),
            let port = Int(address[address.index(after: colon)...]),
            (1...65_535).contains(port), colon != address.startIndex
        else {
            throw UsageError(
                "asth serve: --http \(address): expected HOST:PORT, e.g. 127.0.0.1:8080")
        }
    }
}
