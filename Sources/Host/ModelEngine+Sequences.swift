import Dispatch
import Foundation
import Inference

// MARK: - Sequences in and out

extension ModelEngine {
    /// Moves released jobs into free slots. A tenant with no sequence goes
    /// first, then the one with the fewest sequences for its weight, then
    /// the least served: no persona is starved of slots by another's long
    /// generations. Caller holds `condition`.
    func admit(now: Duration) {
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
    func sequence(for job: Job, now: Duration) -> EngineSequence {
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
    func endCancelled(now: Duration) {
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
    func retireFinished() {
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

    /// Takes one dispatch's logits into the sequences that rode it, in
    /// parallel: sampling a large vocabulary costs about as much per
    /// sequence as a decode row, and the device's threads are idle now.
    /// Returns each sequence's new tokens: one at most decoding plainly,
    /// the accepted drafts and one more when speculating. `verifyTimes` is
    /// each sequence's share of the dispatch's device time, when known.
    func sample(
        _ logits: Logits, _ sequences: [EngineSequence], rows: [[BatchRow]], now: Duration,
        verifyTimes: [Duration]? = nil
    ) -> [[Int]] {
        // Each sequence's first logits row: the wanting rows, counted in
        // batch order (a prefill chunk wants only its last; drafts all want).
        var firstRows: [Int?] = []
        var next = 0
        for batch in rows {
            let wanting = batch.count { $0.wantsLogits }
            firstRows.append(wanting > 0 ? next : nil)
            next += wanting
        }
        let wanted = firstRows
        nonisolated(unsafe) let sequences = sequences
        nonisolated(unsafe) let logits = logits
        let tokens = UnsafeMutableBufferPointer<[Int]>.allocate(capacity: sequences.count)
        _ = tokens.initialize(from: repeatElement([], count: sequences.count))
        defer {
            tokens.deinitialize()
            tokens.deallocate()
        }
        nonisolated(unsafe) let out = tokens
        DispatchQueue.concurrentPerform(iterations: sequences.count) { index in
            out[index] = sequences[index].consume(
                logits, firstRow: wanted[index], now: now, verifyTime: verifyTimes?[index])
        }
        return Array(tokens)
    }

    /// Hands new tokens to their clients and attributes the dispatch's time
    /// by rows: a speculating sequence pays for its draft rows, accepted or
    /// not. Caller holds `condition`.
    func account(
        _ sequences: [EngineSequence], _ tokens: [[Int]], rows: [[BatchRow]], seconds: Double,
        now: Duration
    ) {
        let rowCount = Double(rows.reduce(0) { $0 + $1.count })
        var rowsByTenant: [String: Int] = [:]
        for (index, sequence) in sequences.enumerated() {
            for token in tokens[index] {
                sequence.job.emit(token)
            }
            if !tokens[index].isEmpty {
                counters.record(tokens: tokens[index].count, tenant: sequence.tenant, at: now)
            }
            sequence.deviceSeconds += seconds * Double(rows[index].count) / rowCount
            sequence.lastDispatch = counters.dispatches
            rowsByTenant[sequence.tenant, default: 0] += rows[index].count
            keepPrefix(of: sequence)
        }
        share.attribute(rows: rowsByTenant, seconds: seconds)
        for (tenant, count) in rowsByTenant {
            counters.record(
                deviceSeconds: seconds * Double(count) / rowCount, tenant: tenant, at: now)
        }
    }

    /// Keeps the persona's prefix once a sequence has computed it.
    func keepPrefix(of sequence: EngineSequence) {
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
    func fail(_ sequences: [EngineSequence], error: any Error, now: Duration) {
        for sequence in sequences {
            sequence.end(.cancelled, now: now)
            active.removeAll { $0 === sequence }
            sequence.job.finish(.failure(error))
        }
        log.error("dispatch failed", ["model": modelName, "error": error])
    }

    /// Sends the dispatch's record, with the drafts it verified.
    func report(
        rows: [[BatchRow]], sequences: [EngineSequence], seconds: Double, completed: Bool
    ) {
        let steps = completed ? sequences.compactMap(\.lastStep) : []
        metrics?.record(
            DispatchRecord(
                time: Date(), device: device.name, model: modelName, sequences: rows.count,
                positions: rows.reduce(0) { $0 + $1.count },
                draftedTokens: steps.reduce(0) { $0 + $1.drafted },
                acceptedTokens: steps.reduce(0) { $0 + $1.accepted }, elapsedMs: seconds * 1000,
                completed: completed))
    }

    func commonPrefix(_ a: [Int], _ b: [Int]) -> Int {
        var n = 0
        while n < a.count && n < b.count && a[n] == b[n] {
            n += 1
        }
        return n
    }
}
