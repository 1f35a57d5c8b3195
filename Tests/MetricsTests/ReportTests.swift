import Foundation
import Host
import Inference
import Metrics
import Support
import Testing

/// The report's averages, its two rates, its text layout and `--since`.
@Suite("Metrics: report")
struct ReportTests {
    /// (tokens, elapsed ms) per reply, and the expected means.
    struct Case: Sendable, CustomStringConvertible {
        let replies: [(tokens: Int, elapsedMs: Double)]
        let meanRate: Double
        let overallRate: Double
        var description: String { "\(replies.count) replies" }
    }

    static let cases = [
        // One short fast reply lifts the mean of rates far above the overall rate.
        Case(replies: [(2, 20), (100, 10_000)], meanRate: 55, overallRate: 102 / 10.02),
        Case(replies: [(10, 1_000), (10, 1_000), (10, 1_000)], meanRate: 10, overallRate: 10),
        Case(replies: [(0, 500), (30, 1_500)], meanRate: 10, overallRate: 15),
    ]

    @Test("mean of per-reply rates and overall rate", arguments: cases)
    func rates(_ c: Case) {
        let rows = c.replies.enumerated().map { index, r in
            reply(
                time: Date(timeIntervalSince1970: Double(index)), tokens: r.tokens,
                elapsedMs: r.elapsedMs)
        }
        let averages = Averages(rows: rows)
        #expect(abs(averages.meanEffTokensPerSecond - c.meanRate) < 1e-9)
        #expect(abs(averages.overallEffTokensPerSecond - c.overallRate) < 1e-9)
        let tokens = Double(c.replies.map(\.tokens).reduce(0, +))
        #expect(abs(averages.tokensPerMessage - tokens / Double(c.replies.count)) < 1e-9)
    }

    @Test("acceptance: the mean over drafting replies; accepted length: pooled; n/a without drafts")
    func acceptance() {
        let t = Date()
        let rows = [
            reply(time: t, tokens: 10, elapsedMs: 100, drafted: 10, accepted: 5),
            reply(time: t, tokens: 10, elapsedMs: 100, drafted: 4, accepted: 4),
            reply(time: t, tokens: 10, elapsedMs: 100),
        ]
        #expect(Averages(rows: rows).meanAcceptancePercent == 75)
        #expect(Averages(rows: [rows[2]]).meanAcceptancePercent == nil)
        // Accepted length pools the replies: (5 + 4) accepted over 3 + 1
        // drafting dispatches, not the mean of 5/3 and 4.
        #expect(Averages(rows: rows).meanAcceptedLength == 2.25)
        #expect(Averages(rows: [rows[2]]).meanAcceptedLength == nil)
    }

    @Test("the text report has every section, units, and the log's columns aligned")
    func text() throws {
        let scratch = try ScratchStore()
        defer { scratch.cleanUp() }
        let history = SyntheticHistory(
            personas: ["assistant", "a-much-longer-persona"], replies: 14,
            start: recentStart)
        let recorder = MetricsRecorder(store: scratch.store)
        history.send(to: recorder)
        recorder.close()

        let report = try MetricsReport.build(
            store: try scratch.reopen(), scope: .init(),
            probes: [
                .init(
                    name: "cpu", detail: "kernels x", computeUnits: "2 of 2 cores", status: "ready")
            ],
            models: ModelStore(home: Home(url: scratch.folder)))
        let text = report.text()
        for section in [
            "DEVICE", "MODEL", "SESSION AVERAGES", "ALL-TIME AVERAGES", "RECENT REPLIES",
            "reliability", "eff tok/s, mean of replies", "eff tok/s, overall",
        ] {
            #expect(text.contains(section), "missing \(section)")
        }
        // The model is not in this store: the block says why.
        #expect(text.contains("problem"))

        // Every average carries its unit.
        let units = ["tokens", " s", "tokens/s", "dispatches/s", "%", "Motes", "ms"]
        let averageLines = text.split(separator: "\n").filter {
            $0.hasPrefix("  tokens/msg") || $0.hasPrefix("  elapsed/msg")
                || $0.hasPrefix("  eff tok/s") || $0.hasPrefix("  Motes/msg")
                || $0.hasPrefix("  time to first token")
        }
        #expect(averageLines.count == 12)  // six in each of the two blocks
        for line in averageLines {
            #expect(units.contains { line.hasSuffix($0) || line.contains($0 + " (") }, "\(line)")
        }
        try expectAligned(text)
    }

    /// The right-aligned columns of the log end where their headers end.
    func expectAligned(_ text: String) throws {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let start = try #require(lines.firstIndex { $0.hasPrefix("RECENT REPLIES") })
        let header = Array(lines[start + 1])
        let rows = lines[(start + 2)...].filter { !$0.isEmpty }.map { Array($0) }
        #expect(rows.count == 14)
        for title in ["tokens", "dispatches", "elapsed s", "eff tok/s", "tok/s", "Motes"] {
            let range = try #require(String(header).range(of: "  " + title + " "))
            let end =
                String(header).distance(
                    from: String(header).startIndex, to: range.upperBound) - 1
            for row in rows {
                #expect(row[end - 1] != " " && row[end] == " ", "\(title): \(String(row))")
            }
        }
    }

    @Test(
        "--since reads ages and dates, and refuses the rest",
        arguments: [
            ("30m", 1_800.0), ("12h", 43_200), ("7d", 604_800), ("90s", 90), ("0d", 0),
        ])
    func sinceAges(text: String, seconds: Double) throws {
        let now = Date(timeIntervalSince1970: 1_750_000_000)
        #expect(try ReadableTime.since(text, now: now) == now.addingTimeInterval(-seconds))
    }

    @Test("--since takes ISO 8601 times")
    func sinceDates() throws {
        let date = try ReadableTime.since("2025-03-14T09:26:53Z")
        #expect(date == Date(timeIntervalSince1970: 1_741_944_413))
        #expect(try ReadableTime.since("2025-03-14") < date)
    }

    @Test("--since refuses what it cannot read", arguments: ["", "abc", "-3m", "99999d", "5w"])
    func sinceRefused(text: String) {
        #expect(throws: MetricsError.self) { try ReadableTime.since(text) }
    }
}
