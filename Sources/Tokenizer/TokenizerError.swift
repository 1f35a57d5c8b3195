import GGUF

/// Why a vocabulary could not be loaded or a text or id could not be handled.
///
/// Every case carries its evidence: the model, the field or key, the value
/// found and the limit it broke.
public enum TokenizerError: Error, CustomStringConvertible {
    /// The GGUF file could not give a value the tokenizer needs.
    case gguf(GGUFError)
    /// `tokenizer.ggml.model` names a tokenizer we have not built.
    case unsupportedModel(model: String, tokenizerModel: String)
    /// `tokenizer.ggml.pre` names a pre-tokenizer we have not ported.
    case unsupportedPreTokenizer(model: String, name: String)
    /// A list is longer than its bound in `Limits.Tokenizer`.
    case tooMany(model: String, field: String, count: Int, limit: Int)
    /// A list that must match `tokens` one to one has another length.
    case countMismatch(model: String, field: String, count: Int, expected: Int)
    /// A token id in the metadata does not index the vocabulary.
    case idOutOfRange(model: String, field: String, id: Int, count: Int)
    /// A flag asks for a token the vocabulary does not name.
    case missingID(model: String, field: String, reason: String)
    /// A value of `tokenizer.ggml.token_type` is not a known type.
    case unknownTokenType(model: String, index: Int, value: Int)
    /// A merge rule is not two non-empty parts separated by a space.
    case malformedMerge(model: String, index: Int, rule: String)
    /// A text to encode is longer than `Limits.Tokenizer.textBytesMax`.
    case textTooLong(bytes: Int, limit: Int)
    /// An id to decode does not index the vocabulary.
    case tokenOutOfRange(id: Int, vocabularySize: Int)

    public var description: String {
        switch self {
        case .gguf(let underlying):
            return "\(underlying)"
        case .unsupportedModel(let model, let tokenizerModel):
            return "\(model): tokenizer.ggml.model \"\(tokenizerModel)\" is not supported"
                + " (supported: \"gpt2\", byte-level BPE)"
        case .unsupportedPreTokenizer(let model, let name):
            return "\(model): tokenizer.ggml.pre \"\(name)\" is not supported"
        case .tooMany(let model, let field, let count, let limit):
            return "\(model): tokenizer: \(field) has \(count) entries, limit \(limit)"
        case .countMismatch(let model, let field, let count, let expected):
            return "\(model): tokenizer: \(field) has \(count) entries, tokens has \(expected)"
        case .idOutOfRange(let model, let field, let id, let count):
            return "\(model): tokenizer: \(field) \(id) is outside the \(count) tokens"
        case .missingID(let model, let field, let reason):
            return "\(model): tokenizer: \(reason) is set but \(field) is missing"
        case .unknownTokenType(let model, let index, let value):
            return "\(model): tokenizer: token_type[\(index)] is \(value), expected 0...6"
        case .malformedMerge(let model, let index, let rule):
            return "\(model): tokenizer: merges[\(index)] \"\(rule)\" is not \"left right\""
        case .textTooLong(let bytes, let limit):
            return "text to tokenize has \(bytes) bytes, limit \(limit)"
        case .tokenOutOfRange(let id, let vocabularySize):
            return "token id \(id) is outside the vocabulary of \(vocabularySize) tokens"
        }
    }
}
