import Foundation
import Inference
import Support

/// Runs one generation at a time on the caller's thread, keeping each
/// conversation's sequence between turns so its earlier turns are not
/// computed again.
final class SerialRunner: @unchecked Sendable {
    let metrics: (any MetricsSink)?
    /// Serialises generations: one device, one sequence at a time.
    private let lock = NSLock()
    /// Kept sequences by persona and conversation, least recently used
    /// first. Guarded by `lock`.
    private var conversations: [(key: String, sequence: TokenSequence)] = []

    init(metrics: (any MetricsSink)?) {
        self.metrics = metrics
    }

    /// Generates the reply to `prepared`, handing each id to `onToken`.
    func run(
        _ prepared: PreparedRequest, cancellation: Cancellation, onToken: (Int) -> Void
    ) throws -> GenerationStats {
        try lock.withLock {
            let key = prepared.request.conversation.map { "\(prepared.tenant)\u{0}\($0)" }
            let sequence =
                key.flatMap(take) ?? prepared.model.makeSequence(capacity: prepared.contextTokens)
            var sampler = Sampler(settings: prepared.sampling)
            let device = MeteredDevice(
                prepared.model.device, model: prepared.model.name, metrics: metrics)
            let stats = try Generator(device: device).generate(
                prompt: prepared.prompt, on: sequence, maxTokens: prepared.maxTokens,
                sampler: &sampler, stopIDs: prepared.model.stopIDs
            ) { id in
                onToken(id)
                return !cancellation.isCancelled
            }
            if let key { keep(sequence, key: key) }
            return stats
        }
    }

    /// The kept sequence for `key`, taken out of the cache.
    private func take(_ key: String) -> TokenSequence? {
        guard let index = conversations.firstIndex(where: { $0.key == key }) else { return nil }
        return conversations.remove(at: index).sequence
    }

    private func keep(_ sequence: TokenSequence, key: String) {
        conversations.append((key, sequence))
        if conversations.count > Limits.Host.conversationsCachedMax {
            conversations.removeFirst()
        }
    }
}

/// A device that reports each dispatch to the metrics.
final class MeteredDevice: Device {
    let base: Device
    let model: String
    let metrics: (any MetricsSink)?

    init(_ base: Device, model: String, metrics: (any MetricsSink)?) {
        self.base = base
        self.model = model
        self.metrics = metrics
    }

    var name: String { base.name }
    var detail: String { base.detail }

    func makeCache(capacity: Int) -> KVCache {
        base.makeCache(capacity: capacity)
    }

    func dispatch(_ rows: [BatchRow]) throws -> Logits {
        let start = ContinuousClock.now
        do {
            let logits = try base.dispatch(rows)
            record(rows, start: start, completed: true)
            return logits
        } catch {
            record(rows, start: start, completed: false)
            throw error
        }
    }

    private func record(_ rows: [BatchRow], start: ContinuousClock.Instant, completed: Bool) {
        guard let metrics else { return }
        metrics.record(
            DispatchRecord(
                time: Date(), device: base.name, model: model, sequences: 1,
                positions: rows.count, elapsedMs: (ContinuousClock.now - start).milliseconds,
                completed: completed))
    }
}
