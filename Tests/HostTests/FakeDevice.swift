import Foundation
import Inference
import Synchronization

@testable import Host

/// A clock the test advances by hand (the fake device advances it by the
/// cost of each dispatch).
final class FakeClock: EngineClock {
    private let time = Mutex<Duration>(.zero)

    func now() -> Duration { time.withLock { $0 } }

    func advance(by duration: Duration) {
        time.withLock { $0 += duration }
    }
}

/// A device with no model: each dispatch costs `fixed + perRow × rows` on
/// the fake clock, and its logits pick a token from the row's position and
/// token, so replies are deterministic and never stop by themselves.
final class FakeDevice: Device, @unchecked Sendable {
    let name = "fake"
    let detail = "test double"
    let clock: FakeClock
    let fixed: Duration
    let perRow: Duration
    /// Tokens the logits pick from: ids 0..<vocabularySize.
    static let vocabularySize = 16

    /// Every dispatch's rows, as (cache, position, token).
    private(set) var dispatched: [[(cache: ObjectIdentifier, position: Int, token: Int)]] = []
    private let logits: UnsafeMutablePointer<Float>  // [rowsMax][vocabularySize]
    private static let rowsMax = 4096

    init(
        clock: FakeClock, fixed: Duration = .milliseconds(2), perRow: Duration = .microseconds(500)
    ) {
        self.clock = clock
        self.fixed = fixed
        self.perRow = perRow
        logits = .allocate(capacity: Self.rowsMax * Self.vocabularySize)
    }

    deinit {
        logits.deallocate()
    }

    func makeCache(capacity: Int) -> KVCache {
        KVCache(capacity: capacity, layerCount: 1, kvDimension: 1)
    }

    /// The token the logits of a row at `position` with `token` pick.
    static func pick(position: Int, token: Int) -> Int {
        (position * 7 + token * 3 + 1) % vocabularySize
    }

    func dispatch(_ rows: [BatchRow]) throws -> Logits {
        precondition(!rows.isEmpty && rows.count <= Self.rowsMax, "fake batch of \(rows.count)")
        dispatched.append(rows.map { (ObjectIdentifier($0.cache), $0.position, $0.token) })
        clock.advance(by: fixed + perRow * rows.count)
        var out = 0
        for row in rows {
            precondition(row.position <= row.cache.count, "gap at \(row.position)")
            row.cache.count = max(row.cache.count, row.position + 1)
            guard row.wantsLogits else { continue }
            let base = logits + out * Self.vocabularySize
            base.initialize(repeating: 0, count: Self.vocabularySize)
            base[Self.pick(position: row.position, token: row.token)] = 1
            out += 1
        }
        return Logits(base: logits, rowCount: out, vocabularySize: Self.vocabularySize)
    }
}

/// A job spec for the fake device: greedy, no stop ids.
func fakeSpec(
    _ tenant: String, weight: Int = 1, prompt: [Int] = [1, 2, 3], prefix: [Int] = [],
    maxTokens: Int = 100_000, conversation: String? = nil
) -> JobSpec {
    JobSpec(
        tenant: tenant, weight: weight, prompt: prompt, personaPrefix: prefix,
        maxTokens: maxTokens, capacity: prompt.count + maxTokens, sampling: .greedy,
        stopIDs: [],
        conversationKey: conversation.map {
            ConversationCache.key(tenant: tenant, conversation: $0)
        })
}
