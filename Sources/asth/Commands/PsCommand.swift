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
        if let memory = status.modelMemory, status.isDaemon {
            text += memoryLine(memory)
        }
        for model in status.models {
            text += "\n" + modelLine(model)
            guard model.state != "loading" else { continue }
            text += row([
                "PERSONA", "WEIGHT", "QUEUE", "ACTIVE", "TOK/S", "SHARE", "SHARE 1m",
                "MOTES/MIN", "TOKENS", "BUSY", "DRAFTING",
            ])
            for p in model.personas {
                text += row([
                    p.name, "\(p.weight)", "\(p.queueDepth)", "\(p.activeSequences)",
                    String(format: "%.1f", p.tokensPerSecond), percent(p.deviceShare),
                    percent(p.recentDeviceShare), String(format: "%.2f", p.motesPerMinute),
                    "\(p.tokens)", "\(p.refused)", drafting(p),
                ])
            }
        }
        return text
    }

    /// The models' cost against the bound, and what the registry did.
    static func memoryLine(_ memory: ModelMemoryStatus) -> String {
        let bound = memory.boundBytes.map(ByteSize.text) ?? "no bound"
        let idle =
            memory.idleTimeoutSeconds > 0
            ? "unloaded after \(duration(Double(memory.idleTimeoutSeconds))) idle" : "kept loaded"
        return "models: \(ByteSize.text(memory.usedBytes)) reserved of \(bound) · models \(idle)"
            + " · \(memory.loads) loads, \(memory.evictions) evicted, \(memory.idleUnloads)"
            + " unloaded idle, \(memory.refusals) refused\n"
    }

    /// One model: its state, size and use, then its engine's figures.
    static func modelLine(_ model: ModelStatus) -> String {
        var size = model.costBytes.map { " · \(ByteSize.text($0)) reserved" } ?? ""
        if let file = model.fileBytes, let cost = model.costBytes {
            size = " · \(ByteSize.text(file)) file + up to \(ByteSize.text(cost - file)) KV"
        }
        switch model.state {
        case "loading":
            let percent = Int(((model.loadFraction ?? 0) * 100).rounded(.down))
            return "model \(model.name): loading \(percent)% (\(model.loadStage ?? "?"))\(size)\n"
        case let state:
            let label =
                state == "idle"
                ? "idle \(duration(model.idleSeconds ?? 0))"
                : (state ?? "loaded").replacingOccurrences(of: "_", with: " ")
            let names = model.personas.map(\.name).joined(separator: ", ")
            let largest = model.batchSizes.map(\.sequences).max() ?? 0
            var text = "model \(model.name) on \(model.device)"
            text += " [\(label)]"
            text += "\(size) · personas: \(names.isEmpty ? "none yet" : names)\n"
            text += "  \(model.activeSequences) active, \(model.queued) queued,"
            text += " \(model.dispatches) dispatches, largest batch \(largest) sequences /"
            text += " \(model.rowsLargest) rows\n"
            return text
        }
    }

    /// Columns padded to fixed widths.
    static func row(_ cells: [String]) -> String {
        let widths = [16, 7, 6, 7, 8, 7, 9, 10, 8, 6, 8]
        return zip(cells, widths).map { cell, width in
            cell.count >= width
                ? cell + " " : cell.padding(toLength: width, withPad: " ", startingAt: 0)
        }.joined().trimmingCharacters(in: .whitespaces) + "\n"
    }

    /// Whether a persona drafts: "-" when it has not speculated, "on", or
    /// "paused N" with the dispatches its governor still sits out.
    static func drafting(_ p: PersonaStatus) -> String {
        guard let remaining = p.speculationPauseRemaining else { return "-" }
        return remaining > 0 ? "paused \(remaining)" : "on"
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
