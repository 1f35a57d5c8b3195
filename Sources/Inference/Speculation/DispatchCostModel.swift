import Foundation
import Support
import Synchronization

/// What a verification dispatch costs in device time, by the rows one
/// sequence puts in it. The governor weighs draft lengths with it and
/// prices what plain decoding would have cost.
public protocol DispatchCostModel: AnyObject, Sendable {
    /// Expected device time of `rows` rows of one sequence; nil while the
    /// model knows nothing yet.
    func cost(rows: Int) -> Duration?
    /// A dispatch of `rows` rows of one sequence took `elapsed`.
    func observe(rows: Int, elapsed: Duration)
}

/// Learns dispatch costs from what dispatches actually took: a moving
/// average per row count, and a straight line through the row counts seen
/// for those not seen yet.
///
/// One per device and model, shared by every sequence on it. Without a
/// calibration it starts empty and the governor uses its default length
/// until the first dispatches are in.
public final class MeasuredCostModel: DispatchCostModel {
    /// Weight of the newest observation in the moving average: about the
    /// last ten dispatches of a row count count.
    static let newestWeight = 0.1

    /// Row counts tracked: one sequence's pending token and its drafts.
    public static let rowsMax = 1 + Limits.Speculation.draftLengthMax

    /// Mean seconds by row count (index = rows), nil until observed.
    private let means = Mutex<[Double?]>(Array(repeating: nil, count: rowsMax + 1))

    public init() {}

    /// A model that has timed `device` on `1, 2, 3, 5, 9, 17` rows of a
    /// scratch sequence, the best of `repeats` runs each, with the device's
    /// `DispatchClock`, so that the first reply already weighs draft lengths
    /// on real figures.
    public static func calibrated(device: Device, repeats: Int = 3) throws -> MeasuredCostModel {
        let model = MeasuredCostModel()
        try model.calibrate(device: device, clock: DispatchClock.for(device), repeats: repeats)
        return model
    }

    /// Times `device` as `calibrated` does and adds what it found to this
    /// model. The caller must be the device's only user meanwhile (a
    /// scheduler calls it from its own loop).
    public func calibrate(device: Device, clock: DispatchClock, repeats: Int = 3) throws {
        let cache = device.makeCache(capacity: 64)
        _ = try device.dispatch(Self.scratchRows(cache, count: 1))  // warm the pool and the caches
        for rows in [1, 2, 3, 5, 9, 17] where rows <= Self.rowsMax && rows <= device.rowsMax {
            var best = Duration.seconds(3600)
            for _ in 0..<repeats {
                cache.truncate(to: 0)
                let start = clock.now()
                _ = try device.dispatch(Self.scratchRows(cache, count: rows))
                best = min(best, clock.now() - start)
            }
            observe(rows: rows, elapsed: best)
        }
    }

    private static func scratchRows(_ cache: KVCache, count: Int) -> [BatchRow] {
        (0..<count).map {
            BatchRow(cache: cache, position: $0, token: 1, wantsLogits: true)
        }
    }

    public func cost(rows: Int) -> Duration? {
        precondition(rows >= 1, "a dispatch of \(rows) rows")
        let seconds: Double? = means.withLock { means in
            let index = min(rows, Self.rowsMax)
            if let known = means[index] {
                return known * Double(rows) / Double(index)
            }
            return Self.interpolate(means, at: index)
        }
        return seconds.map { .seconds($0) }
    }

    /// The mean cost of each row count observed so far, for reports.
    public func observed() -> [(rows: Int, cost: Duration)] {
        means.withLock { means in
            means.indices.compactMap { rows in means[rows].map { (rows, .seconds($0)) } }
        }
    }

    public func observe(rows: Int, elapsed: Duration) {
        guard rows >= 1 && rows <= Self.rowsMax else { return }
        let seconds = elapsed.seconds
        means.withLock { means in
            if let mean = means[rows] {
                means[rows] = mean + Self.newestWeight * (seconds - mean)
            } else {
                means[rows] = seconds
            }
        }
    }

    /// The line through the nearest known row counts below and above
    /// `rows`; past the last known one, the line through the last two; a
    /// single known count is taken as the cost of every row count (the
    /// weights are read once whatever the rows, which dominates on a CPU).
    static func interpolate(_ means: [Double?], at rows: Int) -> Double? {
        let known = means.indices.filter { means[$0] != nil }
        guard let first = known.first else { return nil }
        guard known.count > 1 else { return means[first]! }
        let below = known.last { $0 < rows }
        let above = known.first { $0 > rows }
        let (a, b): (Int, Int)
        switch (below, above) {
        case (let low?, let high?): (a, b) = (low, high)
        case (nil, _): (a, b) = (known[0], known[1])
        case (_, nil): (a, b) = (known[known.count - 2], known[known.count - 1])
        }
        let (ya, yb) = (means[a]!, means[b]!)
        let value = ya + (yb - ya) * Double(rows - a) / Double(b - a)
        return max(value, 0)
    }
}

/// What speculation times dispatches and drafting with.
///
/// On the CPU device it is the dispatching thread's CPU time: that thread
/// works through every dispatch beside the pool (and spins while it waits
/// for it), so its CPU time is the dispatch's device time, while time spent
/// descheduled by other work on a shared machine is left out. Wall time
/// would charge that other work to speculation and make its judgements
/// noise. Other devices, whose caller sleeps through a dispatch, use wall
/// time.
public struct DispatchClock: Sendable {
    private let read: @Sendable () -> Duration

    public init(read: @escaping @Sendable () -> Duration) {
        self.read = read
    }

    /// The current reading; only differences mean anything.
    public func now() -> Duration {
        read()
    }

    /// Wall time.
    public static let wall: DispatchClock = {
        let origin = ContinuousClock.now
        return DispatchClock { ContinuousClock.now - origin }
    }()

    /// CPU time of the calling thread.
    public static let threadCPU = DispatchClock {
        var time = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
        return .seconds(Int64(time.tv_sec)) + .nanoseconds(Int64(time.tv_nsec))
    }

    /// The clock for `device`: thread CPU time on the CPU device.
    public static func `for`(_ device: Device) -> DispatchClock {
        device is CPUDevice ? .threadCPU : .wall
    }
}
