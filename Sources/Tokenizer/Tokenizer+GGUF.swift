import GGUF

/// Reading a tokenizer and chat template from GGUF metadata.
///
/// Keys follow llama.cpp's `tokenizer.ggml.*` names. Required: `model`,
/// `tokens`, `merges`, `pre`; optional: `token_type` (all normal when
/// absent), the four special ids, `add_bos_token` and `add_eos_token`
/// (false when absent).
extension Vocabulary {
    /// The vocabulary stored in `gguf`; errors name `gguf.name`.
    ///
    /// - Throws: `TokenizerError` for a missing or mistyped key, a tokenizer
    ///   other than byte-level BPE, or a pre-tokenizer we have not ported.
    public init(gguf: GGUFFile) throws(TokenizerError) {
        let model = gguf.name
        let kind = try Self.read(gguf.string("tokenizer.ggml.model"))
        guard kind == "gpt2" else {
            throw .unsupportedModel(model: model, tokenizerModel: kind)
        }
        let preName = try Self.optional(gguf, "tokenizer.ggml.pre", gguf.string) ?? "(missing)"
        guard let preTokenizer = PreTokenizer(ggufName: preName) else {
            throw .unsupportedPreTokenizer(model: model, name: preName)
        }

        // Texts, types and merges.
        let tokens = try Self.read(gguf.strings("tokenizer.ggml.tokens"))
        let typeValues =
            try Self.optional(gguf, "tokenizer.ggml.token_type", gguf.ints)
            ?? [Int](repeating: TokenType.normal.rawValue, count: tokens.count)
        var types: [TokenType] = []
        types.reserveCapacity(typeValues.count)
        for (index, value) in typeValues.enumerated() {
            guard let type = TokenType(rawValue: value) else {
                throw .unknownTokenType(model: model, index: index, value: value)
            }
            types.append(type)
        }
        let merges = try Self.read(gguf.strings("tokenizer.ggml.merges"))

        // Special ids and flags.
        let int = gguf.int
        self.init(
            modelName: model, tokens: tokens, types: types, merges: merges,
            preTokenizer: preTokenizer,
            bosID: try Self.optional(gguf, "tokenizer.ggml.bos_token_id", int),
            eosID: try Self.optional(gguf, "tokenizer.ggml.eos_token_id", int),
            unknownID: try Self.optional(gguf, "tokenizer.ggml.unknown_token_id", int),
            paddingID: try Self.optional(gguf, "tokenizer.ggml.padding_token_id", int),
            addBOS: try Self.optional(gguf, "tokenizer.ggml.add_bos_token", gguf.bool) ?? false,
            addEOS: try Self.optional(gguf, "tokenizer.ggml.add_eos_token", gguf.bool) ?? false)
    }

    /// A required value, with a GGUF error rethrown as a tokenizer error.
    private static func read<T>(
        _ value: @autoclosure () throws(GGUFError) -> T
    ) throws(TokenizerError) -> T {
        do {
            return try value()
        } catch {
            throw .gguf(error)
        }
    }

    /// The value at `key`, or nil when the file does not have the key.
    private static func optional<T>(
        _ gguf: GGUFFile, _ key: String, _ read: (String) throws(GGUFError) -> T
    ) throws(TokenizerError) -> T? {
        guard gguf.metadata[key] != nil else { return nil }
        return try Self.read(try read(key))
    }
}

extension Tokenizer {
    /// The tokenizer stored in `gguf`; see `Vocabulary(gguf:)`.
    public convenience init(gguf: GGUFFile) throws(TokenizerError) {
        try self.init(vocabulary: Vocabulary(gguf: gguf))
    }
}

extension ChatTemplate {
    /// The metadata key that holds the Jinja chat template.
    static let ggufKey = "tokenizer.chat_template"

    /// Recognises the chat template stored in `gguf`.
    ///
    /// - Throws: `ChatTemplateError.missing` when the key is absent,
    ///   `.unsupported` when it is not a ChatML template (or not a string).
    public init(gguf: GGUFFile) throws(ChatTemplateError) {
        guard let value = gguf.metadata[Self.ggufKey] else {
            throw .missing(model: gguf.name)
        }
        guard case .string(let source) = value else {
            throw .unsupported(model: gguf.name, excerpt: "a \(value.typeName), not a string")
        }
        try self.init(source: source, modelName: gguf.name)
    }
}
