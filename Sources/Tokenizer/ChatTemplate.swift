/// One turn of a conversation.
public struct ChatMessage: Sendable, Equatable {
    /// Who speaks.
    public enum Role: String, Sendable {
        case system
        case user
        case assistant
    }

    /// Who speaks.
    public var role: Role
    /// What is said; never parsed for control tokens.
    public var content: String

    public init(role: Role, content: String) {
        self.role = role
        self.content = content
    }
}

/// Why a model's chat template cannot be used.
public enum ChatTemplateError: Error, CustomStringConvertible {
    /// The model has no `tokenizer.chat_template`.
    case missing(model: String)
    /// The template is not one we can render; `excerpt` is its start.
    case unsupported(model: String, excerpt: String)

    public var description: String {
        switch self {
        case .missing(let model):
            return "\(model): tokenizer.chat_template is missing; the model cannot chat"
        case .unsupported(let model, let excerpt):
            return "\(model): tokenizer.chat_template is not supported (only ChatML is):"
                + " \"\(excerpt)\""
        }
    }
}

/// Renders a conversation the way a model was trained to read it.
///
/// The model's Jinja template is recognised, not executed: a template that
/// spells ChatML's `<|im_start|>` and `<|im_end|>` markers is rendered as
///
///     <|im_start|>{role}\n{content}<|im_end|>\n   (per message)
///     <|im_start|>assistant\n                     (generation prompt)
///
/// with the template's default system prompt first when the conversation
/// does not open with a system message. Running Jinja was rejected: it needs
/// an interpreter for one layout that every supported model shares.
public struct ChatTemplate: Sendable {
    /// The layouts we can render.
    public enum Format: Sendable {
        /// `<|im_start|>role\ncontent<|im_end|>\n`.
        case chatML
    }

    /// The model the template came from.
    public let modelName: String
    /// The layout recognised.
    public let format: Format
    /// What the template says when the first message is not a system one,
    /// or nil when it says nothing.
    public let defaultSystemPrompt: String?

    static let turnStart = "<|im_start|>"
    static let turnEnd = "<|im_end|>"

    /// Recognises the template `source` of model `modelName`.
    ///
    /// - Throws: `ChatTemplateError.unsupported` when it is not ChatML.
    public init(source: String, modelName: String) throws(ChatTemplateError) {
        guard source.contains(Self.turnStart) && source.contains(Self.turnEnd) else {
            throw .unsupported(model: modelName, excerpt: String(source.prefix(80)))
        }
        self.modelName = modelName
        self.format = .chatML
        self.defaultSystemPrompt = Self.defaultSystemPrompt(in: source)
    }

    /// The conversation as text, ready to encode with special tokens parsed.
    ///
    /// Prefer `encode`, which keeps control tokens typed by a user as text.
    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool) -> String {
        segments(messages, addGenerationPrompt: addGenerationPrompt).map(\.text).joined()
    }

    /// The conversation as segments: the template's markers may hold control
    /// tokens, the messages' contents may not.
    public func segments(
        _ messages: [ChatMessage], addGenerationPrompt: Bool
    ) -> [Tokenizer.Segment] {
        var segments: [Tokenizer.Segment] = []
        func turn(_ role: String, _ content: String, trusted: Bool) {
            segments.append(Tokenizer.Segment(Self.turnStart + role + "\n", parseSpecial: true))
            segments.append(Tokenizer.Segment(content, parseSpecial: trusted))
            segments.append(Tokenizer.Segment(Self.turnEnd + "\n", parseSpecial: true))
        }

        // The template's own system prompt, when the caller gave none.
        if let first = messages.first, first.role != .system, let defaultSystemPrompt {
            turn(ChatMessage.Role.system.rawValue, defaultSystemPrompt, trusted: true)
        }
        for message in messages {
            turn(message.role.rawValue, message.content, trusted: false)
        }
        if addGenerationPrompt {
            segments.append(
                Tokenizer.Segment(Self.turnStart + "assistant\n", parseSpecial: true))
        }
        return segments
    }

    /// The token ids of the conversation, no BOS/EOS added by the tokenizer
    /// beyond what the template spells.
    public func encode(
        _ messages: [ChatMessage], addGenerationPrompt: Bool, with tokenizer: Tokenizer
    ) throws(TokenizerError) -> [Int] {
        try tokenizer.encode(
            segments(messages, addGenerationPrompt: addGenerationPrompt), addSpecial: false)
    }

    /// Ids that end the assistant's turn: the model's EOS and `<|im_end|>`,
    /// without repeats.
    public func stopIDs(for tokenizer: Tokenizer) -> [Int] {
        var ids: [Int] = []
        for id in [tokenizer.eosID, tokenizer.id(forTokenText: Self.turnEnd)] {
            if let id, !ids.contains(id) {
                ids.append(id)
            }
        }
        return ids
    }
}

extension ChatTemplate {
    /// The system prompt a ChatML template writes itself: the text of the
    /// string literal that opens `<|im_start|>system` + newline, up to
    /// `<|im_end|>`, with Jinja escapes resolved.
    ///
    /// Only the literal's text is read; the condition around it is assumed to
    /// be "first message is not a system one", which is what every ChatML
    /// template with a default prompt says.
    static func defaultSystemPrompt(in source: String) -> String? {
        // Scalars, not characters: a combining mark after a marker would
        // otherwise merge with it into one character and hide it.
        let opener = (turnStart + "system").unicodeScalars
        let newline: [Unicode.Scalar] = ["\n"]
        let escapedNewline: [Unicode.Scalar] = ["\\", "n"]
        var rest = source.unicodeScalars[...]
        while let open = rest.firstRange(of: opener) {
            rest = rest[open.upperBound...]
            let body: Substring.UnicodeScalarView
            if rest.starts(with: newline) {
                body = rest.dropFirst()
            } else if rest.starts(with: escapedNewline) {
                body = rest.dropFirst(2)
            } else {
                continue
            }
            guard let close = body.firstRange(of: turnEnd.unicodeScalars) else { return nil }
            return unescapeJinja(body[..<close.lowerBound])
        }
        return nil
    }

    /// Resolves the escapes of a Jinja string literal: `\n`, `\t`, `\r`,
    /// `\\`, `\'` and `\"`; any other backslash stays as written.
    static func unescapeJinja(_ literal: Substring.UnicodeScalarView) -> String {
        var result = ""
        var escaping = false
        for scalar in literal {
            guard escaping else {
                if scalar == "\\" {
                    escaping = true
                } else {
                    result.unicodeScalars.append(scalar)
                }
                continue
            }
            escaping = false
            switch scalar {
            case "n": result += "\n"
            case "t": result += "\t"
            case "r": result += "\r"
            case "\\", "'", "\"": result.unicodeScalars.append(scalar)
            default: result += "\\" + String(scalar)
            }
        }
        if escaping {
            result += "\\"
        }
        return result
    }
}
