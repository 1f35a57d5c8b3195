import Foundation
import Host
import Inference
import Support

/// What `asth metrics` shows, global or for one persona: devices, models,
/// the pipeline, session and all-time averages, and the recent replies.
///
/// The text and the JSON forms are both rendered from this one value, so
/// they cannot disagree.
public struct MetricsReport: Codable, Sendable {
    /// Which replies the report covers.
    public struct Scope: Codable, Sendable, Equatable {
        public var persona: String?
        public var since: Date?

        public init(persona: String? = nil, since: Date? = nil) {
            self.persona = persona
            self.since = since
        }
    }

    /// What the report knows of a device before reading any record: the
    /// caller probes the machine (the metrics module does not link kernels).
    public struct DeviceProbe: Codable, Sendable, Equatable {
        /// "cpu".
        public var name: String
        /// Kernel variant, driver, and the like.
        public var detail: String
        /// "2 of 2 cores".
        public var computeUnits: String
        /// "ready", "not present".
        public var status: String

        public init(name: String, detail: String, computeUnits: String, status: String) {
            self.name = name
            self.detail = detail
            self.computeUnits = computeUnits
            self.status = status
        }
    }

    /// The device block.
    public struct DeviceBlock: Codable, Sendable, Equatable {
        public var name: String
        public var detail: String
        public var computeUnits: String
        public var status: String
        public var dispatchesStarted: Int
        public var dispatchesCompleted: Int
        /// Completed ÷ started, as a percentage; nil before any dispatch.
        public var reliabilityPercent: Double?
        /// Time spent in dispatches, milliseconds.
        public var busyMs: Double
    }

    /// The pipeline block: the ops of one layer, the layer count, the head.
    public struct PipelineBlock: Codable, Sendable, Equatable {
        public var architecture: String
        public var layerOps: [String]
        public var layers: Int?
        public var headOps: [String]
    }

    /// The averages of the newest session in scope.
    public struct SessionBlock: Codable, Sendable, Equatable {
        public var session: String
        public var persona: String
        public var averages: Averages
    }

    /// One reply of the log, with its rates worked out.
    public struct ReplyLine: Codable, Sendable, Equatable {
        public var time: Date
        public var persona: String
        public var session: String
        public var model: String
        public var tokens: Int
        public var dispatches: Int
        public var elapsedMs: Double
        public var effTokensPerSecond: Double
        public var dispatchesPerSecond: Double
        /// Accepted ÷ drafted, percent; nil when nothing was drafted.
        public var acceptancePercent: Double?
        /// Accepted drafts per drafting dispatch; nil when none drafted.
        public var meanAcceptedLength: Double?
        public var motes: Double
        public var firstTokenMs: Double
        public var stopReason: String

        init(_ record: ReplyRecord) {
            let rates = ReplyRates(record.usage)
            time = record.time
            persona = record.persona
            session = record.session
            model = record.model
            tokens = record.usage.completionTokens
            dispatches = record.usage.dispatches
            elapsedMs = record.usage.elapsedMs
            effTokensPerSecond = rates.effTokensPerSecond
            dispatchesPerSecond = rates.dispatchesPerSecond
            acceptancePercent = rates.acceptance.map { $0 * 100 }
            meanAcceptedLength = rates.meanAcceptedLength
            motes = Double(record.usage.microMotes) / 1e6
            firstTokenMs = record.usage.timeToFirstTokenMs
            stopReason = record.usage.stopReason
        }
    }

    public var scope: Scope
    public var devices: [DeviceBlock]
    public var models: [ModelSummary]
    public var pipeline: [PipelineBlock]
    /// The newest session in scope; nil when there are no replies.
    public var session: SessionBlock?
    /// All-time averages from the counters, or, with `since`, the averages
    /// of the replies since then (the `label` says which).
    public var overall: Averages
    /// "ALL-TIME AVERAGES" or "AVERAGES SINCE <time>".
    public var overallLabel: String
    /// The newest replies in scope, oldest first.
    public var replies: [ReplyLine]
}

extension MetricsReport {
    /// Builds the report from `store`.
    ///
    /// - Parameters:
    ///   - probes: what the caller knows of the devices on this machine.
    ///   - models: where model names are looked up for the model block.
    public static func build(
        store: MetricsStore, scope: Scope, probes: [DeviceProbe], models: ModelStore,
        logRepliesMax: Int = Limits.Metrics.logRepliesMax
    ) throws -> MetricsReport {
        let counters = try store.counters()
        let recent = try store.replies(
            persona: scope.persona, since: scope.since, limit: logRepliesMax)

        // Averages: the newest session, then all time (or the window).
        var session: SessionBlock?
        if let last = recent.last {
            let rows = try store.replies(
                persona: last.persona, since: scope.since, limit: Limits.Metrics.reportRepliesMax
            ).filter { $0.session == last.session }
            session = SessionBlock(
                session: last.session, persona: last.persona, averages: Averages(rows: rows))
        }
        let overall: Averages
        let label: String
        if let since = scope.since {
            let rows = try store.replies(
                persona: scope.persona, since: since, limit: Limits.Metrics.reportRepliesMax)
            overall = Averages(rows: rows)
            label = "AVERAGES SINCE \(ReadableTime.stamp(since))"
        } else {
            overall = Averages(counters: counters) { key in
                scope.persona == nil || key.persona == scope.persona
            }
            label = "ALL-TIME AVERAGES"
        }

        // Devices and models.
        let devices = try deviceBlocks(
            counters: counters, probes: probes, store: store, since: scope.since)
        let modelNames = modelNames(counters: counters, recent: recent, persona: scope.persona)
        let summaries = modelNames.map {
            ModelSummary.read(name: $0, models: models, store: store)
        }
        // One pipeline block per distinct graph, not per model.
        var pipelines: [PipelineBlock] = []
        for block in summaries.compactMap(pipeline(of:)) where !pipelines.contains(block) {
            pipelines.append(block)
        }
        return MetricsReport(
            scope: scope, devices: devices, models: summaries, pipeline: pipelines,
            session: session, overall: overall, overallLabel: label,
            replies: recent.map(ReplyLine.init))
    }

    /// The device blocks: every probed device, then any other one the
    /// records name. Counts come from the counters, or from the dispatch rows
    /// when the report covers a window.
    static func deviceBlocks(
        counters: Counters, probes: [DeviceProbe], store: MetricsStore, since: Date?
    ) throws -> [DeviceBlock] {
        var started: [String: Double] = [:]
        var completed: [String: Double] = [:]
        var busy: [String: Double] = [:]
        if let since {
            for row in try store.dispatches(since: since, limit: Limits.Metrics.reportDispatchesMax)
            {
                started[row.device, default: 0] += 1
                completed[row.device, default: 0] += row.completed ? 1 : 0
                busy[row.device, default: 0] += row.elapsedMs
            }
        } else {
            for (key, value) in counters.values {
                switch key.family {
                case .dispatchesStarted: started[key.device, default: 0] += value
                case .dispatchesCompleted: completed[key.device, default: 0] += value
                case .dispatchMs: busy[key.device, default: 0] += value
                default: break
                }
            }
        }
        var names = probes.map(\.name)
        names += started.keys.sorted().filter { !names.contains($0) }
        return names.map { name in
            let probe =
                probes.first { $0.name == name }
                ?? DeviceProbe(
                    name: name, detail: "", computeUnits: "unknown", status: "not present")
            let s = Int(started[name] ?? 0)
            let c = Int(completed[name] ?? 0)
            return DeviceBlock(
                name: name, detail: probe.detail, computeUnits: probe.computeUnits,
                status: probe.status, dispatchesStarted: s, dispatchesCompleted: c,
                reliabilityPercent: s > 0 ? 100 * Double(c) / Double(s) : nil,
                busyMs: busy[name] ?? 0)
        }
    }

    /// Models the replies in scope used, newest reply's first.
    static func modelNames(counters: Counters, recent: [ReplyRecord], persona: String?)
        -> [String]
    {
        var names: [String] = []
        for record in recent.reversed() where !names.contains(record.model) {
            names.append(record.model)
        }
        let counted = Set(
            counters.values.keys.filter {
                $0.family == .replies && (persona == nil || $0.persona == persona)
            }.map(\.model))
        names += counted.sorted().filter { !names.contains($0) }
        return names
    }

    static func pipeline(of model: ModelSummary) -> PipelineBlock? {
        guard let architecture = model.architecture,
            Pipeline.architectures.contains(architecture)
        else { return nil }
        return PipelineBlock(
            architecture: architecture, layerOps: Pipeline.layerOps, layers: model.layers,
            headOps: Pipeline.headOps)
    }
}
