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

/// An engine's figures at one moment, for reports.
struct EngineSnapshot {
    var modelName: String
    var device: String
    /// When it was taken, on the engine's clock.
    var now: Duration
    var tenants: [String: FairShare.Tenant]
    var counters: EngineCounters
    /// Jobs waiting and sequences generating, by tenant.
    var queued: [String: Int]
    var active: [String: Int]
    var cachedConversations: Int
    var cachedPrefixes: Int

    /// Seconds over which `asth ps` averages tok/s.
    static let rateSpanSeconds = 10
}

extension ModelStatus {
    /// The report of `snapshot`: shares, rates and counts.
    init(_ snapshot: EngineSnapshot) {
        let counters = snapshot.counters
        self.init(
            name: snapshot.modelName, device: snapshot.device,
            activeSequences: snapshot.active.values.reduce(0, +),
            queued: snapshot.queued.values.reduce(0, +), dispatches: counters.dispatches,
            rows: counters.rows, deviceSeconds: counters.deviceSeconds,
            rowsLargest: counters.rowsLargest,
            batchSizes: counters.batchSizes.sorted { $0.key < $1.key }.map {
                BatchSizeCount(sequences: $0.key, dispatches: $0.value)
            },
            cachedConversations: snapshot.cachedConversations,
            cachedPrefixes: snapshot.cachedPrefixes,
            personas: Self.personas(snapshot))
    }

    /// Each tenant's figures, by name.
    private static func personas(_ snapshot: EngineSnapshot) -> [PersonaStatus] {
        let now = snapshot.now
        let window = RateWindow.seconds
        // Rates over what the host has lived, when that is shorter than their span.
        let span = min(Double(EngineSnapshot.rateSpanSeconds), max(now.seconds, 1))
        let minute = min(Double(window), max(now.seconds, 1))
        let total = snapshot.tenants.values.reduce(0) { $0 + $1.deviceSeconds }
        let recentTotal = snapshot.counters.tenants.values.reduce(0) {
            $0 + $1.deviceWindow.sum(last: window, now: now)
        }
        let names = Set(snapshot.tenants.keys).union(snapshot.counters.tenants.keys).sorted()
        return names.map { name in
            let tenant = snapshot.tenants[name] ?? FairShare.Tenant(weight: 1)
            let figures = snapshot.counters.tenants[name] ?? EngineCounters.Tenant()
            let recent = figures.deviceWindow.sum(last: window, now: now)
            let tokens = figures.tokenWindow.sum(last: EngineSnapshot.rateSpanSeconds, now: now)
            let microMotes = figures.microMotesWindow.sum(last: window, now: now)
            return PersonaStatus(
                name: name, weight: tenant.weight, queueDepth: snapshot.queued[name] ?? 0,
                activeSequences: snapshot.active[name] ?? 0, tokensPerSecond: tokens / span,
                deviceShare: total > 0 ? tenant.deviceSeconds / total : 0,
                recentDeviceShare: recentTotal > 0 ? recent / recentTotal : 0,
                deviceSeconds: tenant.deviceSeconds, rows: tenant.rows,
                motesPerMinute: microMotes / 1e6 * 60 / minute, tokens: figures.tokens,
                replies: figures.replies, refused: figures.refused)
        }
    }
}
