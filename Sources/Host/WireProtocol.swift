import Foundation
import Ledger
import Personas
import Support
import Tokenizer

/// The host socket's protocol: one JSON object per line, each carrying the
/// protocol version `v`. See `PROTOCOL.md` beside this file.
public enum WireProtocol {
    /// The version this build speaks; a line with another is refused.
    public static let version = 1

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return decoder
    }()

    /// `value` as one line: JSON and a newline.
    static func line<T: Encodable>(_ value: T) throws -> [UInt8] {
        try Array(encoder.encode(value)) + [UInt8(ascii: "\n")]
    }
}

/// A line from a client.
struct WireRequest: Codable {
    /// What the client asks.
    enum Operation: String, Codable {
        /// Run a generation and stream its events.
        case complete
        /// Stop the generation running on this connection.
        case cancel
        /// Report what the host is doing.
        case status
        /// List the personas.
        case personas
    }

    var v: Int
    var op: Operation
    var request: WireCompletion?
}

/// A completion request as it travels.
struct WireCompletion: Codable {
    var persona: String
    var model: String?
    var conversation: String?
    var requestId: String?
    /// A chat: the persona's system prompt comes first unless one is given.
    var messages: [WireMessage]?
    /// A raw prompt, when `messages` is absent.
    var prompt: String?
    var special: Bool?
    var maxTokens: Int?
    var temperature: Double?
    var topP: Double?
    var topK: Int?
    var minP: Double?
    var repeatPenalty: Double?
    var seed: UInt64?
    var returnIds: Bool?
    /// Whether the client wants `progress` events while the model loads
    /// (added in version 1 with the model registry; absent means no).
    var progress: Bool?
}

struct WireMessage: Codable {
    var role: String
    var content: String
}

/// A line from the host.
struct WireEvent: Codable {
    enum Kind: String, Codable {
        /// A step of the load of the request's model, when asked for.
        case progress
        /// A piece of the reply.
        case text
        /// The final event of a completion: usage, metrics and charge.
        case done
        /// The request failed; the final event of a completion that failed.
        case error
        case status
        case personas
    }

    var v = WireProtocol.version
    var event: Kind
    var text: String?
    var progress: ModelLoadProgress?
    var usage: CompletionUsage?
    var error: WireError?
    var status: HostStatus?
    var personas: [WirePersona]?
}

/// Why the host turned a request down.
struct WireError: Codable, Equatable {
    /// `bad_request`, `unknown_persona`, `context_exceeded`, `busy`,
    /// `refused`, `invalid_persona`, `forbidden`, `protocol` or `internal`.
    var kind: String
    var message: String
    /// For `busy`: requests queued and when to try again.
    var queueDepth: Int?
    var retryAfterSeconds: Int?
}

/// A persona as listed.
struct WirePersona: Codable {
    var name: String
    var description: String
    var model: String
    var priority: Int
    var maxTokens: Int
}

extension WireCompletion {
    /// The wire form of `request`.
    init(_ request: CompletionRequest) {
        persona = request.persona
        model = request.model
        conversation = request.conversation
        requestId = request.requestId
        switch request.input {
        case .chat(let messages):
            self.messages = messages.map {
                WireMessage(role: $0.role.rawValue, content: $0.content)
            }
        case .raw(let text, let special):
            prompt = text
            self.special = special
        }
        maxTokens = request.maxTokens
        temperature = request.temperature
        topP = request.topP
        topK = request.topK
        minP = request.minP
        repeatPenalty = request.repeatPenalty
        seed = request.seed
        returnIds = request.returnsTokenIds
    }

    /// The request it describes.
    ///
    /// - Throws: `HostError.badRequest` for an unknown role, a missing
    ///   input or a request id out of bounds.
    func request() throws -> CompletionRequest {
        let input: CompletionRequest.Input
        if let messages {
            input = .chat(
                try messages.map { message in
                    guard let role = ChatMessage.Role(rawValue: message.role) else {
                        throw HostError.badRequest(
                            field: "messages.role", value: message.role,
                            limit: "system, user or assistant")
                    }
                    return ChatMessage(role: role, content: message.content)
                })
        } else if let prompt {
            input = .raw(prompt, special: special ?? false)
        } else {
            throw HostError.badRequest(field: "request", value: "{}", limit: "messages or prompt")
        }
        var request = CompletionRequest(persona: persona, input: input, maxTokens: maxTokens)
        if let requestId {
            guard !requestId.isEmpty, requestId.utf8.count <= Limits.Ledger.idBytesMax else {
                throw HostError.badRequest(
                    field: "request_id", value: "\(requestId.utf8.count) bytes",
                    limit: "1 to \(Limits.Ledger.idBytesMax) bytes")
            }
            request.requestId = requestId
        }
        request.model = model
        request.conversation = conversation
        request.temperature = temperature
        request.topP = topP
        request.topK = topK
        request.minP = minP
        request.repeatPenalty = repeatPenalty
        request.seed = seed
        request.returnsTokenIds = returnIds ?? false
        return request
    }
}

extension WireError {
    /// The wire form of anything a completion throws.
    init(_ error: any Error) {
        switch error {
        case let host as HostError:
            self.init(host)
        case let persona as PersonaError:
            self.init(kind: "invalid_persona", message: persona.description)
        case LedgerError.refused(let refusal):
            self.init(kind: "refused", message: refusal.description)
        case let described as CustomStringConvertible:
            self.init(kind: "internal", message: described.description)
        default:
            self.init(kind: "internal", message: "\(error)")
        }
    }

    private init(_ error: HostError) {
        switch error {
        case .unknownPersona:
            self.init(kind: "unknown_persona", message: error.description)
        case .badRequest:
            self.init(kind: "bad_request", message: error.description)
        case .contextExceeded:
            self.init(kind: "context_exceeded", message: error.description)
        case .busy(let depth, let retry):
            self.init(
                kind: "busy", message: error.description, queueDepth: depth,
                retryAfterSeconds: retry)
        case .refused:
            self.init(kind: "refused", message: error.description)
        }
    }
}

/// A refusal or failure the daemon reported, as the client throws it.
public struct RemoteError: Error, CustomStringConvertible, Equatable {
    /// The protocol's error kind: `busy`, `refused`, `bad_request`, …
    public let kind: String
    public let description: String

    /// Whether the host refused the request (busy or over budget) rather
    /// than found it wrong: the CLI's exit code 2.
    public var isRefusal: Bool { kind == "busy" || kind == "refused" }
}

extension WirePersona {
    init(_ persona: Persona) {
        self.init(
            name: persona.name, description: persona.description,
            model: persona.model.description, priority: persona.economy.priority,
            maxTokens: persona.maxTokens)
    }

    /// The persona as far as a listing tells it; the rest takes defaults.
    var persona: Persona {
        let reference: ModelReference =
            model.hasPrefix("/") ? .file(path: model) : .store(name: model)
        var persona = Persona(
            name: name, model: reference, description: description, maxTokens: maxTokens)
        persona.economy.priority = priority
        return persona
    }
}
