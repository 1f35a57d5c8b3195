import Foundation
import Host
import Personas
import Support
import Tokenizer

/// What an API request asks the host for, checked and ready to submit.
struct APIRequest {
    /// The request as every front end submits it.
    var completion: CompletionRequest
    var fields: RequestFields
    /// Which endpoint it came through, for the shapes of its answer.
    var endpoint: Endpoint

    enum Endpoint {
        /// `POST /v1/chat/completions`
        case chat
        /// `POST /v1/completions`
        case text
    }

    /// Reads `POST /v1/chat/completions`.
    static func chat(_ body: Data) throws(OpenAIError) -> APIRequest {
        let object = try JSONObjectReader(body: body)
        try object.rejectUnknown(
            allowed: RequestFields.keys.union(["model", "messages", "response_format"]))
        let persona = try readModel(object)
        let messages = try readMessages(object)
        try readResponseFormat(object)
        let fields = try RequestFields(from: object)
        return APIRequest(
            completion: makeRequest(persona, .chat(messages), fields), fields: fields,
            endpoint: .chat)
    }

    /// Reads `POST /v1/completions`.
    static func text(_ body: Data) throws(OpenAIError) -> APIRequest {
        let object = try JSONObjectReader(body: body)
        try object.rejectUnknown(
            allowed: RequestFields.keys.union(["model", "prompt", "echo", "best_of", "x_special"]))
        let persona = try readModel(object)
        let prompt = try readPrompt(object)
        if try object.bool("echo") == true {
            throw .invalid("echo", code: "unsupported_value", "echo is not supported")
        }
        if let bestOf = try object.integer("best_of"), bestOf != 1 {
            throw .invalid("best_of", code: "unsupported_value", "best_of = \(bestOf): only 1")
        }
        let special = try object.bool("x_special") ?? false
        let fields = try RequestFields(from: object)
        return APIRequest(
            completion: makeRequest(persona, .raw(prompt, special: special), fields),
            fields: fields, endpoint: .text)
    }

    /// The request for the host, with a fresh id.
    private static func makeRequest(
        _ persona: String, _ input: CompletionRequest.Input, _ fields: RequestFields
    ) -> CompletionRequest {
        var request = CompletionRequest(persona: persona, input: input, maxTokens: fields.maxTokens)
        request.temperature = fields.temperature
        request.topP = fields.topP
        request.topK = fields.topK
        request.minP = fields.minP
        request.repeatPenalty = fields.repeatPenalty
        request.seed = fields.seed
        return request
    }

    /// `model`: a persona's name. A name no persona could have is not found.
    private static func readModel(_ object: JSONObjectReader) throws(OpenAIError) -> String {
        guard let model = try object.string("model") else {
            throw .invalid("model", code: "missing_required_parameter", "model is required")
        }
        guard Persona.isValidName(model) else {
            let shown = model.count > 64 ? String(model.prefix(64)) + "…" : model
            throw .notFound(
                "model", code: "model_not_found",
                "the model '\(shown)' does not exist: models are personas (GET /v1/models)")
        }
        return model
    }

    /// `messages`: 1 to `Limits.HTTP.messagesMax` of them.
    private static func readMessages(_ object: JSONObjectReader) throws(OpenAIError)
        -> [ChatMessage]
    {
        guard let items = try object.array("messages") else {
            throw .invalid("messages", code: "missing_required_parameter", "messages is required")
        }
        guard (1...Limits.HTTP.messagesMax).contains(items.count) else {
            throw .invalid(
                "messages",
                "\(items.count) messages; send 1 to \(Limits.HTTP.messagesMax)")
        }
        var messages: [ChatMessage] = []
        for (index, item) in items.enumerated() {
            let path = "messages[\(index)]"
            guard case .object(let fields) = item else {
                throw .invalid(
                    path, code: "invalid_type", "\(path) must be an object, not \(item.kind)")
            }
            messages.append(try readMessage(JSONObjectReader(fields: fields, path: path)))
        }
        return messages
    }

    /// One message: a role and text content (a string or text parts).
    private static func readMessage(_ message: JSONObjectReader) throws(OpenAIError) -> ChatMessage
    {
        try message.rejectUnknown(allowed: ["role", "content", "name"])
        let roles: [String: ChatMessage.Role] = [
            "system": .system, "developer": .system, "user": .user, "assistant": .assistant,
        ]
        guard let roleName = try message.string("role") else {
            throw .invalid(
                message.param("role"), code: "missing_required_parameter", "role is required")
        }
        guard let role = roles[roleName] else {
            throw .invalid(
                message.param("role"),
                "role '\(roleName.prefix(32))' is not supported; use system, user or assistant")
        }
        if let name = try message.string("name"), name.utf8.count > Limits.HTTP.nameBytesMax {
            throw .invalid(
                message.param("name"), "name must be at most \(Limits.HTTP.nameBytesMax) bytes")
        }
        return ChatMessage(role: role, content: try readContent(message))
    }

    /// `content`: a string, or an array of `{"type": "text", "text": ...}`.
    private static func readContent(_ message: JSONObjectReader) throws(OpenAIError) -> String {
        switch message.value("content") {
        case nil:
            throw .invalid(
                message.param("content"), code: "missing_required_parameter", "content is required")
        case .string(let text):
            return text
        case .array(let parts):
            var text = ""
            for (index, part) in parts.enumerated() {
                text += try readTextPart(part, path: "\(message.param("content"))[\(index)]")
            }
            return text
        case let other?:
            throw .invalid(
                message.param("content"), code: "invalid_type",
                "\(message.param("content")) must be a string or an array of text parts,"
                    + " not \(other.kind)")
        }
    }

    private static func readTextPart(_ part: JSONValue, path: String) throws(OpenAIError) -> String
    {
        guard case .object(let fields) = part else {
            throw .invalid(
                path, code: "invalid_type", "\(path) must be an object, not \(part.kind)")
        }
        let reader = JSONObjectReader(fields: fields, path: path)
        try reader.rejectUnknown(allowed: ["type", "text"])
        guard try reader.string("type") == "text", let text = try reader.string("text") else {
            throw .invalid(
                reader.param("type"), code: "unsupported_value",
                "only text parts are supported: {\"type\": \"text\", \"text\": ...}")
        }
        return text
    }

    /// `response_format`: only `{"type": "text"}`.
    private static func readResponseFormat(_ object: JSONObjectReader) throws(OpenAIError) {
        guard let format = try object.object("response_format") else { return }
        try format.rejectUnknown(allowed: ["type"])
        guard try format.string("type") == "text" else {
            throw .invalid(
                format.param("type"), code: "unsupported_value",
                "only response_format {\"type\": \"text\"} is supported")
        }
    }

    /// `prompt`: a string, or an array holding one string.
    private static func readPrompt(_ object: JSONObjectReader) throws(OpenAIError) -> String {
        switch object.value("prompt") {
        case nil:
            throw .invalid("prompt", code: "missing_required_parameter", "prompt is required")
        case .string(let prompt):
            return prompt
        case .array:
            let prompts = try object.strings("prompt") ?? []
            guard prompts.count == 1 else {
                throw .invalid(
                    "prompt", code: "unsupported_value",
                    "\(prompts.count) prompts; send one (token arrays are not supported)")
            }
            return prompts[0]
        case let other?:
            throw .invalid(
                "prompt", code: "invalid_type", "prompt must be a string, not \(other.kind)")
        }
    }
}
