import Foundation
import Support
import Testing

@testable import OpenAIAPI

/// One request that must be refused, and how.
struct ErrorCase: CustomTestStringConvertible, Sendable {
    var name: String
    var status: Int
    /// `error.code` expected in the body.
    var code: String
    /// `error.param` expected, when the error names a field.
    var param: String? = nil
    /// `GET`, or `POST` with `body` as JSON.
    var method = "POST"
    var path = "/v1/chat/completions"
    var body = ErrorCase.chat()
    /// Extra curl options (headers); `{token}` becomes the token.
    var curl: [String] = []
    /// Leave out the bearer token.
    var anonymous = false

    var testDescription: String { "\(status) \(name)" }

    /// A chat body with `fields` spliced in after the model and messages.
    static func chat(
        model: String = "assistant", content: String = "\"Hello\"", _ fields: String = ""
    ) -> String {
        #"{"model": "\#(model)", "messages": [{"role": "user", "content": \#(content)}]"#
            + (fields.isEmpty ? "" : ", " + fields) + "}"
    }
}

@Suite("Every error status, through curl")
struct ErrorStatusTests {
    static let cases: [ErrorCase] = [
        // 400: the body's shape and each field's type and range.
        ErrorCase(name: "not JSON", status: 400, code: "invalid_json", body: "{\"model\":"),
        ErrorCase(name: "not an object", status: 400, code: "invalid_json", body: "[1, 2]"),
        ErrorCase(
            name: "nesting past the parser's depth", status: 400, code: "invalid_json",
            body: "{\"model\": " + String(repeating: "[", count: 100_000) + "}"),
        ErrorCase(
            name: "max_tokens of the wrong type", status: 400, code: "invalid_type",
            param: "max_tokens", body: ErrorCase.chat(#""max_tokens": "ten""#)),
        ErrorCase(
            name: "negative max_tokens", status: 400, code: "invalid_value", param: "max_tokens",
            body: ErrorCase.chat(#""max_tokens": -1"#)),
        ErrorCase(
            name: "zero max_tokens", status: 400, code: "invalid_value", param: "max_tokens",
            body: ErrorCase.chat(#""max_tokens": 0"#)),
        ErrorCase(
            name: "huge max_tokens", status: 400, code: "invalid_value", param: "max_tokens",
            body: ErrorCase.chat(#""max_tokens": 1000000000000"#)),
        ErrorCase(
            name: "max_tokens beyond 64 bits", status: 400, code: "invalid_type",
            param: "max_tokens", body: ErrorCase.chat(#""max_tokens": 1e300"#)),
        ErrorCase(
            name: "max_tokens over the persona's own", status: 400, code: "invalid_value",
            param: "max_tokens", body: ErrorCase.chat(#""max_tokens": 101"#)),
        ErrorCase(
            name: "temperature out of range", status: 400, code: "invalid_value",
            param: "temperature", body: ErrorCase.chat(#""temperature": 2.5"#)),
        ErrorCase(
            name: "stream not a boolean", status: 400, code: "invalid_type", param: "stream",
            body: ErrorCase.chat(#""stream": "yes""#)),
        ErrorCase(
            name: "an unknown field", status: 400, code: "unknown_parameter", param: "tools",
            body: ErrorCase.chat(#""tools": []"#)),
        ErrorCase(
            name: "a field that could name a file", status: 400, code: "unknown_parameter",
            param: "model_path", body: ErrorCase.chat(#""model_path": "/etc/passwd""#)),
        ErrorCase(
            name: "content of the wrong type", status: 400, code: "invalid_type",
            param: "messages[0].content", body: ErrorCase.chat(content: "42")),
        ErrorCase(
            name: "an image part", status: 400, code: "unsupported_value",
            param: "messages[0].content[0].type",
            body: ErrorCase.chat(content: #"[{"type": "image_url", "text": "x"}]"#)),
        ErrorCase(
            name: "no messages", status: 400, code: "invalid_value", param: "messages",
            body: #"{"model": "assistant", "messages": []}"#),
        ErrorCase(
            name: "n above 1", status: 400, code: "unsupported_value", param: "n",
            body: ErrorCase.chat(#""n": 2"#)),
        ErrorCase(
            name: "too many stop strings", status: 400, code: "invalid_value", param: "stop",
            body: ErrorCase.chat(#""stop": ["a", "b", "c", "d", "e"]"#)),
        ErrorCase(
            name: "a prompt longer than the context", status: 400,
            code: "context_length_exceeded", param: "messages",
            body: ErrorCase.chat(content: "\"" + String(repeating: "long ", count: 400) + "\"")),
        ErrorCase(
            name: "a raw prompt of the wrong type", status: 400, code: "invalid_type",
            param: "prompt", path: "/v1/completions",
            body: #"{"model": "assistant", "prompt": {"text": "x"}}"#),

        // 401: the token.
        ErrorCase(name: "no token", status: 401, code: "invalid_api_key", anonymous: true),
        ErrorCase(
            name: "a wrong token", status: 401, code: "invalid_api_key",
            curl: ["-H", "Authorization: Bearer 0123456789abcdef"], anonymous: true),
        ErrorCase(
            name: "the token with another scheme", status: 401, code: "invalid_api_key",
            curl: ["-H", "Authorization: Basic {token}"], anonymous: true),
        ErrorCase(
            name: "the token and a second one", status: 401, code: "invalid_api_key",
            curl: ["-H", "Authorization: Bearer x"]),

        // 402, 404, 429, 500: the host's answers.
        ErrorCase(
            name: "a persona out of budget", status: 402, code: "insufficient_quota",
            body: ErrorCase.chat(model: "broke")),
        ErrorCase(
            name: "an unknown persona", status: 404, code: "model_not_found", param: "model",
            body: ErrorCase.chat(model: "nobody")),
        ErrorCase(
            name: "a model name no persona can have", status: 404, code: "model_not_found",
            param: "model", body: ErrorCase.chat(model: "../../models/x.gguf")),
        ErrorCase(
            name: "an unknown model by id", status: 404, code: "model_not_found",
            method: "GET", path: "/v1/models/nobody"),
        ErrorCase(name: "an unknown route", status: 404, code: "unknown_url", path: "/v1/files"),
        ErrorCase(
            name: "a full queue", status: 429, code: "rate_limit_exceeded",
            body: ErrorCase.chat(model: "busy")),
        ErrorCase(
            name: "a failing device", status: 500, code: "internal_error",
            body: ErrorCase.chat(model: "failing")),

        // 403, 405, 415: what the head says.
        ErrorCase(
            name: "a rebound Host", status: 403, code: "host_not_allowed",
            curl: ["-H", "Host: attacker.example:{port}"]),
        ErrorCase(
            name: "another port in Host", status: 403, code: "host_not_allowed",
            curl: ["-H", "Host: 127.0.0.1:1"]),
        ErrorCase(
            name: "a cross-origin page", status: 403, code: "cross_origin_request",
            curl: ["-H", "Origin: http://attacker.example"]),
        ErrorCase(
            name: "a same-site page on another port", status: 403, code: "cross_origin_request",
            curl: ["-H", "Sec-Fetch-Site: same-site"]),
        ErrorCase(
            name: "GET on a POST route", status: 405, code: "method_not_allowed", method: "GET"),
        ErrorCase(
            name: "a form body", status: 415, code: "unsupported_media_type",
            curl: ["-H", "Content-Type: text/plain"]),
    ]

    @Test("refusals carry their status and the OpenAI error shape", arguments: cases)
    func refuses(_ errorCase: ErrorCase) throws {
        let test = try TestServer()
        let port = String(test.server.address.port)
        var arguments = errorCase.curl.map {
            $0.replacingOccurrences(of: "{token}", with: TestServer.token)
                .replacingOccurrences(of: "{port}", with: port)
        }
        if !errorCase.anonymous {
            arguments += ["-H", "Authorization: Bearer \(TestServer.token)"]
        }
        if errorCase.method == "POST" {
            if !arguments.contains(where: { $0.hasPrefix("Content-Type") }) {
                arguments += ["-H", "Content-Type: application/json"]
            }
            arguments += ["-X", "POST", "--data-binary", "@-"]
        }
        let response = try Curl.run(
            arguments + [test.base + errorCase.path], stdin: Data(errorCase.body.utf8))

        #expect(response.status == errorCase.status)
        let error = try #require(response.json["error"] as? [String: Any], "\(response.text)")
        #expect(Set(error.keys) == ["message", "type", "param", "code"])
        #expect(error["code"] as? String == errorCase.code)
        #expect(!(error["message"] as? String ?? "").isEmpty)
        if let param = errorCase.param {
            #expect(error["param"] as? String == param)
        }
        if errorCase.status == 429 {
            #expect(response.headers["retry-after"] == "3")
        }
        if errorCase.status == 401 {
            #expect(response.headers["www-authenticate"] == "Bearer")
        }
        if errorCase.status == 405 {
            #expect(response.headers["allow"] == "POST")
        }
    }

    /// Refusals the HTTP layer makes before the API sees the request.
    static let transportCases: [(name: String, status: Int, curl: [String], bodyBytes: Int)] = [
        ("a body over the limit", 413, [], Limits.HTTP.bodyBytesMax + 1),
        ("a chunked body", 411, ["-H", "Transfer-Encoding: chunked"], 10),
        (
            "headers over the limit", 431,
            ["-H", "X-Pad: " + String(repeating: "p", count: 20_000)], 10
        ),
    ]

    @Test("bodies and headers are bounded", arguments: transportCases)
    func bounds(_ name: String, _ status: Int, _ curl: [String], _ bodyBytes: Int) throws {
        let test = try TestServer()
        let response = try Curl.run(
            curl + [
                "-H", "Authorization: Bearer \(TestServer.token)",
                "-H", "Content-Type: application/json", "-X", "POST", "--data-binary", "@-",
                test.base + "/v1/chat/completions",
            ], stdin: Data(repeating: UInt8(ascii: " "), count: bodyBytes))
        #expect(response.status == status, "\(name)")
    }
}
