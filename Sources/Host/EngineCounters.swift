import Inference

/// Sums of a quantity over the last `RateWindow.seconds` seconds, in
/// one-second buckets: what `asth ps` shows as rates.
struct RateWindow {
    /// Seconds the window covers.
    static let seconds = 60

    private var sums = [Double](repeating: 0, count: RateWindow.seconds)  // [seconds]
    /// The whole second each bucket holds, -1 when empty.
    private var stamps = [Int](repeating: -1, count: RateWindow.seconds)  // [seconds]

    mutating func add(_ value: Double, at time: Duration) {
        let second = Int(time.seconds)
        let slot = second % Self.seconds
        if stamps[slot] != second {
            stamps[slot] = second
            sums[slot] = 0
        }
        sums[slot] += value
    }

    /// The sum over the last `span` whole seconds before `now`, at most
    /// the window.
    func sum(last span: Int, now: Duration) -> Double {
        let second = Int(now.seconds)
        let span = min(span, Self.seconds)
        var total = 0.0
        for slot in 0..<Self.seconds where stamps[slot] > second - span && stamps[slot] <= second {
            total += sums[slot]
        }
        return total
    }
}

/// What an engine has done, for `asth ps` and the load test.
struct EngineCounters {
    /// One tenant's figures.
    struct Tenant {
        var submitted = 0
        var refused = 0
        var replies = 0
        var tokens = 0
        var tokenWindow = RateWindow()
        var deviceWindow = RateWindow()
        var microMotesWindow = RateWindow()
    }

    var dispatches = 0
    /// Rows (positions) over all dispatches.
    var rows = 0
    var deviceSeconds = 0.0
    /// Dispatches by how many sequences rode them.
    var batchSizes: [Int: Int] = [:]
    /// The most rows one dispatch carried.
    var rowsLargest = 0
    var replies = 0
    var replySecondsTotal = 0.0
    private(set) var tenants: [String: Tenant] = [:]

    var replySecondsAverage: Double {
        replies > 0 ? replySecondsTotal / Double(replies) : 0
    }

    mutating func record(dispatch rows: [Int], seconds: Double) {
        dispatches += 1
        let count = rows.reduce(0, +)
        self.rows += count
        deviceSeconds += seconds
        batchSizes[rows.count, default: 0] += 1
        rowsLargest = max(rowsLargest, count)
    }

    mutating func recordSubmitted(tenant: String) {
        tenants[tenant, default: Tenant()].submitted += 1
    }

    mutating func recordRefused(tenant: String) {
        tenants[tenant, default: Tenant()].refused += 1
    }

    mutating func record(tokens: Int, tenant: String, at time: Duration) {
        tenants[tenant, default: Tenant()].tokens += tokens
        tenants[tenant, default: Tenant()].tokenWindow.add(Double(tokens), at: time)
    }

    mutating func record(deviceSeconds seconds: Double, tenant: String, at time: Duration) {
        tenants[tenant, default: Tenant()].deviceWindow.add(seconds, at: time)
    }

    mutating func record(reply: JobResult) {
        replies += 1
        replySecondsTotal += reply.stats.elapsed.seconds
    }

    mutating func recordReply(tenant: String) {
        tenants[tenant, default: Tenant()].replies += 1
    }

    mutating func record(microMotes: Int64, tenant: String, at time: Duration) {
        tenants[tenant, default: Tenant()].microMotesWindow.add(Double(microMotes), at: time)
    }
}
