import Foundation
import HTTPServer
import Host
import Metrics
import OpenAIAPI
import Support

/// The HTTP half of `asth serve`: `--http ADDR` starts the OpenAI-compatible
/// API on the daemon's own host, `--print-token` shows its bearer token.
enum ServeHTTP {
    /// Prints the API token, making it on first use, and nothing else.
    static func printToken(home: Home) throws {
        print(try APIToken.loadOrCreate(in: home).value)
    }

    /// Reads `--http`'s `IP:PORT`, as a usage error when it is not one.
    static func address(_ text: String) throws -> HTTPAddress {
        do {
            return try HTTPAddress(parsing: text)
        } catch {
            throw UsageError("asth serve: --http \(text): expected IP:PORT, e.g. 127.0.0.1:8080")
        }
    }

    /// Starts the API on `address` over `service`; warns when the address
    /// reaches beyond this machine.
    static func start(_ address: HTTPAddress, service: LocalHost, home: Home) throws
        -> OpenAIServer
    {
        if !address.isLoopback {
            StatusLine.note(
                "asth serve: warning: --http \(address) is not a loopback address; anyone who"
                    + " can reach it can try the token")
        }
        let token = try APIToken.loadOrCreate(in: home)
        let server = try OpenAIServer(
            service: service, address: address, token: token,
            metrics: {
                // A connection per scrape: scrapes are seconds apart, and the
                // store's connection is not shared across threads.
                let counters = try? MetricsStore(home: home).counters()
                return (counters.map { Prometheus.render($0) } ?? "") + exposition(service.status())
            })
        StatusLine.note(
            "asth serve: OpenAI API on \(server.baseURL) (token: `asth serve --print-token`)")
        return server
    }

    /// The host's own gauges, after the metrics store's counters and
    /// histograms (per persona, model and device).
    static func exposition(_ status: HostStatus) -> String {
        var lines = [
            "# HELP asth_up Whether the host daemon is serving.",
            "# TYPE asth_up gauge",
            "asth_up 1",
            "# HELP asth_uptime_seconds Seconds since the host started.",
            "# TYPE asth_uptime_seconds gauge",
            "asth_uptime_seconds \(status.uptimeSeconds)",
            "# HELP asth_dispatches_total Round trips to the device.",
            "# TYPE asth_dispatches_total counter",
            "asth_dispatches_total \(status.dispatches)",
            "# HELP asth_active_sequences Sequences generating now, per model.",
            "# TYPE asth_active_sequences gauge",
        ]
        for model in status.models {
            lines.append(
                "asth_active_sequences{model=\"\(escape(model.name))\"} \(model.activeSequences)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// A label value as the exposition format quotes it.
    private static func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\")
            .replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }
}
