import Foundation
import Host
import Support

/// The host's `MetricsSink`: records go into an in-memory queue and a
/// background thread writes them to the `MetricsStore` in batches.
///
/// `record` takes a lock for the time of an array append and returns; it
/// never touches the database, so a slow disk cannot slow generation. When
/// the queue is full the record is dropped and counted (`droppedRecords`),
/// the alternative, waiting, being exactly the slowdown this avoids.
public final class MetricsRecorder: MetricsSink, @unchecked Sendable {
    /// One queued record.
    private enum Record {
        case dispatch(DispatchRecord)
        case reply(ReplyRecord)
    }

    /// Guards every field below it, and wakes the writer and `flush`.
    private let condition = NSCondition()
    /// Records not yet written, oldest first. Guarded by `condition`.
    private var queue: [Record] = []
    /// True while the writer holds a batch taken from `queue`. Guarded by
    /// `condition`.
    private var writing = false
    /// Set by `close`; the writer drains the queue and stops. Guarded by
    /// `condition`.
    private var closing = false
    /// Set when the writer thread has returned. Guarded by `condition`.
    private var stopped = false
    /// Records refused because the queue was full. Guarded by `condition`.
    private var dropped = 0
    /// Records lost to a failed write. Guarded by `condition`.
    private var failed = 0

    /// Owned by the writer thread once `init` returns.
    private let store: MetricsStore
    private let queueRecordsMax: Int
    private let log = Log("metrics")

    /// Starts a writer for `store`; `queueRecordsMax` bounds what may wait.
    public init(store: MetricsStore, queueRecordsMax: Int = Limits.Metrics.queueRecordsMax) {
        precondition(queueRecordsMax > 0, "the metrics queue holds at least one record")
        self.store = store
        self.queueRecordsMax = queueRecordsMax
        let thread = Thread { [self] in run() }
        thread.name = "asth-metrics-writer"
        thread.start()
    }

    /// Opens the store in `home` and starts a writer for it.
    public convenience init(home: Home) throws {
        self.init(store: try MetricsStore(home: home))
    }

    public func record(_ dispatch: DispatchRecord) {
        enqueue(.dispatch(dispatch))
    }

    public func record(_ reply: ReplyRecord) {
        enqueue(.reply(reply))
    }

    /// Records dropped because the queue was full.
    public var droppedRecords: Int { condition.withLock { dropped } }

    /// Records waiting for the writer, for tests and `asth ps`.
    public var queuedRecords: Int { condition.withLock { queue.count } }

    /// Records lost because the database refused a batch.
    public var failedRecords: Int { condition.withLock { failed } }

    private func enqueue(_ record: Record) {
        condition.withLock {
            guard !closing, queue.count < queueRecordsMax else {
                dropped += 1
                return
            }
            queue.append(record)
            condition.broadcast()
        }
    }

    /// Waits until every record queued so far is written (or has failed).
    public func flush() {
        condition.withLock {
            while !(queue.isEmpty && !writing) && !stopped {
                condition.wait()
            }
        }
    }

    /// Writes what is queued, then stops the writer. Records after this are
    /// dropped. Safe to call more than once.
    public func close() {
        let (lostToQueue, lostToDatabase) = condition.withLock {
            closing = true
            condition.broadcast()
            while !stopped {
                condition.wait()
            }
            return (dropped, failed)
        }
        if lostToQueue + lostToDatabase > 0 {
            log.warn("close: records lost", ["dropped": lostToQueue, "failed": lostToDatabase])
        }
    }

    // MARK: - The writer thread

    private func run() {
        var batches = 0
        while let batch = nextBatch() {
            write(batch)
            batches += 1
            if batches % Limits.Metrics.pruneEveryBatches == 1 {
                prune()
            }
        }
        condition.withLock {
            stopped = true
            condition.broadcast()
        }
    }

    /// Waits for records, lingers briefly so that a batch gathers, then
    /// takes up to `batchRecordsMax`. Nil when closing with nothing left.
    private func nextBatch() -> [Record]? {
        condition.lock()
        defer { condition.unlock() }
        while queue.isEmpty && !closing {
            condition.wait()
        }
        if queue.isEmpty {
            return nil
        }
        if !closing {
            let deadline = Date(timeIntervalSinceNow: Double(Limits.Metrics.writerLingerMs) / 1000)
            while !closing && queue.count < Limits.Metrics.batchRecordsMax
                && condition.wait(until: deadline)
            {}
        }
        let count = min(queue.count, Limits.Metrics.batchRecordsMax)
        let batch = Array(queue.prefix(count))
        queue.removeFirst(count)
        writing = true
        return batch
    }

    /// Writes one batch; a failure is logged and counted, never thrown,
    /// since nobody waits on `record` to hear about it.
    private func write(_ batch: [Record]) {
        var dispatches: [DispatchRecord] = []
        var replies: [ReplyRecord] = []
        for record in batch {
            switch record {
            case .dispatch(let dispatch): dispatches.append(dispatch)
            case .reply(let reply): replies.append(reply)
            }
        }
        var lost = 0
        do {
            try store.write(dispatches: dispatches, replies: replies)
        } catch {
            lost = batch.count
            log.error("write failed", ["records": batch.count, "error": error])
        }
        condition.withLock {
            failed += lost
            writing = false
            condition.broadcast()
        }
    }

    private func prune() {
        do {
            let deleted = try store.prune()
            if deleted > 0 {
                log.info("prune", ["rows": deleted])
            }
        } catch {
            log.warn("prune failed", ["error": error])
        }
    }
}
