import Inference

/// A device that passes every dispatch on to a real one and keeps a copy of
/// what went through: the rows and the logits. Deterministic by
/// construction; tests read exact dispatch counts and positions from it.
final class RecordingDevice: Device {
    /// One dispatch as the device saw it.
    struct Dispatch {
        /// (position, token, wantsLogits) of each row, in batch order.
        var rows: [(position: Int, token: Int, wantsLogits: Bool)]
        /// The logits rows it returned, copied: [rows wanting logits][vocabulary].
        var logits: [[Float]]
    }

    let inner: Device
    private(set) var dispatches: [Dispatch] = []

    init(_ inner: Device) {
        self.inner = inner
    }

    var name: String { "recording " + inner.name }
    var detail: String { inner.detail }
    var rowsMax: Int { inner.rowsMax }

    func makeCache(capacity: Int) -> KVCache {
        inner.makeCache(capacity: capacity)
    }

    func dispatch(_ rows: [BatchRow]) throws -> Logits {
        let logits = try inner.dispatch(rows)
        dispatches.append(
            Dispatch(
                rows: rows.map { ($0.position, $0.token, $0.wantsLogits) },
                logits: (0..<logits.rowCount).map(logits.copy)))
        return logits
    }

    /// Positions of every row, dispatch by dispatch.
    var positions: [[Int]] {
        dispatches.map { $0.rows.map(\.position) }
    }
}
