import Foundation
import Inference
import Support
import Testing

@testable import Host

/// The engine's scheduling on a fake device and clock: fair shares, bounded
/// prefill stalls, busy refusals and cancellation. Every run is the same.
@Suite("Scheduler: weighted fair share, continuous batching")
struct SchedulerTests {
    /// An engine on a fake device; nothing runs until the test steps it.
    static func engine(limits: EngineLimits = EngineLimits()) -> (ModelEngine, FakeDevice) {
        let clock = FakeClock()
        let device = FakeDevice(clock: clock)
        let engine = ModelEngine(modelName: "fake", device: device, clock: clock, limits: limits)
        return (engine, device)
    }

    /// Submits and releases a job, as the host does once its hold is placed.
    static func start(_ engine: ModelEngine, _ spec: JobSpec, _ cancel: Cancellation = .init())
        throws -> Job
    {
        let job = try engine.submit(spec, cancellation: cancel)
        engine.release(job)
        return job
    }

    static let weightSets: [[Int]] = [
        [1, 1, 2, 4], [1, 3], [10, 10, 10], [1, 2, 3, 4, 5, 6, 7],
    ]

    @Test(
        "under contention each persona's device time is within 15% of its weight's share",
        arguments: weightSets)
    func shares(weights: [Int]) throws {
        // More sequences than a dispatch carries: the device is contended.
        let (engine, _) = Self.engine()
        let perPersona = max(4, 2 * HostLimits.sequencesPerDispatchMax / weights.count)
        for (index, weight) in weights.enumerated() {
            for _ in 0..<perPersona {
                _ = try Self.start(engine, fakeSpec("p\(index)", weight: weight))
            }
        }
        for _ in 0..<3_000 {
            engine.step()
        }

        // Shares of the attributed device time against the weights' shares.
        let status = engine.status()
        let total = Double(weights.reduce(0, +))
        for (index, weight) in weights.enumerated() {
            let persona = try #require(status.personas.first { $0.name == "p\(index)" })
            let target = Double(weight) / total
            let error = abs(persona.deviceShare - target) / target
            #expect(error <= 0.15, "p\(index): share \(persona.deviceShare), target \(target)")
        }
        #expect(status.batchSizes.map(\.sequences).max() == HostLimits.sequencesPerDispatchMax)
    }

    @Test("without contention every sequence rides every dispatch")
    func everyoneRides() throws {
        let (engine, device) = Self.engine()
        for index in 0..<3 {
            _ = try Self.start(engine, fakeSpec("p\(index)", weight: index + 1))
        }
        for _ in 0..<20 {
            engine.step()
        }
        // After the first dispatch (three prefills), each carries three decode rows.
        #expect(device.dispatched.dropFirst().allSatisfy { $0.count == 3 })
        #expect(device.dispatched.count == 20)
    }

    @Test("a long prompt stalls the others' decoding by at most one prefill chunk per dispatch")
    func boundedStall() throws {
        let (engine, device) = Self.engine()
        let clock = device.clock
        let decoders = try (0..<2).map { _ in try Self.start(engine, fakeSpec("chatty")) }
        for _ in 0..<5 {
            engine.step()
        }
        let long = Array(repeating: 5, count: 1_000)
        _ = try Self.start(engine, fakeSpec("reader", prompt: long, maxTokens: 4))

        // Step until the long prompt is in; every dispatch must carry the
        // decoders, and no gap between their tokens may exceed one dispatch
        // of two decode rows and one chunk.
        let chunk = HostLimits.prefillRowsPerDispatchMax
        let gapMax = device.fixed + device.perRow * (2 + chunk)
        var last = clock.now()
        let first = device.dispatched.count
        for job in decoders {
            _ = job.takeTokens()
        }
        for _ in 0..<(long.count / chunk + 2) {
            engine.step()
            for job in decoders {
                #expect(job.takeTokens().count == 1)
            }
            let now = clock.now()
            #expect(now - last <= gapMax)
            last = now
        }
        let prefillRows = device.dispatched[first...].map { $0.count - 2 }
        #expect(prefillRows.allSatisfy { $0 <= chunk })
        #expect(prefillRows.reduce(0, +) >= long.count)
    }

    @Test("past the queue bound a request is refused at once as busy")
    func busy() throws {
        var limits = EngineLimits()
        limits.activeSequencesMax = 1
        limits.queueDepthPerTenantMax = 2
        let (engine, _) = Self.engine(limits: limits)
        _ = try Self.start(engine, fakeSpec("a"))
        engine.step()
        _ = try Self.start(engine, fakeSpec("a"))
        _ = try Self.start(engine, fakeSpec("a"))
        #expect(throws: HostError.busy(queueDepth: 2, retryAfterSeconds: 1)) {
            try engine.submit(fakeSpec("a"), cancellation: Cancellation())
        }
        // Another persona's queue is its own.
        _ = try Self.start(engine, fakeSpec("b"))
        let status = engine.status()
        #expect(status.personas.first { $0.name == "a" }?.refused == 1)
        #expect(status.personas.first { $0.name == "a" }?.queueDepth == 2)
        #expect(status.activeSequences == 1)
    }

    @Test("a cancelled generation ends and frees its sequence within one dispatch")
    func cancel() throws {
        let (engine, device) = Self.engine()
        let stop = Cancellation()
        let doomed = try Self.start(engine, fakeSpec("a"), stop)
        let other = try Self.start(engine, fakeSpec("b"))
        for _ in 0..<10 {
            engine.step()
        }
        let produced = doomed.takeTokens().count
        stop.cancel()
        engine.step()

        // Ended, charged for what it produced, and gone from the next dispatch.
        let result = try #require(try doomed.outcomeIfFinished?.get())
        #expect(result.stats.stopReason == .cancelled)
        #expect(result.stats.outputTokens == produced)
        #expect(engine.status().activeSequences == 1)
        #expect(device.dispatched.last?.count == 1)
        #expect(!other.isFinished)
    }

    @Test("a job cancelled while queued ends without a dispatch")
    func cancelQueued() throws {
        var limits = EngineLimits()
        limits.activeSequencesMax = 1
        let (engine, _) = Self.engine(limits: limits)
        _ = try Self.start(engine, fakeSpec("a"))
        let stop = Cancellation()
        let queued = try Self.start(engine, fakeSpec("a"), stop)
        engine.step()
        stop.cancel()
        engine.step()
        let result = try #require(try queued.outcomeIfFinished?.get())
        #expect(result.stats.dispatches == 0)
        #expect(result.stats.stopReason == .cancelled)
    }

    @Test("a tenant back from idle banks no credit")
    func noBankedCredit() {
        var share = FairShare()
        share.register("busy", weight: 1)
        share.register("idle", weight: 1)
        share.backlog(["busy"])
        share.attribute(rows: ["busy": 100], seconds: 10)
        share.backlog(["busy", "idle"])
        let busy = share.tenants["busy"]!.virtualSeconds
        #expect(share.tenants["idle"]!.virtualSeconds == busy)
    }

    @Test("a tenant that had the idle device to itself is not made to pay for it later")
    func noDebt() {
        var share = FairShare()
        for name in ["early", "late"] {
            share.register(name, weight: 1)
        }
        share.backlog(["early"])
        share.attribute(rows: ["early": 100], seconds: 10)
        share.backlog([])
        share.backlog(["early", "late"])
        let early = share.tenants["early"]!.virtualSeconds
        #expect(share.tenants["late"]!.virtualSeconds == early)
        let picks = share.plan(
            [
                .init(index: 0, tenant: "early", prefillRows: 0, lastDispatch: 0),
                .init(index: 1, tenant: "late", prefillRows: 0, lastDispatch: 0),
            ], slots: 1, prefillRows: 0)
        #expect(picks == [FairShare.Pick(index: 0, rows: 1)])
    }

    @Test("picks follow the weights within one dispatch", arguments: [(1, 3), (2, 2), (1, 7)])
    func planWeights(a: Int, b: Int) {
        var share = FairShare()
        share.register("a", weight: a)
        share.register("b", weight: b)
        let candidates = (0..<16).map {
            FairShare.Candidate(
                index: $0, tenant: $0 < 8 ? "a" : "b", prefillRows: 0, lastDispatch: 0)
        }
        let picks = share.plan(candidates, slots: 8, prefillRows: 64)
        let fromA = picks.filter { $0.index < 8 }.count
        #expect(picks.count == 8)
        #expect(abs(Double(fromA) - 8 * Double(a) / Double(a + b)) <= 1)
    }
}

/// The host's limits under a short name.
typealias HostLimits = Support.Limits.Host
