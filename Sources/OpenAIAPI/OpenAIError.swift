import Foundation
import HTTPServer
import Host
import Ledger

/// An error as the OpenAI API shapes it: an HTTP status and
/// `{"error": {"message", "type", "param", "code"}}`.
public struct OpenAIError: Error, Sendable, Equatable, CustomStringConvertible {
    public var status: Int
    /// The error's family: `invalid_request_error`, `authentication_error`,
    /// `permission_error`, `not_found_error`, `insufficient_quota`,
    /// `rate_limit_error`, `server_error`.
    public var type: String
    /// What a program can switch on: `model_not_found`, `invalid_type`, ...
    public var code: String
    /// The request field at fault, as a path (`messages[2].content`), or nil.
    public var param: String?
    public var message: String
    /// Seconds a client should wait before trying again (429 only).
    public var retryAfterSeconds: Int?

    public init(
        status: Int, type: String, code: String, param: String? = nil, message: String,
        retryAfterSeconds: Int? = nil
    ) {
        self.status = status
        self.type = type
        self.code = code
        self.param = param
        self.message = message
        self.retryAfterSeconds = retryAfterSeconds
    }

    public var description: String { "\(status) \(code): \(message)" }

    /// 400: a field of the wrong type or out of range.
    static func invalid(_ param: String?, code: String = "invalid_value", _ message: String)
        -> OpenAIError
    {
        OpenAIError(
            status: 400, type: "invalid_request_error", code: code, param: param,
            message: message)
    }

    static func unauthorized(message: String) -> OpenAIError {
        OpenAIError(
            status: 401, type: "authentication_error", code: "invalid_api_key", message: message)
    }

    static func forbidden(code: String, message: String) -> OpenAIError {
        OpenAIError(status: 403, type: "permission_error", code: code, message: message)
    }

    static func notFound(_ param: String?, code: String, _ message: String) -> OpenAIError {
        OpenAIError(
            status: 404, type: "not_found_error", code: code, param: param, message: message)
    }

    static func methodNotAllowed(_ method: String, path: String, allowed: String) -> OpenAIError {
        OpenAIError(
            status: 405, type: "invalid_request_error", code: "method_not_allowed",
            message: "\(method) \(path) is not supported; use \(allowed)")
    }

    static func server(_ message: String) -> OpenAIError {
        OpenAIError(status: 500, type: "server_error", code: "internal_error", message: message)
    }

    /// What the host threw, as the API reports it.
    static func from(_ error: Error) -> OpenAIError {
        switch error {
        case let api as OpenAIError:
            return api
        case let host as HostError:
            return from(host)
        case LedgerError.refused(let refusal):
            return insufficientQuota(refusal)
        default:
            return .server("the generation failed: \(error)")
        }
    }

    /// The status and shape of each of the host's refusals.
    static func from(_ error: HostError) -> OpenAIError {
        switch error {
        case .unknownPersona(let name):
            return .notFound(
                "model", code: "model_not_found",
                "the model '\(name)' does not exist: models are personas (GET /v1/models)")
        case .badRequest(let field, let value, let limit):
            return .invalid(field, "\(field) = \(value) is out of range (limit: \(limit))")
        case .contextExceeded:
            return .invalid("messages", code: "context_length_exceeded", error.description)
        case .busy(_, let retry):
            return OpenAIError(
                status: 429, type: "rate_limit_error", code: "rate_limit_exceeded",
                message: error.description, retryAfterSeconds: max(1, retry))
        case .refused(let refusal):
            return insufficientQuota(refusal)
        }
    }

    /// 402: the persona's budget cannot cover the request.
    static func insufficientQuota(_ refusal: Refusal) -> OpenAIError {
        OpenAIError(
            status: 402, type: "insufficient_quota", code: "insufficient_quota",
            message: refusal.description)
    }

    /// The error object, as a response body or a stream event.
    var body: Data {
        let shape = ErrorEnvelope(
            error: .init(message: message, type: type, param: param, code: code))
        return OpenAIJSON.encode(shape)
    }

    /// The whole HTTP response.
    var response: HTTPResponse {
        var headers = HTTPHeaders([("Content-Type", "application/json")])
        if let retryAfterSeconds {
            headers.add("Retry-After", String(retryAfterSeconds))
        }
        if status == 401 {
            headers.add("WWW-Authenticate", "Bearer")
        }
        return HTTPResponse(status: status, headers: headers, body: .bytes(body))
    }
}

/// `{"error": {...}}`; `param` and `code` are written as null when absent.
struct ErrorEnvelope: Encodable {
    struct Detail: Encodable {
        var message: String
        var type: String
        var param: String?
        var code: String?

        func encode(to encoder: Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(message, forKey: .message)
            try container.encode(type, forKey: .type)
            try container.encode(param, forKey: .param)
            try container.encode(code, forKey: .code)
        }

        enum CodingKeys: String, CodingKey {
            case message, type, param, code
        }
    }

    var error: Detail
}

/// The one JSON encoder the API writes with: compact, keys sorted, slashes
/// left alone; a figure that is not finite is written as a string rather
/// than failing the response.
enum OpenAIJSON {
    static func encode<T: Encodable>(_ value: T) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        do {
            return try encoder.encode(value)
        } catch {
            preconditionFailure("API shapes always encode: \(error)")
        }
    }
}
