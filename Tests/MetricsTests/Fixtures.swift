import Foundation
import Host
import Metrics
import Support

/// A metrics store in a fresh temporary folder, removed by `cleanUp`.
struct ScratchStore {
    let folder: URL
    let store: MetricsStore

    init(retention: MetricsStore.Retention = .standard) throws {
        folder = FileManager.default.temporaryDirectory
            .appendingPathComponent("asth-metrics-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        store = try MetricsStore(
            url: folder.appendingPathComponent("metrics.sqlite"), retention: retention)
    }

    /// Another connection to the same file.
    func reopen() throws -> MetricsStore {
        try MetricsStore(url: folder.appendingPathComponent("metrics.sqlite"))
    }

    func cleanUp() {
        try? FileManager.default.removeItem(at: folder)
    }
}

/// A reply record with the given figures.
func reply(
    persona: String = "assistant", session: String = "s1", time: Date,
    tokens: Int, dispatches: Int? = nil, elapsedMs: Double, firstTokenMs: Double = 40,
    drafted: Int = 0, accepted: Int = 0, microMotes: Int64 = 40_000, stop: String = "end"
) -> ReplyRecord {
    var usage = CompletionUsage()
    usage.promptTokens = 30
    usage.completionTokens = tokens
    usage.dispatches = dispatches ?? tokens
    usage.elapsedMs = elapsedMs
    usage.timeToFirstTokenMs = firstTokenMs
    usage.draftedTokens = drafted
    usage.acceptedTokens = accepted
    // Drafts verified in dispatches of up to four: a figure that differs
    // from both counts.
    usage.draftingDispatches = (drafted + 3) / 4
    usage.microMotes = microMotes
    usage.stopReason = stop
    return ReplyRecord(
        time: time, persona: persona, session: session, model: "smollm2-135m-instruct",
        device: "cpu", usage: usage)
}

/// A whole second three hours ago: recent enough that retention keeps it.
var recentStart: Date {
    Date(timeIntervalSince1970: (Date().timeIntervalSince1970 - 3 * 3_600).rounded())
}

/// A deterministic history: `personas` talking in turn for `replies`
/// replies over about two hours, with speculation, and a dispatch per
/// token. Seeded, so every run writes the same records.
struct SyntheticHistory {
    var dispatches: [DispatchRecord] = []
    var replies: [ReplyRecord] = []

    init(personas: [String], replies count: Int, start: Date, seed: UInt64 = 7) {
        var random = SplitMix(seed: seed)
        var time = start
        for index in 0..<count {
            let persona = personas[index % personas.count]
            let tokens = 8 + Int(random.next() % 120)
            let perToken = 25 + Double(random.next() % 30) + Double(index % personas.count) * 8
            let drafted = tokens / 2
            let accepted = Int(Double(drafted) * (0.4 + Double(random.next() % 50) / 100))
            let elapsed = Double(tokens - accepted / 2) * perToken
            for step in 0..<(tokens - accepted / 2) {
                dispatches.append(
                    DispatchRecord(
                        time: time.addingTimeInterval(Double(step) * perToken / 1000),
                        device: "cpu", model: "smollm2-135m-instruct", sequences: 1,
                        positions: step == 0 ? 40 : 2, draftedTokens: 1,
                        acceptedTokens: step % 2, elapsedMs: perToken * 0.9,
                        completed: random.next() % 500 != 0))
            }
            time = time.addingTimeInterval(elapsed / 1000)
            replies.append(
                reply(
                    persona: persona, session: "session-\(index / 12)", time: time,
                    tokens: tokens, dispatches: tokens - accepted / 2, elapsedMs: elapsed,
                    firstTokenMs: 30 + Double(random.next() % 400), drafted: drafted,
                    accepted: accepted, microMotes: Int64(tokens) * 1_300))
            time = time.addingTimeInterval(20 + Double(random.next() % 200))
        }
    }

    /// Sends every record to `sink`, in time order within each kind.
    func send(to sink: MetricsSink) {
        dispatches.forEach(sink.record)
        replies.forEach(sink.record)
    }
}

/// The seeded generator of the fixtures.
typealias SplitMix = SplitMix64
