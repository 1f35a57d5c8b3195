import Foundation
import Support
import Synchronization
import Testing

/// The HTTP API's refusals from the real host, through curl: each with its
/// status, the OpenAI error shape, and no charge.
@Suite("CLI: the OpenAI API's refusals on the real host", .serialized)
struct HTTPErrorTests {
    /// A persona that can never pay for a reply.
    static let brokePersona = """
        model = "smollm2-135m-instruct"
        max_tokens = 50
        [economy]
        allowance_motes = 0.01
        refill_period = "never"
        """

    /// A daemon whose personas are the shipped tutor and `broke`.
    static func daemon(_ cli: CLI) throws -> APIDaemon {
        let personas = cli.home.appendingPathComponent("personas")
        try FileManager.default.createDirectory(at: personas, withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            at: CLI.packageRoot.appendingPathComponent("Personas/tutor.toml"),
            to: personas.appendingPathComponent("tutor.toml"))
        try brokePersona.write(
            to: personas.appendingPathComponent("broke.toml"), atomically: true, encoding: .utf8)
        return try APIDaemon(cli, arguments: ["--personas", personas.path])
    }

    /// The `error.code` of an OpenAI error body.
    static func code(_ body: String) -> String? {
        let object = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]
        return (object?["error"] as? [String: Any])?["code"] as? String
    }

    static func chat(_ model: String, _ content: String, _ extra: String = "") -> String {
        let message = #"{"role": "user", "content": "\#(content)"}"#
        return #"{"model": "\#(model)", "messages": [\#(message)]\#(extra)}"#
    }

    @Test("400, 401, 402, 403 and 404 are answered before any compute, and charge nothing")
    func refusals() throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        let daemon = try Self.daemon(cli)
        let long = String(repeating: "word ", count: 5_000)
        let cases: [(String, String?, [String], Int, String)] = [
            ("/v1/chat/completions", Self.chat("tutor", long), [], 400, "context_length_exceeded"),
            (
                "/v1/chat/completions", Self.chat("tutor", "hi", #", "max_tokens": 97"#), [], 400,
                "invalid_value"
            ),
            (
                "/v1/chat/completions", Self.chat("tutor", "hi", #", "max_tokens": -5"#), [], 400,
                "invalid_value"
            ),
            (
                "/v1/chat/completions", Self.chat("tutor", "hi"),
                ["-H", "Authorization: Bearer wrong"], 401, "invalid_api_key"
            ),
            ("/v1/chat/completions", Self.chat("broke", "hi"), [], 402, "insufficient_quota"),
            ("/v1/models", nil, ["-H", "Host: attacker.example"], 403, "host_not_allowed"),
            ("/v1/chat/completions", Self.chat("nobody", "hi"), [], 404, "model_not_found"),
        ]
        for (path, body, extra, status, code) in cases {
            let response = try daemon.curl(path, body: body, extra: extra)
            #expect(response.status == status, "\(code): \(response.body)")
            #expect(Self.code(response.body) == code, "\(response.body)")
        }
        for persona in ["tutor", "broke"] {
            #expect(try daemon.posts(persona).isEmpty, "\(persona) was charged")
        }
        #expect(daemon.stop() == 0)
    }

    @Test("a flood past the queue's bound gets 429 with Retry-After; the rest are served")
    func busy() throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        let daemon = try Self.daemon(cli)
        // More than one persona's running and waiting places together.
        let flood = Limits.Host.activeSequencesMax + Limits.Host.queueDepthPerPersonaMax + 8
        let statuses = Mutex<[(Int, String?)]>([])
        let body = Self.chat("tutor", "hi", #", "max_tokens": 2"#)
        // One thread each, all at once: the pool would run two at a time.
        let group = DispatchGroup()
        for _ in 0..<flood {
            group.enter()
            Thread.detachNewThread {
                let response = try? daemon.curl("/v1/chat/completions", body: body)
                statuses.withLock {
                    $0.append((response?.status ?? 0, response?.headers["retry-after"]))
                }
                group.leave()
            }
        }
        group.wait()
        let all = statuses.withLock { $0 }
        let served = all.filter { $0.0 == 200 }.count
        let busy = all.filter { $0.0 == 429 }
        #expect(served + busy.count == flood, "\(all.map(\.0))")
        #expect(!busy.isEmpty, "no request was refused as busy")
        #expect(busy.allSatisfy { Int($0.1 ?? "") ?? 0 >= 1 })
        #expect(try daemon.posts("tutor").count == served)
        #expect(daemon.stop() == 0)
    }
}
