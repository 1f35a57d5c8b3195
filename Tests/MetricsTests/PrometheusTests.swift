import Foundation
import Host
import Metrics
import Support
import Testing

/// `asth metrics --prometheus`: the output is parsed by the text exposition
/// format's rules (Prometheus "Exposition formats", text format 0.0.4) and
/// its figures checked against the records.
@Suite("Metrics: Prometheus exposition")
struct PrometheusTests {
    /// Renders the exposition of `history` written through a recorder.
    func exposition(_ history: SyntheticHistory) throws -> String {
        let scratch = try ScratchStore()
        defer { scratch.cleanUp() }
        let recorder = MetricsRecorder(store: scratch.store)
        history.send(to: recorder)
        recorder.close()
        return Prometheus.render(try scratch.reopen().counters(), queueDepth: [:])
    }

    @Test("the output parses, and its counters and histograms match the records")
    func parses() throws {
        var history = SyntheticHistory(
            personas: ["assistant", "poet"], replies: 20, start: Date(timeIntervalSince1970: 1e9))
        // Hostile label values must come out escaped, not break the format.
        history.replies.append(
            reply(persona: "q\"uote\\back\nline", time: Date(), tokens: 3, elapsedMs: 90_000))
        let text = try exposition(history)
        let families = try ExpositionParser.parse(text)

        // Every family the issue names is there, with its type.
        let expected: [String: String] = [
            "asth_completion_tokens_total": "counter", "asth_dispatches_total": "counter",
            "asth_drafted_tokens_total": "counter", "asth_accepted_tokens_total": "counter",
            "asth_drafting_dispatches_total": "counter",
            "asth_motes_total": "counter", "asth_requests_total": "counter",
            "asth_queue_depth": "gauge", "asth_request_duration_seconds": "histogram",
            "asth_time_to_first_token_seconds": "histogram",
            "asth_device_dispatches_total": "counter",
        ]
        for (name, type) in expected {
            #expect(families[name]?.type == type, "\(name)")
        }

        // Drafting dispatches add up as the replies count them.
        let drafting = try #require(families["asth_drafting_dispatches_total"])
        let draftingSent = history.replies.reduce(0) { $0 + $1.usage.draftingDispatches }
        #expect(draftingSent > 0)
        #expect(drafting.samples.reduce(0) { $0 + $1.value } == Double(draftingSent))

        // Figures: tokens per persona, replies per histogram, the hostile name.
        let tokens = try #require(families["asth_completion_tokens_total"])
        for persona in ["assistant", "poet"] {
            let sent = history.replies.filter { $0.persona == persona }
                .reduce(0) { $0 + $1.usage.completionTokens }
            let sample = tokens.samples.first { $0.labels["persona"] == persona }
            #expect(sample?.value == Double(sent))
            #expect(sample?.labels["model"] == "smollm2-135m-instruct")
            #expect(sample?.labels["device"] == "cpu")
        }
        let latency = try #require(families["asth_request_duration_seconds"])
        let count = latency.samples.filter { $0.name.hasSuffix("_count") }.reduce(0) {
            $0 + $1.value
        }
        #expect(count == Double(history.replies.count))
        #expect(tokens.samples.contains { $0.labels["persona"] == "q\"uote\\back\nline" })

        // No label names a request or a session.
        for family in families.values {
            for sample in family.samples {
                #expect(
                    Set(sample.labels.keys).isSubset(of: [
                        "persona", "model", "device", "outcome", "le",
                    ]))
            }
        }
    }

    @Test("label sets stay bounded however many personas there are")
    func bounded() throws {
        var history = SyntheticHistory(personas: ["x"], replies: 0, start: Date())
        let many = Limits.Metrics.labelSetsMax + 44
        for index in 0..<many {
            history.replies.append(
                reply(persona: "p\(index)", time: Date(), tokens: index + 1, elapsedMs: 100))
        }
        let families = try ExpositionParser.parse(try exposition(history))
        let tokens = try #require(families["asth_completion_tokens_total"])
        #expect(tokens.samples.count == Limits.Metrics.labelSetsMax)
        #expect(tokens.samples.contains { $0.labels["persona"] == "other" })
        // Nothing is lost in the folding.
        let total = tokens.samples.reduce(0) { $0 + $1.value }
        #expect(total == Double(many * (many + 1) / 2))
    }

    @Test(
        "the parser itself refuses malformed expositions",
        arguments: [
            "metric{a=\"1\"} x\n",  // value not a number
            "# TYPE m counter\nm 1\n# TYPE m counter\n",  // TYPE twice
            "m 1\n# TYPE m counter\n",  // TYPE after a sample
            "m{a=\"1\"} 1\nm{a=\"1\"} 2\n",  // duplicate series
            "m{a=\"\\q\"} 1\n",  // bad escape
            "# TYPE h histogram\nh_bucket{le=\"1\"} 3\nh_bucket{le=\"+Inf\"} 2\n"
                + "h_sum 1\nh_count 2\n",
            "a 1\nb 1\na{x=\"1\"} 1\n",  // family split
            "1m 1\n",  // bad name
        ])
    func parserRefuses(text: String) {
        #expect(throws: ExpositionParser.Failure.self) { try ExpositionParser.parse(text) }
    }
}

/// A strict reader of the Prometheus text format: names, label syntax and
/// escapes, float values, TYPE before samples and once per family, families
/// contiguous, no duplicate series, counters non-negative, histogram buckets
/// cumulative with a `+Inf` bucket equal to `_count`.
enum ExpositionParser {
    struct Failure: Error, CustomStringConvertible {
        let line: Int
        let reason: String
        var description: String { "line \(line): \(reason)" }
    }

    struct Sample {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    struct Family {
        var type = "untyped"
        var help: String?
        var samples: [Sample] = []
    }

    static func parse(_ text: String) throws -> [String: Family] {
        var families: [String: Family] = [:]
        var finished = Set<String>()
        var current: String?
        var seen = Set<String>()
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false)
            .enumerated()
        {
            let number = index + 1
            func fail(_ reason: String) -> Failure { Failure(line: number, reason: reason) }
            if line.isEmpty { continue }
            if line.hasPrefix("#") {
                let parts = line.split(
                    separator: " ", maxSplits: 3, omittingEmptySubsequences: true)
                guard parts.count >= 3, parts[1] == "HELP" || parts[1] == "TYPE" else { continue }
                let name = String(parts[2])
                guard isMetricName(name) else { throw fail("bad name \(name)") }
                if parts[1] == "TYPE" {
                    let type = parts.count > 3 ? String(parts[3]) : ""
                    guard ["counter", "gauge", "histogram", "summary", "untyped"].contains(type)
                    else {
                        throw fail("bad type \(type)")
                    }
                    guard families[name] == nil || families[name]!.samples.isEmpty,
                        families[name]?.type == nil || families[name]?.type == "untyped"
                    else { throw fail("TYPE for \(name) repeated or after its samples") }
                    families[name, default: Family()].type = type
                } else {
                    families[name, default: Family()].help = parts.count > 3 ? String(parts[3]) : ""
                }
                continue
            }
            let sample = try parseSample(String(line), line: number)
            let family = familyName(of: sample.name, in: families)
            if let current, current != family {
                finished.insert(current)
            }
            guard !finished.contains(family) else { throw fail("family \(family) is split") }
            current = family
            let identity = sample.name + sample.labels.sorted { $0.key < $1.key }.description
            guard seen.insert(identity).inserted else { throw fail("duplicate series \(identity)") }
            if families[family] == nil && family != sample.name {
                throw fail("\(sample.name) without its family")
            }
            families[family, default: Family()].samples.append(sample)
        }
        for (name, family) in families {
            try check(name, family)
        }
        return families
    }

    /// The family a sample belongs to: histogram suffixes map to the base.
    static func familyName(of name: String, in families: [String: Family]) -> String {
        for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) {
            let base = String(name.dropLast(suffix.count))
            if families[base]?.type == "histogram" { return base }
        }
        return name
    }

    static func check(_ name: String, _ family: Family) throws {
        func fail(_ reason: String) -> Failure { Failure(line: 0, reason: "\(name): \(reason)") }
        if family.type == "counter" {
            guard family.samples.allSatisfy({ $0.value >= 0 && $0.name == name }) else {
                throw fail("counter with a negative value or a stray sample")
            }
        }
        guard family.type == "histogram" else { return }

        // Group buckets by their labels less `le`.
        var groups: [[String: String]: [(Double, Double)]] = [:]
        var counts: [[String: String]: Double] = [:]
        for sample in family.samples {
            var labels = sample.labels
            if sample.name == name + "_bucket" {
                guard let le = labels.removeValue(forKey: "le"),
                    let bound = Double(le.replacingOccurrences(of: "+Inf", with: "inf"))
                else {
                    throw fail("bucket without a numeric le")
                }
                groups[labels, default: []].append((bound, sample.value))
            } else if sample.name == name + "_count" {
                counts[labels] = sample.value
            } else if sample.name != name + "_sum" {
                throw fail("stray sample \(sample.name)")
            }
        }
        for (labels, buckets) in groups {
            let sorted = buckets.sorted { $0.0 < $1.0 }
            guard sorted.last?.0 == .infinity else { throw fail("no +Inf bucket") }
            guard zip(sorted, sorted.dropFirst()).allSatisfy({ $0.1 <= $1.1 }) else {
                throw fail("buckets not cumulative")
            }
            guard counts[labels] == sorted.last?.1 else { throw fail("+Inf bucket != _count") }
        }
    }

    static func parseSample(_ line: String, line number: Int) throws -> Sample {
        func fail(_ reason: String) -> Failure { Failure(line: number, reason: reason) }
        var rest = Substring(line)
        let name = String(rest.prefix { $0.isLetter || $0.isNumber || $0 == "_" || $0 == ":" })
        guard isMetricName(name) else { throw fail("bad metric name in \(line)") }
        rest = rest.dropFirst(name.count)
        var labels: [String: String] = [:]
        if rest.first == "{" {
            rest = rest.dropFirst()
            while rest.first != "}" {
                let label = String(rest.prefix { $0 != "=" })
                guard isLabelName(label), !label.hasPrefix("__") else {
                    throw fail("bad label \(label)")
                }
                rest = rest.dropFirst(label.count)
                guard rest.hasPrefix("=\"") else {
                    throw fail("label \(label) without a quoted value")
                }
                rest = rest.dropFirst(2)
                var value = ""
                while true {
                    guard let c = rest.first else { throw fail("unterminated label value") }
                    rest = rest.dropFirst()
                    if c == "\"" { break }
                    if c == "\\" {
                        switch rest.first {
                        case "\\": value.append("\\")
                        case "\"": value.append("\"")
                        case "n": value.append("\n")
                        default: throw fail("bad escape in label \(label)")
                        }
                        rest = rest.dropFirst()
                    } else {
                        value.append(c)
                    }
                }
                guard labels.updateValue(value, forKey: label) == nil else {
                    throw fail("label \(label) twice")
                }
                if rest.first == "," { rest = rest.dropFirst() }
            }
            rest = rest.dropFirst()
        }
        let fields = rest.split(separator: " ", omittingEmptySubsequences: true)
        guard rest.first == " ", (1...2).contains(fields.count) else {
            throw fail("expected value [timestamp]")
        }
        guard let value = goFloat(String(fields[0])) else { throw fail("bad value \(fields[0])") }
        if fields.count == 2 && Int64(fields[1]) == nil { throw fail("bad timestamp") }
        return Sample(name: name, labels: labels, value: value)
    }

    /// A value as Go's ParseFloat reads it, with Prometheus's spellings of
    /// infinity and NaN.
    static func goFloat(_ text: String) -> Double? {
        switch text {
        case "+Inf", "Inf": return .infinity
        case "-Inf": return -.infinity
        case "NaN": return .nan
        default:
            guard text.allSatisfy({ "0123456789+-.eE".contains($0) }) else { return nil }
            return Double(text)
        }
    }

    static func isMetricName(_ name: String) -> Bool {
        guard let first = name.first, first.isASCII, first.isLetter || first == "_" || first == ":"
        else {
            return false
        }
        return name.allSatisfy {
            $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == ":")
        }
    }

    static func isLabelName(_ name: String) -> Bool {
        guard let first = name.first, first.isASCII, first.isLetter || first == "_" else {
            return false
        }
        return name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }
    }
}
