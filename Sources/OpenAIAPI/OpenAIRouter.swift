import Foundation
import HTTPServer
import Host
import Support
import Synchronization

/// The OpenAI-compatible API over a `CompletionService`: its routes, its
/// access checks, and the shape of its errors.
///
/// | route | answer |
/// |---|---|
/// | `GET /health` | `{"status": "ok"}`, without a token |
/// | `GET /metrics` | Prometheus text from the metrics closure |
/// | `GET /v1/models`, `GET /v1/models/{id}` | personas as models |
/// | `POST /v1/chat/completions` | a chat reply, whole or streamed |
/// | `POST /v1/completions` | a raw completion, whole or streamed |
public final class OpenAIRouter: HTTPResponder {
    public let service: any CompletionService
    public let policy: AccessPolicy
    /// Prometheus text exposition of the host's metrics.
    public let metrics: @Sendable () -> String
    /// False once the host begins to shut down: new requests get 503 while
    /// those in flight run on.
    private let accepting = Atomic<Bool>(true)

    /// A route: its method and how it answers.
    private enum Route {
        case health, metrics, models, model(String), chat, text

        /// The one method the route takes.
        var method: String {
            switch self {
            case .chat, .text: return "POST"
            default: return "GET"
            }
        }
    }

    public init(
        service: any CompletionService, token: APIToken,
        metrics: @escaping @Sendable () -> String = { "" }
    ) {
        self.service = service
        self.policy = AccessPolicy(token: token)
        self.metrics = metrics
    }

    /// Refuses every new request from now on (503), so that a draining host
    /// is not handed more work; requests already admitted are unaffected.
    public func refuseNewRequests() {
        accepting.store(false, ordering: .relaxed)
    }

    /// Access, route, method and content type: all decided before the body.
    public func screen(_ head: HTTPRequestHead) -> HTTPResponse? {
        if let refusal = policy.check(head) {
            return refusal.response
        }
        guard accepting.load(ordering: .relaxed) else {
            return OpenAIError(
                status: 503, type: "server_error", code: "shutting_down",
                message: "the host is shutting down; try again once it is back"
            ).response
        }
        guard let route = Self.route(head.path) else {
            return OpenAIError.notFound(
                nil, code: "unknown_url", "no route for \(head.method) \(head.path.prefix(128))"
            ).response
        }
        guard head.method == route.method else {
            var response = OpenAIError.methodNotAllowed(
                head.method, path: head.path, allowed: route.method
            ).response
            response.headers.add("Allow", route.method)
            return response
        }
        if route.method == "POST" {
            return Self.checkContentType(head.headers)?.response
        }
        return nil
    }

    /// A JSON body, said so: a browser cannot send this type to another
    /// origin without asking first, which we never grant.
    private static func checkContentType(_ headers: HTTPHeaders) -> OpenAIError? {
        let type = headers["Content-Type"]?.split(separator: ";").first
            .map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        guard type == "application/json" else {
            return OpenAIError(
                status: 415, type: "invalid_request_error", code: "unsupported_media_type",
                message: "send the body as Content-Type: application/json"
                    + " (found \(headers["Content-Type"]?.prefix(64) ?? "none"))")
        }
        return nil
    }

    public func respond(to request: HTTPRequest, client: HTTPClient) -> HTTPResponse {
        guard let route = Self.route(request.path) else {
            preconditionFailure("screen lets only routed paths through: \(request.path)")
        }
        switch route {
        case .health:
            return Self.json(OpenAIJSON.encode(HealthShape()))
        case .metrics:
            return HTTPResponse(
                status: 200,
                headers: HTTPHeaders([("Content-Type", "text/plain; version=0.0.4; charset=utf-8")]
                ),
                body: .bytes(Data(metrics().utf8)))
        case .models:
            let entries = service.personas().map { ModelEntry(id: $0.name) }
            return Self.json(OpenAIJSON.encode(ModelList(data: entries)))
        case .model(let name):
            guard service.personas().contains(where: { $0.name == name }) else {
                return OpenAIError.from(HostError.unknownPersona(name: name)).response
            }
            return Self.json(OpenAIJSON.encode(ModelEntry(id: name)))
        case .chat, .text:
            return complete(request, route: route, client: client)
        }
    }

    /// Reads a completion request and runs it.
    private func complete(_ request: HTTPRequest, route: Route, client: HTTPClient) -> HTTPResponse
    {
        do {
            let parsed = try {
                () throws(OpenAIError) -> APIRequest in
                if case .chat = route {
                    return try APIRequest.chat(request.body)
                }
                return try APIRequest.text(request.body)
            }()
            return CompletionRunner(service: service, request: parsed, client: client).respond()
        } catch {
            return error.response
        }
    }

    /// The route for `path`, or nil.
    private static func route(_ path: String) -> Route? {
        switch path {
        case "/health": return .health
        case "/metrics": return .metrics
        case "/v1/models": return .models
        case "/v1/chat/completions": return .chat
        case "/v1/completions": return .text
        default:
            let prefix = "/v1/models/"
            guard path.hasPrefix(prefix), path.count > prefix.count else { return nil }
            return .model(String(path.dropFirst(prefix.count)))
        }
    }

    private static func json(_ body: Data) -> HTTPResponse {
        HTTPResponse(
            status: 200, headers: HTTPHeaders([("Content-Type", "application/json")]),
            body: .bytes(body))
    }
}
