import HTTPServer
import Host
import Support

/// The OpenAI-compatible API served over HTTP: a router on a server.
///
/// It listens on loopback unless given another address, and then warns:
/// anything that can reach the port can try the token.
public final class OpenAIServer: Sendable {
    public let router: OpenAIRouter
    private let server: HTTPServer

    /// Starts serving `service` on `address`.
    ///
    /// - Throws: `HTTPServerError` when the address cannot be bound.
    public init(
        service: any CompletionService, address: HTTPAddress, token: APIToken,
        metrics: @escaping @Sendable () -> String = { "" }
    ) throws {
        let log = Log("openai")
        if !address.isLoopback {
            log.warn(
                "listening beyond loopback",
                ["address": address, "advice": "anyone who can reach it can try the token"])
        }
        router = OpenAIRouter(service: service, token: token, metrics: metrics)
        server = try HTTPServer(address: address, responder: router)
        log.info("serving", ["address": server.address, "personas": service.personas().count])
    }

    /// Where it listens, with the port the kernel picked for 0.
    public var address: HTTPAddress { server.address }

    /// The base URL clients use: `http://127.0.0.1:PORT/v1`.
    public var baseURL: String { "http://\(server.address)/v1" }

    /// Answers new requests with 503 from now on; those in flight run on.
    /// The first step of a drain.
    public func refuseNewRequests() {
        router.refuseNewRequests()
    }

    /// Stops listening. Requests in flight get up to `grace` to finish
    /// (a drained generation's last events); then streams are cut and their
    /// generations cancelled, charged for what they produced.
    public func stop(grace: Duration = .zero) {
        server.stop(grace: grace)
    }

    /// How long a draining daemon lets the API write its last events after
    /// the host has finished or cut every generation.
    public static let lastWordsGrace = Duration.seconds(5)
}
