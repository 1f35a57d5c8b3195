import Foundation
import Host
import Personas
import Synchronization
import Tokenizer

@testable import Ledger

/// A deterministic `CompletionService`: each persona replies with the
/// tokens `w0 w1 w2 …`, one per "dispatch", and some personas misbehave on
/// purpose, by name.
///
/// | persona | behaviour |
/// |---|---|
/// | `assistant`, `pirate`, `tutor`, `critic` | a reply of `replyTokens` tokens |
/// | `slow` | 2,000 tokens, `slowTokenMs` apart (for cancellation) |
/// | `broke` | refused: over budget (402) |
/// | `busy` | refused: queue full, retry in 3 s (429) |
/// | `failing` | throws after two tokens (500, or an error event) |
final class FakeHost: CompletionService {
    static let replyTokens = 12
    static let slowTokenMs = 20
    /// Characters per prompt "token", and the context in tokens.
    static let charactersPerToken = 4
    static let contextTokens = 256

    /// When each of the `slow` persona's tokens was made.
    let slowTokenTimes = Mutex<[ContinuousClock.Instant]>([])

    /// What each finished (or cut) generation was asked and did, in order.
    let finished = Mutex<[(request: CompletionRequest, usage: CompletionUsage)]>([])

    func personas() -> [Persona] {
        ["assistant", "pirate", "tutor", "critic", "slow", "broke", "busy", "failing"].map {
            Persona(name: $0, model: .store(name: "fake-model"), maxTokens: 100)
        }
    }

    /// The reply's `index`th piece.
    static func piece(_ index: Int) -> String { "w\(index) " }

    /// The whole reply of `count` tokens.
    static func reply(_ count: Int) -> String { (0..<count).map(piece).joined() }

    /// Micro-Motes charged: 1,000 per output token, 10 per prompt token.
    static func charge(prompt: Int, output: Int) -> Int64 { Int64(output * 1_000 + prompt * 10) }

    func complete(
        _ request: CompletionRequest, cancellation: Cancellation,
        events: (CompletionEvent) -> Void
    ) throws -> CompletionUsage {
        let promptTokens = try admit(request)
        let persona = personas().first { $0.name == request.persona }!
        let maxTokens = request.maxTokens ?? persona.maxTokens
        let planned = request.persona == "slow" ? 2_000 : Self.replyTokens

        // Generate: one token per dispatch, checking cancellation before each.
        var usage = CompletionUsage()
        usage.promptTokens = promptTokens
        usage.cachedPromptTokens = promptTokens / 2
        usage.stopReason = "end"
        for index in 0..<planned {
            if cancellation.isCancelled {
                usage.stopReason = "cancelled"
                break
            }
            if index == maxTokens {
                usage.stopReason = "length"
                break
            }
            if request.persona == "failing" && index == 2 {
                record(request, usage)
                throw FakeFailure()
            }
            if request.persona == "slow" {
                Thread.sleep(forTimeInterval: Double(Self.slowTokenMs) / 1_000)
                slowTokenTimes.withLock { $0.append(.now) }
            }
            usage.completionTokens += 1
            usage.dispatches += 1
            events(.text(Self.piece(index)))
        }
        usage.draftedTokens = 3
        usage.acceptedTokens = 2
        usage.elapsedMs = 1.5
        usage.microMotes = Self.charge(prompt: promptTokens, output: usage.completionTokens)
        events(.done(usage))
        record(request, usage)
        return usage
    }

    /// The refusals a host makes before any compute; the prompt's tokens.
    private func admit(_ request: CompletionRequest) throws -> Int {
        guard let persona = personas().first(where: { $0.name == request.persona }) else {
            throw HostError.unknownPersona(name: request.persona)
        }
        if let maxTokens = request.maxTokens, maxTokens > persona.maxTokens {
            throw HostError.badRequest(
                field: "max_tokens", value: String(maxTokens), limit: String(persona.maxTokens))
        }
        let characters: Int
        switch request.input {
        case .chat(let messages): characters = messages.map(\.content.count).reduce(0, +)
        case .raw(let prompt, _): characters = prompt.count
        }
        let promptTokens = characters / Self.charactersPerToken + 1
        if promptTokens >= Self.contextTokens {
            throw HostError.contextExceeded(
                promptTokens: promptTokens, contextTokens: Self.contextTokens)
        }
        switch request.persona {
        case "broke":
            throw HostError.refused(
                Refusal(
                    persona: "broke", available: .zero, estimate: MicroMotes(5_000),
                    refillsAt: nil, allowance: .zero))
        case "busy":
            throw HostError.busy(queueDepth: 64, retryAfterSeconds: 3)
        default:
            return promptTokens
        }
    }

    private func record(_ request: CompletionRequest, _ usage: CompletionUsage) {
        finished.withLock { $0.append((request, usage)) }
    }

    /// The record of the generation with `requestId`.
    func record(of requestId: String) -> (request: CompletionRequest, usage: CompletionUsage)? {
        finished.withLock { list in list.first { $0.request.requestId == requestId } }
    }
}

struct FakeFailure: Error, CustomStringConvertible {
    var description: String { "the fake device failed" }
}
