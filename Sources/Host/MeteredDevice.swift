import Foundation
import Inference

/// A device that times every dispatch of the device it wraps and sends a
/// `DispatchRecord` for it to a `MetricsSink`.
///
/// The in-process chat path runs its `Generator` on this wrapper; the
/// scheduler, which sees whole batches, reports its dispatches itself.
final class MeteredDevice: Device {
    let base: Device
    let model: String
    let sink: MetricsSink

    init(base: Device, model: String, sink: MetricsSink) {
        self.base = base
        self.model = model
        self.sink = sink
    }

    var name: String { base.name }
    var detail: String { base.detail }
    var rowsMax: Int { base.rowsMax }

    func makeCache(capacity: Int) -> KVCache {
        base.makeCache(capacity: capacity)
    }

    func dispatch(_ rows: [BatchRow]) throws -> Logits {
        let clock = ContinuousClock()
        let start = clock.now
        let time = Date()
        let sequences = Set(rows.map { ObjectIdentifier($0.cache) }).count
        func record(completed: Bool) {
            sink.record(
                DispatchRecord(
                    time: time, device: base.name, model: model, sequences: sequences,
                    positions: rows.count, elapsedMs: (clock.now - start).milliseconds,
                    completed: completed))
        }
        do {
            let logits = try base.dispatch(rows)
            record(completed: true)
            return logits
        } catch {
            record(completed: false)
            throw error
        }
    }
}
