import Dispatch
import Foundation
import Host
import OpenAIAPI
import Support

/// `asth serve`: the host daemon. It owns the device and the ledger writer
/// and serves the socket protocol on `ASTH_HOME/host.sock` (and, with
/// `--http`, the OpenAI-compatible API) until SIGTERM (or Ctrl-C), which
/// drains: admitted generations finish or are cut at a bound, their holds
/// are settled, and the socket is removed.
enum ServeCommand {
    static func run(_ arguments: inout Arguments) throws {
        let context = try Context(&arguments)
        let catalog = try Context.catalog(&arguments)
        let http = try arguments.option("--http").map(ServeHTTP.address)
        let printToken = arguments.flag("--print-token")
        let drainSeconds =
            try arguments.number("--drain-seconds", in: 0...Limits.Host.drainSecondsMax)
            ?? Limits.Host.drainSecondsMax
        let models = try modelSettings(&arguments)
        try arguments.finish()
        if printToken {
            try ServeHTTP.printToken(home: context.home)
            return
        }

        let recorder = MetricsCommand.recorder(home: context.home)
        defer { recorder?.close() }
        let service = LocalHost(
            host: context.host(metrics: recorder), catalog: catalog, isDaemon: true,
            models: models)
        service.startModelReaper()
        let server = try HostServer(service: service, home: context.home)
        let api = try http.map {
            try ServeHTTP.start($0, service: service, home: context.home)
        }
        let stopped = DispatchSemaphore(value: 0)
        let signals = drainOnSignals(
            server, api: api, within: .seconds(drainSeconds), then: stopped)
        StatusLine.note(
            "asth serve: listening on \(server.socketPath) (pid \(getpid())); SIGTERM drains")
        server.run()
        stopped.wait()
        withExtendedLifetime(signals) {}
    }

    /// `--model-idle-seconds N` (0 never unloads) and `--models-memory-max
    /// SIZE` (`512MiB`, `2GiB`; default: a share of physical memory).
    static func modelSettings(_ arguments: inout Arguments) throws -> ModelRegistrySettings {
        let idle =
            try arguments.number("--model-idle-seconds", in: 0...Limits.Host.modelIdleSecondsMax)
            ?? Limits.Host.modelIdleSecondsDefault
        let range = Limits.Host.modelsMemoryBytesMin...Limits.Host.modelsMemoryBytesMax
        var bound = ModelRegistrySettings.daemonMemoryBytesDefault
        var chosen = false
        if let text = try arguments.option("--models-memory-max") {
            guard let bytes = ByteSize.parse(text), range.contains(bytes) else {
                let (low, high) = (range.lowerBound, range.upperBound)
                throw UsageError(
                    "asth serve: --models-memory-max = \(text): expected a size from"
                        + " \(ByteSize.text(low)) to \(ByteSize.text(high)) (e.g. 512MiB, 2GiB)")
            }
            bound = bytes
            chosen = true
        }
        return ModelRegistrySettings(
            idleSeconds: idle, memoryBytesMax: bound, admitsLoneModel: !chosen)
    }

    /// Turns SIGTERM and SIGINT into a drain, once; `stopped` is signalled
    /// when it is over. HTTP streams run on through the drain; the API stops
    /// after it.
    static func drainOnSignals(
        _ server: HostServer, api: OpenAIServer? = nil, within bound: Duration,
        then stopped: DispatchSemaphore
    ) -> [DispatchSourceSignal] {
        signal(SIGPIPE, SIG_IGN)
        return [SIGTERM, SIGINT].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                api?.refuseNewRequests()
                server.stop(drainingWithin: bound)
                api?.stop(grace: OpenAIServer.lastWordsGrace)
                stopped.signal()
            }
            source.resume()
            return source
        }
    }
}
