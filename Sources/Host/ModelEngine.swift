import Foundation
import Inference
import Support

/// The bounds an engine works within; `Limits.Host` by default, smaller in
/// tests.
struct EngineLimits: Sendable {
    var queueDepthPerTenantMax = Limits.Host.queueDepthPerPersonaMax
    var activeSequencesMax = Limits.Host.activeSequencesMax
    var sequencesPerDispatchMax = Limits.Host.sequencesPerDispatchMax
    var prefillRowsPerDispatchMax = Limits.Host.prefillRowsPerDispatchMax
    var conversationsCachedMax = Limits.Host.conversationsCachedMax
    var prefixEntriesMax = Limits.Host.prefixEntriesMax
}

/// Monotonic time for an engine, as a duration since its start; tests
/// substitute a clock they advance by hand.
protocol EngineClock: Sendable {
    func now() -> Duration
}

/// The wall clock, from the moment it is made.
struct MonotonicClock: EngineClock {
    private let origin = ContinuousClock.now

    func now() -> Duration { ContinuousClock.now - origin }
}

/// The device loop of one loaded model: every active generation on the
/// model rides the same dispatches (continuous batching), chosen by
/// weighted fair share of device time over personas.
///
/// Each step admits queued jobs into free sequence slots, ends cancelled
/// ones, picks which sequences ride the next dispatch (a long prompt is
/// prefilled a bounded chunk at a time, so it never stalls the others'
/// decoding by more than one chunk), dispatches, samples, and hands each
/// new token to its client.
final class ModelEngine: @unchecked Sendable {
    let modelName: String
    let device: Device
    let clock: any EngineClock
    let limits: EngineLimits
    let metrics: (any MetricsSink)?
    /// What verification rows cost on this device, for the speculation
    /// governors of every persona on the model; calibrated on the loop's
    /// thread before the first speculating dispatch.
    let costModel = MeasuredCostModel()
    /// Times dispatches as speculation does: thread CPU time on the CPU.
    let dispatchClock: DispatchClock
    /// Set by the loop once `costModel` is calibrated.
    private var costCalibrated = false
    /// The personas' draft models on this engine, dispatched only from
    /// the loop's thread; they go with the engine.
    let draftModels: DraftModels

    /// Guards every field below; the loop waits on it for work.
    let condition = NSCondition()
    /// Jobs waiting for a sequence, per tenant, oldest first.
    var queues: [String: [Job]] = [:]
    /// Sequences generating, in admission order.
    var active: [EngineSequence] = []
    var share = FairShare()
    var conversations: ConversationCache
    var prefixes: PrefixCache
    var counters = EngineCounters()
    /// False while draining: new jobs are refused as busy.
    private var accepting = true
    private var stopRequested = false
    private var loopRunning = false

    let log = Log("engine")

    init(
        modelName: String, device: Device, clock: any EngineClock = MonotonicClock(),
        limits: EngineLimits = EngineLimits(), metrics: (any MetricsSink)? = nil,
        draftThreads: Int? = nil
    ) {
        self.modelName = modelName
        self.device = device
        self.clock = clock
        self.limits = limits
        self.metrics = metrics
        self.dispatchClock = DispatchClock.for(device)
        self.draftModels = DraftModels(threads: draftThreads)
        self.conversations = ConversationCache(countMax: limits.conversationsCachedMax)
        self.prefixes = PrefixCache(countMax: limits.prefixEntriesMax)
    }

    // MARK: - Submitting

    /// Queues a job for `spec`. It waits until `release` (once its hold is
    /// placed) and a sequence slot frees.
    ///
    /// - Throws: `HostError.busy` at once, queueing nothing, when the
    ///   tenant's queue is full or the engine is draining.
    func submit(_ spec: JobSpec, cancellation: Cancellation) throws -> Job {
        try condition.withLock {
            let depth = queues[spec.tenant]?.count ?? 0
            guard accepting, depth < limits.queueDepthPerTenantMax else {
                counters.recordRefused(tenant: spec.tenant)
                log.info("refuse", ["tenant": spec.tenant, "queued": depth, "busy": true])
                throw HostError.busy(queueDepth: depth, retryAfterSeconds: retryAfterSeconds())
            }
            share.register(spec.tenant, weight: spec.weight)
            let job = Job(spec: spec, cancellation: cancellation, submittedAt: clock.now())
            queues[spec.tenant, default: []].append(job)
            counters.recordSubmitted(tenant: spec.tenant)
            return job
        }
    }

    /// Lets a submitted job start.
    func release(_ job: Job) {
        job.release()
        condition.withLock { condition.signal() }
    }

    /// Takes back a job that never started (its hold was refused).
    func withdraw(_ job: Job) {
        condition.withLock {
            queues[job.spec.tenant]?.removeAll { $0 === job }
        }
    }

    /// A hint for refused clients: about one average reply, at least 1 s.
    private func retryAfterSeconds() -> Int {
        max(1, Int(counters.replySecondsAverage.rounded(.up)))
    }

    // MARK: - The loop

    /// Starts the device loop on its own thread.
    func start() {
        condition.withLock {
            precondition(!loopRunning, "engine loop started twice")
            loopRunning = true
        }
        let thread = Thread { [self] in loop() }
        thread.name = "engine \(modelName)"
        thread.start()
    }

    /// Refuses new jobs as busy from now on; admitted ones go on.
    func drain() {
        condition.withLock { accepting = false }
    }

    /// Cancels every job, queued or generating: each ends within a step and
    /// is charged for what it produced.
    func cutAll() {
        condition.withLock {
            for job in queues.values.joined() { job.cancellation.cancel() }
            for sequence in active { sequence.job.cancellation.cancel() }
            condition.signal()
        }
    }

    /// Whether no job is queued or generating.
    var isIdle: Bool {
        condition.withLock { active.isEmpty && queues.values.allSatisfy(\.isEmpty) }
    }

    /// Stops the loop once no work is left.
    func stop() {
        condition.withLock {
            stopRequested = true
            condition.broadcast()
        }
    }

    private func loop() {
        while true {
            let go = condition.withLock {
                while !stopRequested && !hasWork {
                    condition.wait()
                }
                return hasWork || !stopRequested
            }
            guard go else { break }
            step()
        }
        condition.withLock {
            loopRunning = false
            condition.broadcast()
        }
    }

    /// Whether a step would do anything. Caller holds `condition`.
    private var hasWork: Bool {
        !active.isEmpty
            || queues.values.contains {
                $0.contains { $0.isReleased || $0.cancellation.isCancelled }
            }
    }

    /// One turn of the loop: admit, plan, dispatch, sample, retire.
    /// Returns false when there was nothing to dispatch.
    @discardableResult
    func step() -> Bool {
        // Under the lock: end what was cancelled, fill free slots, plan.
        let planned: [(sequence: EngineSequence, rows: Int)] = condition.withLock {
            let now = clock.now()
            endCancelled(now: now)
            admit(now: now)
            retireFinished()
            return plan()
        }
        guard !planned.isEmpty else { return false }
        calibrateIfSpeculating(planned.map(\.sequence))

        // The dispatch, outside the lock so that clients can queue meanwhile.
        // Each sequence's drafts are weighed against the rows the others
        // plan (their drafts not yet known), which share the dispatch's cost.
        let draftsMax = draftRowsPerSequence
        let plannedRows = planned.reduce(0) { $0 + $1.rows }
        let rows = planned.map {
            $0.sequence.rows(
                limit: $0.rows, draftsMax: draftsMax, sharedRows: plannedRows - $0.rows)
        }
        let start = clock.now()
        let cpuStart = dispatchClock.now()
        let outcome = Result { try device.dispatch(rows.flatMap { $0 }) }
        let cpuTime = dispatchClock.now() - cpuStart
        let end = clock.now()
        let seconds = (end - start).seconds

        // A sequence alone in a decode dispatch times its rows exactly; each
        // is billed the dispatch's time by its rows.
        if rows.count == 1, rows[0].allSatisfy(\.wantsLogits), (try? outcome.get()) != nil {
            costModel.observe(rows: rows[0].count, elapsed: cpuTime)
        }
        let rowCount = rows.reduce(0) { $0 + $1.count }
        let verifyTimes = rows.map { cpuTime * (Double($0.count) / Double(max(rowCount, 1))) }

        // Sample each sequence's next tokens (sequences are the loop's own,
        // so without the lock), then account and retire under it.
        let tokens = (try? outcome.get()).map {
            sample($0, planned.map(\.sequence), rows: rows, now: end, verifyTimes: verifyTimes)
        }
        condition.withLock {
            counters.record(dispatch: rows.map(\.count), seconds: seconds)
            switch outcome {
            case .success:
                account(
                    planned.map(\.sequence), tokens ?? [], rows: rows, seconds: seconds, now: end)
            case .failure(let error):
                fail(planned.map(\.sequence), error: error, now: end)
            }
            retireFinished()
        }
        report(
            rows: rows, sequences: planned.map(\.sequence), seconds: seconds,
            completed: (try? outcome.get()) != nil)
        return true
    }

    /// Draft rows one decoding sequence may add: what the device holds past
    /// a full batch of decode rows and the prefill chunk, shared by the
    /// batch's slots, at most `Limits.Speculation.draftLengthMax`. Drafts
    /// never take room from the prefill chunk.
    var draftRowsPerSequence: Int {
        let slots = min(limits.sequencesPerDispatchMax, device.rowsMax)
        let prefillRows = min(limits.prefillRowsPerDispatchMax, device.rowsMax - slots)
        let spare = device.rowsMax - slots - max(prefillRows, 1)
        return min(Limits.Speculation.draftLengthMax, max(spare / max(slots, 1), 0))
    }

    /// Times the device on a scratch sequence once, on the loop's thread
    /// (the device's only caller), before the first dispatch that drafts:
    /// the governors weigh draft lengths on it from the first reply.
    private func calibrateIfSpeculating(_ sequences: [EngineSequence]) {
        guard !costCalibrated, sequences.contains(where: \.speculates) else { return }
        costCalibrated = true
        do {
            try costModel.calibrate(device: device, clock: dispatchClock)
        } catch {
            // The governors learn the costs from solo dispatches instead.
            log.warn("calibrate failed", ["model": modelName, "error": error])
        }
    }

    /// Picks the sequences of the next dispatch. Caller holds `condition`.
    private func plan() -> [(sequence: EngineSequence, rows: Int)] {
        let busy = Set(active.map(\.tenant)).union(
            queues.filter { $0.value.contains { $0.isReleased } }.keys)
        share.backlog(busy)
        let candidates = active.enumerated().map { index, sequence in
            FairShare.Candidate(
                index: index, tenant: sequence.tenant, prefillRows: sequence.prefillRows,
                lastDispatch: sequence.lastDispatch)
        }
        // The batch fits the device: decode rows first, prefill in what is left.
        let slots = min(limits.sequencesPerDispatchMax, device.rowsMax)
        let prefillRows = min(limits.prefillRowsPerDispatchMax, device.rowsMax - slots)
        let picks = share.plan(candidates, slots: slots, prefillRows: max(prefillRows, 1))
        return picks.map { (active[$0.index], $0.rows) }
    }
}

// MARK: - Reporting

extension ModelEngine {
    /// Counts a charge toward the tenant's Motes per minute.
    func record(microMotes: Int64, tenant: String) {
        condition.withLock {
            counters.record(microMotes: microMotes, tenant: tenant, at: clock.now())
        }
    }

    /// What the engine is doing now.
    func status() -> ModelStatus {
        ModelStatus(snapshot())
    }

    /// The engine's figures, copied under the lock.
    func snapshot() -> EngineSnapshot {
        condition.withLock {
            EngineSnapshot(
                modelName: modelName, device: device.name, now: clock.now(),
                tenants: share.tenants, counters: counters,
                queued: queues.mapValues(\.count),
                active: Dictionary(grouping: active, by: \.tenant).mapValues(\.count),
                cachedConversations: conversations.count, cachedPrefixes: prefixes.count)
        }
    }
}
