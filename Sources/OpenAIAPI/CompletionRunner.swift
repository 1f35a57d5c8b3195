import Foundation
import HTTPServer
import Host
import Support

/// Runs one API request on the host and shapes the answer: whole, or as
/// server-sent events token by token.
///
/// Either way the generation is cancelled within one dispatch when the
/// client goes away or a stop string is met, and the host charges only the
/// tokens produced up to then.
struct CompletionRunner {
    let service: any CompletionService
    let request: APIRequest
    let client: HTTPClient
    /// Unix seconds when the request came in.
    let created = Int(Date().timeIntervalSince1970)
    private let log = Log("openai")

    init(service: any CompletionService, request: APIRequest, client: HTTPClient) {
        self.service = service
        self.request = request
        self.client = client
    }

    /// `chatcmpl-…` or `cmpl-…`, after the ledger's request id.
    var id: String {
        let prefix = request.endpoint == .chat ? "chatcmpl-" : "cmpl-"
        return prefix + request.completion.requestId
    }

    /// Answers the request as the client asked.
    func respond() -> HTTPResponse {
        request.fields.stream ? streamed() : whole()
    }

    /// The whole reply in one JSON body.
    private func whole() -> HTTPResponse {
        let cancellation = Cancellation()
        var matcher = StopMatcher(stops: request.fields.stop)
        var text = ""
        do {
            let usage = try service.complete(request.completion, cancellation: cancellation) {
                event in
                guard case .text(let piece) = event else { return }
                text += matcher.push(piece)
                if matcher.isStopped || client.isGone {
                    cancellation.cancel()
                }
            }
            text += matcher.finish()
            let reason = finishReason(usage, stopped: matcher.isStopped)
            let shape = completion(
                object: request.endpoint == .chat ? "chat.completion" : "text_completion",
                content: request.endpoint == .chat ? .message(text) : .text(text),
                finishReason: reason, usage: UsageShape(usage))
            logReply(usage, reason: reason)
            return jsonResponse(OpenAIJSON.encode(shape))
        } catch {
            return OpenAIError.from(error).response
        }
    }

    /// OpenAI's `finish_reason` for how the generation ended.
    func finishReason(_ usage: CompletionUsage, stopped: Bool) -> String {
        if stopped { return "stop" }
        switch usage.stopReason {
        case "length", "context": return "length"
        default: return "stop"
        }
    }

    /// A response shape with this request's id, time and model.
    func completion(
        object: String, content: CompletionShape.Choice.Content?, finishReason: String?,
        usage: UsageShape? = nil
    ) -> CompletionShape {
        CompletionShape(
            id: id, object: object, created: created, model: request.completion.persona,
            choices: content.map {
                [CompletionShape.Choice(content: $0, finishReason: finishReason)]
            }
                ?? [],
            usage: usage)
    }

    private func jsonResponse(_ body: Data) -> HTTPResponse {
        HTTPResponse(
            status: 200,
            headers: HTTPHeaders([
                ("Content-Type", "application/json"),
                ("X-Request-Id", request.completion.requestId),
            ]),
            body: .bytes(body))
    }

    func logReply(_ usage: CompletionUsage, reason: String) {
        log.info(
            "reply",
            [
                "persona": request.completion.persona, "request": request.completion.requestId,
                "tokens": usage.completionTokens, "micro_motes": usage.microMotes,
                "finish": reason, "stop": usage.stopReason, "stream": request.fields.stream,
            ])
    }
}
