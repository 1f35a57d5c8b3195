import Foundation
import HTTPServer
import Host

extension CompletionRunner {
    /// The reply as server-sent events: a chunk per piece of text, a last
    /// chunk with `finish_reason`, a `usage` chunk when asked for, then
    /// `data: [DONE]`.
    ///
    /// The status is decided by the first thing the host does: a refusal
    /// before any text (unknown persona, over budget, busy) is answered with
    /// its own status and no stream; once text flows the answer is 200 and a
    /// later failure arrives as an `error` event.
    func streamed() -> HTTPResponse {
        let stream = HTTPStream(client: client)
        let cancellation = Cancellation()
        stream.onClientGone { cancellation.cancel() }
        let gate = StreamGate()
        Thread.detachNewThread {
            generate(into: stream, gate: gate, cancellation: cancellation)
        }

        // Wait for the first text or a refusal; a client that leaves while
        // its request is queued or prefilled cancels it.
        let outcome = gate.wait {
            if client.isGone {
                cancellation.cancel()
            }
        }
        switch outcome {
        case .failed(let error):
            return OpenAIError.from(error).response
        case .opened:
            let headers = HTTPHeaders([
                ("Content-Type", "text/event-stream; charset=utf-8"),
                ("Cache-Control", "no-cache"),
                ("X-Accel-Buffering", "no"),
                ("X-Request-Id", request.completion.requestId),
            ])
            return HTTPResponse(status: 200, headers: headers, body: .stream(stream))
        }
    }

    /// Runs the generation on its own thread, writing events to `stream`.
    private func generate(into stream: HTTPStream, gate: StreamGate, cancellation: Cancellation) {
        var writer = EventWriter(runner: self, stream: stream, cancellation: cancellation)
        var matcher = StopMatcher(stops: request.fields.stop)
        do {
            let usage = try service.complete(request.completion, cancellation: cancellation) {
                event in
                guard case .text(let piece) = event else { return }
                gate.open()
                writer.text(matcher.push(piece))
                if matcher.isStopped {
                    cancellation.cancel()
                }
            }
            gate.open()
            writer.text(matcher.finish())
            let reason = finishReason(usage, stopped: matcher.isStopped)
            writer.finish(reason: reason, usage: usage)
            logReply(usage, reason: reason)
        } catch {
            guard !gate.fail(error) else { return }
            writer.error(OpenAIError.from(error))
        }
        stream.finish()
    }
}

/// Writes one stream's events in order: the role, the pieces, the end.
private struct EventWriter {
    let runner: CompletionRunner
    let stream: HTTPStream
    let cancellation: Cancellation
    private var sentRole = false

    init(runner: CompletionRunner, stream: HTTPStream, cancellation: Cancellation) {
        self.runner = runner
        self.stream = stream
        self.cancellation = cancellation
    }

    private var isChat: Bool { runner.request.endpoint == .chat }
    private var chunkObject: String { isChat ? "chat.completion.chunk" : "text_completion" }

    /// A piece of text (nothing for an empty one), after the role chunk.
    mutating func text(_ piece: String) {
        if isChat && !sentRole {
            sentRole = true
            send(
                runner.completion(
                    object: chunkObject, content: .delta(role: "assistant", content: ""),
                    finishReason: nil))
        }
        guard !piece.isEmpty else { return }
        send(
            runner.completion(
                object: chunkObject,
                content: isChat ? .delta(role: nil, content: piece) : .text(piece),
                finishReason: nil))
    }

    /// The chunk with `finish_reason`, the usage chunk if asked, `[DONE]`.
    mutating func finish(reason: String, usage: CompletionUsage) {
        text("")
        send(
            runner.completion(
                object: chunkObject, content: isChat ? .delta(role: nil, content: nil) : .text(""),
                finishReason: reason))
        if runner.request.fields.includeUsage {
            send(
                runner.completion(
                    object: chunkObject, content: nil, finishReason: nil, usage: UsageShape(usage)))
        }
        write(Data("data: [DONE]\n\n".utf8))
    }

    /// A failure after the stream began: one `error` event, no `[DONE]`.
    func error(_ error: OpenAIError) {
        write(Data("data: ".utf8) + error.body + Data("\n\n".utf8))
    }

    private func send(_ shape: CompletionShape) {
        write(Data("data: ".utf8) + OpenAIJSON.encode(shape) + Data("\n\n".utf8))
    }

    /// Writes, cancelling the generation if the client is gone.
    private func write(_ bytes: Data) {
        if !stream.write(bytes) {
            cancellation.cancel()
        }
    }
}

/// Holds a stream's response until the generation shows how it starts:
/// with text (200) or with a refusal (its own status).
final class StreamGate: @unchecked Sendable {
    enum Outcome {
        /// Text came, or the generation ended without any: stream it.
        case opened
        /// The host refused before any text.
        case failed(Error)
    }

    /// nil while undecided. Guarded by `condition`.
    private var outcome: Outcome?
    private let condition = NSCondition()

    /// How often `wait` runs its check while undecided.
    static let checkIntervalSeconds: TimeInterval = 0.02

    /// Decides for the stream; later calls change nothing.
    func open() {
        condition.withLock {
            if outcome == nil {
                outcome = .opened
                condition.broadcast()
            }
        }
    }

    /// Decides for the refusal unless the stream already opened; true if it
    /// was decided here.
    func fail(_ error: Error) -> Bool {
        condition.withLock {
            guard outcome == nil else { return false }
            outcome = .failed(error)
            condition.broadcast()
            return true
        }
    }

    /// Blocks until decided, running `check` every `checkIntervalSeconds`.
    func wait(check: () -> Void) -> Outcome {
        while true {
            let decided = condition.withLock { () -> Outcome? in
                if outcome == nil {
                    _ = condition.wait(
                        until: Date.now.addingTimeInterval(Self.checkIntervalSeconds))
                }
                return outcome
            }
            if let decided {
                return decided
            }
            check()
        }
    }
}
