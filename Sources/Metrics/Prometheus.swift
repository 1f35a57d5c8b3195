import Foundation
import Support

/// The metrics in Prometheus's text exposition format (version 0.0.4), for
/// `asth metrics --prometheus` and the host's `GET /metrics`.
///
/// Everything comes from the counters, which never shrink, so a counter
/// never goes backwards when old rows are pruned. Labels are `persona`,
/// `model` and `device` (device-wide series have no persona), plus
/// `outcome` on outcome counters and `le` on histogram buckets; there are
/// no request or session ids, and past `Limits.Metrics.labelSetsMax` label
/// sets the smallest personas are summed under `persona="other"`.
public enum Prometheus {
    /// The content type a scrape should be answered with.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// A (persona, model, device) label set.
    public struct Labels: Hashable, Comparable, Sendable {
        public var persona: String
        public var model: String
        public var device: String

        public init(persona: String, model: String, device: String) {
            self.persona = persona
            self.model = model
            self.device = device
        }

        public static func < (a: Labels, b: Labels) -> Bool {
            (a.persona, a.model, a.device) < (b.persona, b.model, b.device)
        }
    }

    /// The exposition of `counters`.
    ///
    /// - Parameter queueDepth: requests waiting per label set, known only to
    ///   a running host; nil leaves the gauge out (a report read from the
    ///   database cannot know it).
    public static func render(_ counters: Counters, queueDepth: [Labels: Int]? = nil) -> String {
        let folded = fold(counters)
        var out = Exposition()

        // Per persona, from the replies.
        out.counter(
            "asth_requests_total", "Replies finished, by outcome (the stop reason).",
            folded, .outcomes, detailLabel: "outcome")
        let replyCounters: [(String, String, Counters.Family, Double)] = [
            ("asth_prompt_tokens_total", "Prompt tokens submitted.", .promptTokens, 1),
            (
                "asth_cached_prompt_tokens_total", "Prompt tokens served from a cache.",
                .cachedPromptTokens, 1
            ),
            ("asth_completion_tokens_total", "Output tokens generated.", .completionTokens, 1),
            ("asth_dispatches_total", "Device dispatches the replies took.", .replyDispatches, 1),
            (
                "asth_drafted_tokens_total", "Draft tokens proposed by speculation.",
                .draftedTokens, 1
            ),
            (
                "asth_accepted_tokens_total", "Draft tokens accepted by the model.",
                .acceptedTokens, 1
            ),
            (
                "asth_drafting_dispatches_total",
                "Dispatches that verified drafts (accepted over these: mean accepted length).",
                .draftingDispatches, 1
            ),
            ("asth_motes_total", "Motes charged to the persona.", .microMotes, 1e-6),
        ]
        for (name, help, family, scale) in replyCounters {
            out.counter(name, help, folded, family, scale: scale)
        }
        out.histogram(
            "asth_request_duration_seconds", "Wall time of each reply.", folded,
            bucketFamily: .latencyBucket, sumFamily: .elapsedMs,
            bounds: Counters.latencyBoundsSeconds)
        out.histogram(
            "asth_time_to_first_token_seconds", "Time from request to the first output token.",
            folded, bucketFamily: .firstTokenBucket, sumFamily: .firstTokenMs,
            bounds: Counters.firstTokenBoundsSeconds)

        // Per device and model, from the dispatches.
        out.dispatchOutcomes(folded)
        out.counter(
            "asth_device_positions_total", "Positions (rows) carried by dispatches.", folded,
            .positions)
        out.counter(
            "asth_device_busy_seconds_total", "Time the device spent in dispatches.", folded,
            .dispatchMs, scale: 1e-3)
        if let queueDepth {
            out.gauge("asth_queue_depth", "Requests waiting for the device.", queueDepth)
        }
        return out.text
    }

    /// The counters with label sets past the bound summed into "other".
    static func fold(_ counters: Counters) -> Counters {
        var replies: [Labels: Double] = [:]
        for (key, value) in counters.values where key.family == .replies {
            replies[Labels(persona: key.persona, model: key.model, device: key.device)] = value
        }
        guard replies.count > Limits.Metrics.labelSetsMax else { return counters }

        // Keep the busiest label sets; the rest become persona "other".
        let kept = Set(
            replies.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
                .prefix(Limits.Metrics.labelSetsMax - 1).map(\.key))
        var out = Counters()
        for (key, value) in counters.values {
            var key = key
            let labels = Labels(persona: key.persona, model: key.model, device: key.device)
            if !key.persona.isEmpty && !kept.contains(labels) {
                key.persona = "other"
            }
            out.values[key, default: 0] += value
        }
        return out
    }
}

/// Accumulates exposition text, one metric family at a time.
struct Exposition {
    var text = ""

    mutating func header(_ name: String, _ help: String, _ type: String) {
        text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
    }

    mutating func sample(_ name: String, _ labels: [(String, String)], _ value: Double) {
        let rendered = labels.map { "\($0.0)=\"\(Self.escape($0.1))\"" }.joined(separator: ",")
        text += "\(name){\(rendered)} \(Self.number(value))\n"
    }

    /// One counter family from `family`, `detailLabel` naming the detail.
    mutating func counter(
        _ name: String, _ help: String, _ counters: Counters, _ family: Counters.Family,
        scale: Double = 1, detailLabel: String? = nil
    ) {
        header(name, help, "counter")
        for (key, value) in Self.sorted(counters, family) {
            var labels = Self.labels(key)
            if let detailLabel {
                labels.append((detailLabel, key.detail))
            }
            sample(name, labels, value * scale)
        }
    }

    /// Dispatches by outcome: started less completed have failed.
    mutating func dispatchOutcomes(_ counters: Counters) {
        let name = "asth_device_dispatches_total"
        header(name, "Device dispatches by outcome.", "counter")
        for (key, started) in Self.sorted(counters, .dispatchesStarted) {
            var completedKey = key
            completedKey.family = .dispatchesCompleted
            let completed = counters.values[completedKey] ?? 0
            sample(name, Self.labels(key) + [("outcome", "completed")], completed)
            sample(name, Self.labels(key) + [("outcome", "failed")], max(0, started - completed))
        }
    }

    /// One histogram family: cumulative buckets, then `_sum` and `_count`.
    mutating func histogram(
        _ name: String, _ help: String, _ counters: Counters, bucketFamily: Counters.Family,
        sumFamily: Counters.Family, bounds: [Double]
    ) {
        header(name, help, "histogram")
        for (key, count) in Self.sorted(counters, .replies) {
            let labels = Self.labels(key)
            var cumulative = 0.0
            for bound in bounds + [.infinity] {
                var bucketKey = key
                bucketKey.family = bucketFamily
                bucketKey.detail = Counters.boundLabel(bound)
                cumulative += counters.values[bucketKey] ?? 0
                sample(name + "_bucket", labels + [("le", bucketKey.detail)], cumulative)
            }
            var sumKey = key
            sumKey.family = sumFamily
            sample(name + "_sum", labels, (counters.values[sumKey] ?? 0) / 1000)
            sample(name + "_count", labels, count)
        }
    }

    mutating func gauge(_ name: String, _ help: String, _ values: [Prometheus.Labels: Int]) {
        header(name, help, "gauge")
        for (labels, value) in values.sorted(by: { $0.key < $1.key }) {
            sample(
                name,
                [("persona", labels.persona), ("model", labels.model), ("device", labels.device)],
                Double(value))
        }
    }

    /// The counters of `family` in a stable order.
    static func sorted(_ counters: Counters, _ family: Counters.Family)
        -> [(Counters.Key, Double)]
    {
        counters.values.filter { $0.key.family == family }
            .sorted {
                ($0.key.persona, $0.key.model, $0.key.device, $0.key.detail)
                    < ($1.key.persona, $1.key.model, $1.key.device, $1.key.detail)
            }
            .map { ($0.key, $0.value) }
    }

    /// persona (when the series has one), model, device.
    static func labels(_ key: Counters.Key) -> [(String, String)] {
        let common = [("model", key.model), ("device", key.device)]
        return key.persona.isEmpty ? common : [("persona", key.persona)] + common
    }

    /// A label value with backslash, double quote and line feed escaped.
    static func escape(_ value: String) -> String {
        var out = ""
        for character in value {
            switch character {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(character)
            }
        }
        return out
    }

    /// Whole numbers without a fraction, others in Swift's shortest form,
    /// which Go's `ParseFloat` reads back exactly.
    static func number(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded() && abs(value) < 1e15 {
            return String(Int64(value))
        }
        return "\(value)"
    }
}
