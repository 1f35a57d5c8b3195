import Foundation
import Inference
import Support

/// What an engine needs to run one generation.
struct JobSpec: Sendable {
    /// The scheduler's tenant (the persona) and its weight.
    var tenant: String
    var weight: Int
    var prompt: [Int]
    /// The persona's system turn: a prefix of `prompt` the prefix cache
    /// may hold. Empty when there is none.
    var personaPrefix: [Int] = []
    var maxTokens: Int
    /// Positions the sequence's KV cache holds.
    var capacity: Int
    var sampling: SamplingSettings
    var stopIDs: Set<Int>
    /// The kept sequence to continue, by persona and conversation.
    var conversationKey: String?
    /// How the job drafts and verifies; nil decodes plainly.
    var speculation: JobSpeculation?
}

/// A job's speculator, handed with the job to the engine's thread: the
/// drafter is the job's own (prompt lookup indexes its sequence) and only
/// that thread calls it while the job runs; the client thread lets it learn
/// from the reply once the job has ended.
struct JobSpeculation: @unchecked Sendable {
    /// The speculator, its drafter wrapped so that it never throws.
    let speculator: Speculator
    /// What the decoder times drafting with: the engine device's clock.
    let clock: DispatchClock

    init(speculator: Speculator, clock: DispatchClock) {
        var steady = speculator
        steady.drafter = speculator.drafter.map { SteadyDrafter($0) }
        self.speculator = steady
        self.clock = clock
    }
}

/// A drafter that proposes nothing for a step where the one it wraps
/// throws: a drafter's failure costs speed, never the reply.
final class SteadyDrafter: Drafter {
    let inner: Drafter
    private let log = Log("speculation")

    init(_ inner: Drafter) {
        self.inner = inner
    }

    var name: String { inner.name }
    var sources: [String] { inner.sources }

    func propose(after history: [Int], countMax: Int) -> Draft {
        do {
            return try inner.propose(after: history, countMax: countMax)
        } catch {
            log.warn("propose failed", ["drafter": inner.name, "error": error])
            return .none(inner.name)
        }
    }

    func propose(after history: [Int], countMax: Int, lengths: (String) -> Int) -> Draft {
        do {
            return try inner.propose(after: history, countMax: countMax, lengths: lengths)
        } catch {
            log.warn("propose failed", ["drafter": inner.name, "error": error])
            return .none(inner.name)
        }
    }

    func finish(reply: [Int], after context: [Int]) throws {
        try inner.finish(reply: reply, after: context)
    }
}

/// What a finished generation did.
struct JobResult: Sendable {
    var stats = GenerationStats()
    /// Device seconds attributed to the job's rows.
    var deviceSeconds = 0.0
    /// Prompt positions computed for it: not cached, and not left undone
    /// by a cancellation mid-prefill.
    var promptTokensComputed = 0
}

/// One generation submitted to an engine: its spec, its cancellation, and
/// the channel its tokens come back through to the waiting client thread.
final class Job: @unchecked Sendable {
    let spec: JobSpec
    let cancellation: Cancellation
    /// When it was submitted, on the engine's clock.
    let submittedAt: Duration

    /// Guards every field below and wakes the waiting client.
    private let condition = NSCondition()
    /// Tokens produced and not yet handed to the client.
    private var tokens: [Int] = []
    private var outcome: Result<JobResult, any Error>?
    /// False until the client has placed its hold: the engine leaves the
    /// job queued until then.
    private var released = false

    init(spec: JobSpec, cancellation: Cancellation, submittedAt: Duration) {
        self.spec = spec
        self.cancellation = cancellation
        self.submittedAt = submittedAt
    }

    /// Whether the engine may start it.
    var isReleased: Bool { condition.withLock { released } }

    func release() {
        condition.withLock { released = true }
    }

    /// Hands a produced token to the client.
    func emit(_ token: Int) {
        condition.withLock {
            tokens.append(token)
            condition.signal()
        }
    }

    /// Ends the job; the client's `wait` returns.
    func finish(_ result: Result<JobResult, any Error>) {
        condition.withLock {
            precondition(outcome == nil, "job finished twice")
            outcome = result
            condition.signal()
        }
    }

    var isFinished: Bool { condition.withLock { outcome != nil } }

    /// The tokens produced since the last call, without waiting.
    func takeTokens() -> [Int] {
        condition.withLock {
            defer { tokens.removeAll() }
            return tokens
        }
    }

    /// The outcome, if the job has ended, without waiting.
    var outcomeIfFinished: Result<JobResult, any Error>? {
        condition.withLock { outcome }
    }

    /// Blocks until the job ends, handing each token to `onToken` on the
    /// calling thread as it comes.
    func wait(onToken: (Int) -> Void) throws -> JobResult {
        while true {
            let (batch, end) = condition.withLock {
                while tokens.isEmpty && outcome == nil {
                    condition.wait()
                }
                defer { tokens.removeAll(keepingCapacity: true) }
                return (tokens, tokens.isEmpty ? outcome : nil)
            }
            batch.forEach(onToken)
            if let end { return try end.get() }
        }
    }
}
