import Foundation
import Host
import Personas

/// `asth ps`: what the host is doing now: loaded models, each persona's
/// queue, sequences, tok/s, share of device time and Motes per minute, and
/// the host's uptime and dispatch count.
enum PsCommand {
    static func run(_ arguments: inout Arguments) throws {
        let context = try Context(&arguments)
        let json = arguments.flag("--json")
        try arguments.finish()

        // The daemon's figures; with none running, this process's empty host.
        let status: HostStatus
        if let daemon = RemoteHost.running(in: context.home) {
            status = try daemon.status()
        } else {
            let catalog = PersonaCatalog(personasDirectory: nil)
            status = LocalHost(host: context.host(), catalog: catalog).status()
        }
        if json {
            let encoder = JSONEncoder()
            encoder.keyEncodingStrategy = .convertToSnakeCase
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(status), as: UTF8.self))
            return
        }
        print(table(status), terminator: "")
    }

    /// The report as aligned text.
    static func table(_ status: HostStatus) -> String {
        var text =
            status.isDaemon
            ? "host pid \(status.pid) · up \(duration(status.uptimeSeconds))"
                + " · \(status.dispatches) dispatches\n"
            : "no host is running (start one with `asth serve`); nothing loaded\n"
        for model in status.models {
            let largest = model.batchSizes.map(\.sequences).max() ?? 0
            text += "\nmodel \(model.name) on \(model.device): \(model.activeSequences) active,"
            text += " \(model.queued) queued, \(model.dispatches) dispatches,"
            text += " largest batch \(largest) sequences / \(model.rowsLargest) rows\n"
            text += row([
                "PERSONA", "WEIGHT", "QUEUE", "ACTIVE", "TOK/S", "SHARE", "SHARE 1m",
                "MOTES/MIN", "TOKENS", "BUSY",
            ])
            for p in model.personas {
                text += row([
                    p.name, "\(p.weight)", "\(p.queueDepth)", "\(p.activeSequences)",
                    String(format: "%.1f", p.tokensPerSecond), percent(p.deviceShare),
                    percent(p.recentDeviceShare), String(format: "%.2f", p.motesPerMinute),
                    "\(p.tokens)", "\(p.refused)",
                ])
            }
        }
        return text
    }

    /// Columns padded to fixed widths.
    static func row(_ cells: [String]) -> String {
        let widths = [16, 7, 6, 7, 8, 7, 9, 10, 8, 5]
        return zip(cells, widths).map { cell, width in
            cell.count >= width
                ? cell + " " : cell.padding(toLength: width, withPad: " ", startingAt: 0)
        }.joined().trimmingCharacters(in: .whitespaces) + "\n"
    }

    static func percent(_ share: Double) -> String {
        String(format: "%.1f%%", share * 100)
    }

    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds)
        return s >= 3600
            ? "\(s / 3600)h\(s % 3600 / 60)m" : s >= 60 ? "\(s / 60)m\(s % 60)s" : "\(s)s"
    }
}
