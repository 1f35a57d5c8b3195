import Database
import Foundation
import Host
import Metrics
import Testing

/// The store and its batched writer: records round-trip exactly, `record`
/// does not wait on the database, retention bounds the rows and counters
/// outlive it.
@Suite("Metrics: store and recorder")
struct RecorderTests {
    @Test("records come back exactly as they were sent")
    func roundTrip() throws {
        let scratch = try ScratchStore()
        defer { scratch.cleanUp() }
        let history = SyntheticHistory(
            personas: ["assistant", "poet"], replies: 9,
            start: recentStart + 0.123_456)
        let recorder = MetricsRecorder(store: scratch.store)
        history.send(to: recorder)
        recorder.close()

        // Times are kept as seconds since 1970, which a `Date` (seconds since
        // 2001) converts to and from within a microsecond; the rest is exact.
        let reader = try scratch.reopen()
        #expect(
            try reader.replies(limit: 100).map(\.microseconds)
                == history.replies.map(\.microseconds))
        #expect(
            try reader.dispatches(limit: 100_000).map(\.microseconds)
                == history.dispatches.map(\.microseconds))
        #expect(recorder.droppedRecords == 0 && recorder.failedRecords == 0)
    }

    @Test("a schema-1 file gains the drafting dispatches column, and replies keep them")
    func migrationFrom1() throws {
        let scratch = try ScratchStore()
        defer { scratch.cleanUp() }

        // Make the file what schema 1 wrote: no drafting_dispatches.
        let path = scratch.folder.appendingPathComponent("metrics.sqlite").path
        let raw = try SQLiteConnection(path: path)
        try raw.execute("ALTER TABLE replies DROP COLUMN drafting_dispatches")
        try raw.execute("PRAGMA user_version = 1")

        var record = reply(time: Date(), tokens: 12, dispatches: 5, elapsedMs: 100)
        record.usage.draftedTokens = 10
        record.usage.acceptedTokens = 7
        record.usage.draftingDispatches = 4
        let recorder = MetricsRecorder(store: try scratch.reopen())
        recorder.record(record)
        recorder.close()
        let store = try scratch.reopen()
        let back = try #require(try store.replies(limit: 1).first)
        #expect(back.usage.draftingDispatches == 4)
        #expect(ReplyRates(back.usage).meanAcceptedLength == 1.75)
        #expect(try raw.first("PRAGMA user_version")?.int(0) == 2)
    }

    @Test("record returns at once while the database is locked, and drops past the bound")
    func neverBlocks() throws {
        let scratch = try ScratchStore()
        defer { scratch.cleanUp() }
        let recorder = MetricsRecorder(store: scratch.store, queueRecordsMax: 10)
        let now = Date()

        // Another connection holds the write lock; the writer takes five
        // records and stalls on it.
        let blocker = try SQLiteConnection(
            path: scratch.folder.appendingPathComponent(
                "metrics.sqlite"
            ).path)
        try blocker.execute("BEGIN IMMEDIATE")
        for index in 0..<5 {
            recorder.record(reply(time: now, tokens: index + 1, elapsedMs: 100))
        }
        try waitUntil { recorder.queuedRecords == 0 }

        // Thirty more: ten queue, twenty are dropped, none waits.
        let clock = ContinuousClock()
        let spent = clock.measure {
            for index in 0..<30 {
                recorder.record(reply(time: now, tokens: 100 + index, elapsedMs: 100))
            }
        }
        #expect(spent < .milliseconds(500), "30 records took \(spent)")
        #expect(recorder.droppedRecords == 20)
        #expect(recorder.queuedRecords == 10)

        // Released, the writer catches up.
        try blocker.execute("COMMIT")
        recorder.close()
        #expect(recorder.failedRecords == 0)
        #expect(try scratch.reopen().rowCounts().replies == 15)
    }

    @Test(
        "retention keeps the newest rows within age and count; counters keep everything",
        arguments: [
            // (replies, of them older than the age bound, replies kept at most, expected rows)
            (10, 0, 5, 5), (10, 4, 8, 6), (10, 4, 3, 3), (3, 0, 5, 3),
        ])
    func retention(total: Int, old: Int, keep: Int, expected: Int) throws {
        let scratch = try ScratchStore(
            retention: .init(maxAge: .seconds(86_400), repliesMax: keep, dispatchesMax: 4))
        defer { scratch.cleanUp() }
        let now = Date()
        let recorder = MetricsRecorder(store: scratch.store)
        for index in 0..<total {
            let age = index < old ? 2 * 86_400.0 : Double(total - index)
            let time = now.addingTimeInterval(-age)
            recorder.record(reply(time: time, tokens: 10, elapsedMs: 500))
            recorder.record(
                DispatchRecord(
                    time: time, device: "cpu", model: "m", sequences: 1, positions: 1,
                    elapsedMs: 20))
        }
        recorder.flush()
        let reader = try scratch.reopen()
        let pruning = try MetricsStore(
            url: scratch.folder.appendingPathComponent("metrics.sqlite"),
            retention: .init(maxAge: .seconds(86_400), repliesMax: keep, dispatchesMax: 4))
        try pruning.prune(now: now)
        recorder.close()

        let counts = try reader.rowCounts()
        #expect(counts.replies == expected)
        #expect(counts.dispatches == min(4, total - old))
        // The newest survive.
        let kept = try reader.replies(limit: 100)
        #expect(kept.allSatisfy { now.timeIntervalSince($0.time) < 86_400 })
        // Counters still count every reply and dispatch ever recorded.
        let counters = try reader.counters()
        #expect(counters.sum(.replies) == Double(total))
        #expect(counters.sum(.dispatchesStarted) == Double(total))
    }

    @Test("all-time averages from the counters equal the averages of the rows")
    func countersMatchRows() throws {
        let scratch = try ScratchStore()
        defer { scratch.cleanUp() }
        let history = SyntheticHistory(
            personas: ["a", "b", "c"], replies: 30, start: recentStart)
        let recorder = MetricsRecorder(store: scratch.store)
        history.send(to: recorder)
        recorder.close()

        let reader = try scratch.reopen()
        for persona in ["a", "b", "c"] {
            let rows = history.replies.filter { $0.persona == persona }
            let fromRows = Averages(rows: rows)
            let fromCounters = Averages(counters: try reader.counters()) {
                $0.persona == persona
            }
            #expect(fromRows.replies == 10)
            #expect(close(fromRows, fromCounters), "\(fromRows) vs \(fromCounters)")
        }
    }

    /// Equal up to the rounding of sums taken in another order.
    func close(_ a: Averages, _ b: Averages) -> Bool {
        func near(_ x: Double, _ y: Double) -> Bool { abs(x - y) <= 1e-9 * max(1, abs(x)) }
        return a.replies == b.replies && a.totalTokens == b.totalTokens
            && near(a.tokensPerMessage, b.tokensPerMessage)
            && near(a.elapsedMsPerMessage, b.elapsedMsPerMessage)
            && near(a.meanEffTokensPerSecond, b.meanEffTokensPerSecond)
            && near(a.overallEffTokensPerSecond, b.overallEffTokensPerSecond)
            && near(a.meanDispatchesPerSecond, b.meanDispatchesPerSecond)
            && near(a.meanAcceptancePercent ?? -1, b.meanAcceptancePercent ?? -1)
            && near(a.meanAcceptedLength ?? -1, b.meanAcceptedLength ?? -1)
            && near(a.motesPerMessage, b.motesPerMessage)
            && near(a.firstTokenMsPerMessage, b.firstTokenMsPerMessage)
    }
}

/// Polls `condition` every 10 ms for up to ten seconds.
func waitUntil(_ condition: () -> Bool) throws {
    let deadline = Date(timeIntervalSinceNow: 10)
    while !condition() {
        guard Date() < deadline else { throw WaitTimedOut() }
        Thread.sleep(forTimeInterval: 0.01)
    }
}

struct WaitTimedOut: Error {}

extension ReplyRecord {
    /// The record with its time rounded to the microsecond.
    var microseconds: ReplyRecord {
        var copy = self
        copy.time = Date(timeIntervalSince1970: (time.timeIntervalSince1970 * 1e6).rounded() / 1e6)
        return copy
    }
}

extension DispatchRecord {
    /// The record with its time rounded to the microsecond.
    var microseconds: DispatchRecord {
        var copy = self
        copy.time = Date(timeIntervalSince1970: (time.timeIntervalSince1970 * 1e6).rounded() / 1e6)
        return copy
    }
}
