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

    /// Guards every field below; the loop waits on it for work.
    private let condition = NSCondition()
    /// Jobs waiting for a sequence, per tenant, oldest first.
    private var queues: [String: [Job]] = [:]
    /// Sequences generating, in admission order.
    private var active: [EngineSequence] = []
    private var share = FairShare()
    private var conversations: ConversationCache
    private var prefixes: PrefixCache
    private(set) var counters = EngineCounters()
    /// False while draining: new jobs are refused as busy.
    private var accepting = true
    private var stopRequested = false
    private var loopRunning = false

    private let log = Log("engine")

    init(
        modelName: String, device: Device, clock: any EngineClock = MonotonicClock(),
        limits: EngineLimits = EngineLimits(), metrics: (any MetricsSink)? = nil
    ) {
        self.modelName = modelName
        self.device = device
        self.clock = clock
        self.limits = limits
        self.metrics = metrics
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

        // The dispatch, outside the lock so that clients can queue meanwhile.
        let rows = planned.map { $0.sequence.rows(limit: $0.rows) }
        let start = clock.now()
        let outcome = Result { try device.dispatch(rows.flatMap { $0 }) }
        let end = clock.now()
        let seconds = (end - start).seconds

        // Sample each sequence's next token, then account and retire.
        condition.withLock {
            counters.record(dispatch: rows.map(\.count), seconds: seconds)
            switch outcome {
            case .success(let logits):
                consume(logits, planned: planned, rows: rows, seconds: seconds, now: end)
            case .failure(let error):
                fail(planned.map(\.sequence), error: error, now: end)
            }
            retireFinished()
        }
        report(rows: rows, seconds: seconds, completed: (try? outcome.get()) != nil)
        return true
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
        let picks = share.plan(
            candidates, slots: limits.sequencesPerDispatchMax,
            prefillRows: limits.prefillRowsPerDispatchMax)
        return picks.map { (active[$0.index], $0.rows) }
    }
}

// MARK: - Sequences in and out

extension ModelEngine {
    /// Moves released jobs into free slots. A tenant with no sequence goes
    /// first, then the one with the fewest sequences for its weight, then
    /// the least served: no persona is starved of slots by another's long
    /// generations. Caller holds `condition`.
    private func admit(now: Duration) {
        while active.count < limits.activeSequencesMax {
            let ready = queues.filter { $0.value.contains { $0.isReleased } }.keys
            let holding = Dictionary(grouping: active, by: \.tenant).mapValues(\.count)
            let idle = ready.filter { holding[$0] == nil }
            let load = { (name: String) -> Double in
                let weight = self.share.tenants[name]?.weight ?? 1
                return Double(holding[name, default: 0] + 1) / Double(weight)
            }
            let lightest = ready.map(load).min()
            let choices = idle.isEmpty ? ready.filter { load($0) == lightest } : idle
            guard let tenant = share.first(among: choices),
                let index = queues[tenant]?.firstIndex(where: { $0.isReleased })
            else { return }
            let job = queues[tenant]!.remove(at: index)
            active.append(sequence(for: job, now: now))
        }
    }

    /// A sequence for `job`, starting from its kept conversation, else from
    /// its persona's prefilled prefix, else from nothing.
    private func sequence(for job: Job, now: Duration) -> EngineSequence {
        let spec = job.spec

        // A kept conversation: reuse what it shares with the new prompt; the
        // last prompt id is always computed, since its logits pick the reply.
        if let key = spec.conversationKey, let kept = conversations.take(key),
            kept.cache.capacity >= spec.capacity
        {
            let shared = min(commonPrefix(kept.ids, spec.prompt), spec.prompt.count - 1)
            kept.cache.truncate(to: shared)
            return EngineSequence(
                job: job, cache: kept.cache, cachedIds: Array(spec.prompt.prefix(shared)),
                now: now)
        }

        // The persona's prefix, copied rather than computed.
        let cache = device.makeCache(capacity: spec.capacity)
        let prefix = spec.personaPrefix
        if !prefix.isEmpty, spec.prompt.count > prefix.count, spec.prompt.starts(with: prefix),
            let entry = prefixes.lookup(tenant: spec.tenant, prefix: prefix)
        {
            cache.copyPrefix(of: entry.cache, count: prefix.count)
            return EngineSequence(job: job, cache: cache, cachedIds: prefix, now: now)
        }
        return EngineSequence(job: job, cache: cache, cachedIds: [], now: now)
    }

    /// Ends cancelled sequences and queued jobs within this step. Caller
    /// holds `condition`.
    private func endCancelled(now: Duration) {
        for sequence in active where sequence.job.cancellation.isCancelled {
            sequence.end(.cancelled, now: now)
        }
        for tenant in queues.keys {
            let cancelled = queues[tenant]!.filter { $0.cancellation.isCancelled }
            guard !cancelled.isEmpty else { continue }
            queues[tenant]!.removeAll { $0.cancellation.isCancelled }
            for job in cancelled {
                var result = JobResult()
                result.stats.stopReason = .cancelled
                job.finish(.success(result))
            }
        }
    }

    /// Hands finished sequences back to their clients and keeps their
    /// caches for the conversation's next turn. Caller holds `condition`.
    private func retireFinished() {
        let finished = active.filter(\.isFinished)
        guard !finished.isEmpty else { return }
        active.removeAll(where: \.isFinished)
        for sequence in finished {
            let spec = sequence.job.spec
            if let key = spec.conversationKey, sequence.stopReason != nil {
                conversations.keep(
                    CachedSequence(cache: sequence.cache, ids: sequence.ids), key: key)
            }
            counters.record(reply: sequence.result)
            counters.recordReply(tenant: spec.tenant)
            sequence.job.finish(.success(sequence.result))
        }
    }

    /// Takes one dispatch's logits into the sequences that rode it.
    private func consume(
        _ logits: Logits, planned: [(sequence: EngineSequence, rows: Int)],
        rows: [[BatchRow]], seconds: Double, now: Duration
    ) {
        let rowCount = rows.reduce(0) { $0 + $1.count }
        var logitsRow = 0
        var rowsByTenant: [String: Int] = [:]
        for (index, (sequence, _)) in planned.enumerated() {
            let wants = rows[index].last?.wantsLogits ?? false
            let token = sequence.consume(logits, row: wants ? logitsRow : nil, now: now)
            if wants { logitsRow += 1 }
            if let token {
                sequence.job.emit(token)
                counters.record(tokens: 1, tenant: sequence.tenant, at: now)
            }
            sequence.deviceSeconds += seconds * Double(rows[index].count) / Double(rowCount)
            sequence.lastDispatch = counters.dispatches
            rowsByTenant[sequence.tenant, default: 0] += rows[index].count
            keepPrefix(of: sequence)
        }
        share.attribute(rows: rowsByTenant, seconds: seconds)
        let total = Double(rowsByTenant.values.reduce(0, +))
        for (tenant, count) in rowsByTenant {
            counters.record(
                deviceSeconds: seconds * Double(count) / total, tenant: tenant, at: now)
        }
    }

    /// Keeps the persona's prefix once a sequence has computed it.
    private func keepPrefix(of sequence: EngineSequence) {
        let spec = sequence.job.spec
        let prefix = spec.personaPrefix
        guard !prefix.isEmpty, sequence.stats.cachedPromptTokens < prefix.count,
            sequence.ids.count >= prefix.count, sequence.ids.starts(with: prefix),
            prefixes.lookup(tenant: spec.tenant, prefix: prefix) == nil
        else { return }
        prefixes.store(tenant: spec.tenant, prefix: prefix, from: sequence.cache, device: device)
        log.info("prefix", ["tenant": spec.tenant, "tokens": prefix.count, "model": modelName])
    }

    /// Ends the sequences of a dispatch that threw; their caches are dropped.
    private func fail(_ sequences: [EngineSequence], error: any Error, now: Duration) {
        for sequence in sequences {
            sequence.end(.cancelled, now: now)
            active.removeAll { $0 === sequence }
            sequence.job.finish(.failure(error))
        }
        log.error("dispatch failed", ["model": modelName, "error": error])
    }

    private func report(rows: [[BatchRow]], seconds: Double, completed: Bool) {
        metrics?.record(
            DispatchRecord(
                time: Date(), device: device.name, model: modelName, sequences: rows.count,
                positions: rows.reduce(0) { $0 + $1.count }, elapsedMs: seconds * 1000,
                completed: completed))
    }

    private func commonPrefix(_ a: [Int], _ b: [Int]) -> Int {
        var n = 0
        while n < a.count && n < b.count && a[n] == b[n] {
            n += 1
        }
        return n
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
        condition.withLock {
            let now = clock.now()
            let span = min(Double(Self.rateSpanSeconds), max(now.seconds, 1))
            let total = share.tenants.values.reduce(0) { $0 + $1.deviceSeconds }
            let recentTotal = counters.tenants.values.reduce(0) {
                $0 + $1.deviceWindow.sum(last: RateWindow.seconds, now: now)
            }
            let names = Set(share.tenants.keys).union(counters.tenants.keys).sorted()
            let personas = names.map { name in
                let tenant = share.tenants[name] ?? FairShare.Tenant(weight: 1)
                let figures = counters.tenants[name] ?? EngineCounters.Tenant()
                let recent = figures.deviceWindow.sum(last: RateWindow.seconds, now: now)
                let minute = min(Double(RateWindow.seconds), max(now.seconds, 1))
                return PersonaStatus(
                    name: name, weight: tenant.weight,
                    queueDepth: queues[name]?.count ?? 0,
                    activeSequences: active.filter { $0.tenant == name }.count,
                    tokensPerSecond: figures.tokenWindow.sum(last: Self.rateSpanSeconds, now: now)
                        / span,
                    deviceShare: total > 0 ? tenant.deviceSeconds / total : 0,
                    recentDeviceShare: recentTotal > 0 ? recent / recentTotal : 0,
                    deviceSeconds: tenant.deviceSeconds, rows: tenant.rows,
                    motesPerMinute: figures.microMotesWindow.sum(
                        last: RateWindow.seconds, now: now) / 1e6 * 60 / minute,
                    tokens: figures.tokens, replies: figures.replies, refused: figures.refused)
            }
            return ModelStatus(
                name: modelName, device: device.name, activeSequences: active.count,
                queued: queues.values.reduce(0) { $0 + $1.count },
                dispatches: counters.dispatches, rows: counters.rows,
                deviceSeconds: counters.deviceSeconds, rowsLargest: counters.rowsLargest,
                batchSizes: counters.batchSizes.sorted { $0.key < $1.key }.map {
                    BatchSizeCount(sequences: $0.key, dispatches: $0.value)
                },
                cachedConversations: conversations.count, cachedPrefixes: prefixes.count,
                personas: personas)
        }
    }

    /// Seconds over which `asth ps` averages tok/s.
    static let rateSpanSeconds = 10
}
