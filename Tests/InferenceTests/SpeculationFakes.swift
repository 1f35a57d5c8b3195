import Inference
import Support

/// A device whose logits depend only on the token of each row: a Markov
/// chain over a small vocabulary, so that the exact distribution of any
/// continuation is known. It counts dispatches and rows.
final class MarkovDevice: Device {
    let name = "markov"
    let detail = "test chain"
    let rowsMax = 512
    /// logits[token] is the row of logits after `token`: [vocabulary][vocabulary].
    let table: [[Float]]
    private(set) var dispatches = 0
    private(set) var rows = 0
    /// Logits of the last dispatch: [rowsCapacity][vocabulary].
    private var buffer: UnsafeMutablePointer<Float>
    private var rowsCapacity = 1

    init(table: [[Float]]) {
        precondition(table.allSatisfy { $0.count == table.count }, "a square table")
        self.table = table
        buffer = .allocate(capacity: table.count)
    }

    deinit {
        buffer.deallocate()
    }

    var vocabularySize: Int { table.count }

    func makeCache(capacity: Int) -> KVCache {
        KVCache(capacity: capacity, layerCount: 1, kvDimension: 1)
    }

    func dispatch(_ batch: [BatchRow]) throws -> Logits {
        dispatches += 1
        rows += batch.count
        let wanted = batch.filter(\.wantsLogits)
        if wanted.count > rowsCapacity {
            buffer.deallocate()
            rowsCapacity = wanted.count
            buffer = .allocate(capacity: rowsCapacity * table.count)
        }
        for row in batch {
            precondition(row.position <= row.cache.count, "a gap in the cache")
            row.cache.count = max(row.cache.count, row.position + 1)
        }
        for (slot, row) in wanted.enumerated() {
            (buffer + slot * table.count).update(from: table[row.token], count: table.count)
        }
        return Logits(base: buffer, rowCount: wanted.count, vocabularySize: table.count)
    }
}

/// A drafter that proposes what it is told: a fixed continuation per last
/// token, optionally drawn from its own distribution `q`.
final class ScriptedDrafter: Drafter {
    let name = "scripted"
    /// The tokens proposed after each last token.
    var script: [Int: [Int]] = [:]
    /// When set, each drafted token is drawn from `q[last token]` instead.
    var q: [[Float]]?
    private var random = SplitMix64(seed: 7)
    private(set) var proposals = 0

    func propose(after history: [Int], countMax: Int) -> Draft {
        proposals += 1
        if let q {
            var tokens: [Int] = []
            var distributions: [TokenDistribution] = []
            var last = history.last!
            for _ in 0..<countMax {
                let distribution = TokenDistribution(
                    ids: Array(q[last].indices), probabilities: q[last])
                last = distribution.draw(unit: random.nextUnit())
                tokens.append(last)
                distributions.append(distribution)
            }
            return Draft(tokens: tokens, distributions: distributions, source: name)
        }
        let tokens = script[history.last!] ?? []
        return Draft(tokens: Array(tokens.prefix(countMax)), source: name)
    }
}

/// A cost model with fixed figures: `base + perRow * rows` seconds.
final class FixedCostModel: DispatchCostModel, @unchecked Sendable {
    var base: Double
    var perRow: Double

    init(base: Double, perRow: Double) {
        self.base = base
        self.perRow = perRow
    }

    func cost(rows: Int) -> Duration? {
        .seconds(base + perRow * Double(rows))
    }

    func observe(rows: Int, elapsed: Duration) {}
}
