import CPUKernels
import Foundation
import Host
import Inference
import Metrics
import Support

/// `asth metrics [--persona P] [--since T] [--json | --prometheus]`: the
/// inference report, its JSON, or the Prometheus exposition.
enum MetricsCommand {
    static func run(_ arguments: inout Arguments) throws {
        let context = try Context(&arguments)
        let persona = try arguments.option("--persona")
        let sinceText = try arguments.option("--since")
        let json = arguments.flag("--json")
        let prometheus = arguments.flag("--prometheus")
        try arguments.finish()
        if json && prometheus {
            throw UsageError("asth metrics: choose one of --json and --prometheus")
        }
        let since = try sinceText.map { try ReadableTime.since($0) }
        let store = try MetricsStore(home: context.home)

        if prometheus {
            var counters = try store.counters()
            if let persona {
                counters.values = counters.values.filter {
                    $0.key.persona.isEmpty || $0.key.persona == persona
                }
            }
            print(Prometheus.render(counters), terminator: "")
            return
        }
        let report = try MetricsReport.build(
            store: store, scope: MetricsReport.Scope(persona: persona, since: since),
            probes: [cpuProbe(threads: context.threads)], models: ModelStore(home: context.home))
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            encoder.keyEncodingStrategy = .convertToSnakeCase
            encoder.dateEncodingStrategy = .iso8601
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(report.text(), terminator: "")
        }
    }

    /// What this machine's CPU device looks like to a host started with
    /// `--threads` (or every core).
    static func cpuProbe(threads: Int?) -> MetricsReport.DeviceProbe {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let variant = String(cString: asth_variant_name(asth_variant_current()))
        return MetricsReport.DeviceProbe(
            name: "cpu", detail: "kernels \(variant)",
            computeUnits: "\(min(threads ?? cores, cores)) of \(cores) cores",
            status: "ready")
    }

    /// The metrics writer for a command that generates, or nil (logged) when
    /// the store cannot be opened: metrics must never stop a conversation.
    static func recorder(home: Home) -> MetricsRecorder? {
        do {
            return try MetricsRecorder(home: home)
        } catch {
            Log("metrics").warn("open failed; replies go unrecorded", ["error": error])
            return nil
        }
    }
}

/// `asth report --html FILE [--persona P]`: the dashboard page.
enum ReportCommand {
    static func run(_ arguments: inout Arguments) throws {
        let context = try Context(&arguments)
        let persona = try arguments.option("--persona")
        guard let path = try arguments.option("--html") else {
            throw UsageError("asth report: missing --html FILE")
        }
        try arguments.finish()
        let store = try MetricsStore(home: context.home)
        let page = try Dashboard.html(store: store, persona: persona)
        try Data(page.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        print("wrote \(path)")
    }
}
