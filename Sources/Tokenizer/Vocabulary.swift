import Support

/// The plain values a byte-level BPE tokenizer is built from.
///
/// A `Vocabulary` holds what a model file says about its tokenizer and
/// nothing derived from it, so tests can build one in code. `Tokenizer`
/// checks it and builds its lookup tables; `Tokenizer(gguf:)` fills one from
/// GGUF metadata.
public struct Vocabulary: Sendable {
    /// What a token is, as GGUF's `tokenizer.ggml.token_type` numbers it.
    public enum TokenType: Int, Sendable {
        /// No type given; decoded like a normal token.
        case undefined = 0
        /// Ordinary text, spelled in the GPT-2 byte alphabet.
        case normal = 1
        /// The unknown-token marker; matched and decoded like a control token.
        case unknown = 2
        /// A marker such as `<|im_start|>`: matched in text only when asked,
        /// decoded only when asked.
        case control = 3
        /// Literal text added to the vocabulary: always matched in text and
        /// always decoded as written.
        case userDefined = 4
        /// A reserved slot; never produced, decodes to nothing.
        case unused = 5
        /// A raw byte token (SentencePiece style); decoded like a normal token.
        case byte = 6
    }

    /// How text is cut into words before merges apply.
    public enum PreTokenizer: String, Sendable {
        /// GPT-2's pattern: contractions, letters, numbers, other symbols,
        /// each with an optional leading space, then whitespace.
        case gpt2
        /// Every number scalar alone, then GPT-2's pattern on what is left;
        /// llama.cpp's choice for "smollm", "starcoder" and their kin.
        case gpt2SingleDigits

        /// The pre-tokenizer llama.cpp applies for a `tokenizer.ggml.pre`
        /// name, or nil when we have not ported it.
        ///
        /// Source: llama.cpp `src/llama-vocab.cpp`, the table that maps
        /// `LLAMA_VOCAB_PRE_TYPE_*` to regex lists.
        public init?(ggufName: String) {
            switch ggufName {
            case "gpt-2", "mpt", "olmo", "jais":
                self = .gpt2
            case "smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b":
                self = .gpt2SingleDigits
            default:
                return nil
            }
        }
    }

    /// The model the vocabulary came from; named in every error.
    public var modelName: String
    /// Token texts by id, in the GPT-2 byte alphabet for normal tokens.
    public var tokens: [String]
    /// Token types by id; same count as `tokens`.
    public var types: [TokenType]
    /// Merge rules "left right", highest priority first.
    public var merges: [String]
    /// How text is cut into words.
    public var preTokenizer: PreTokenizer
    /// Beginning-of-sequence token, if the model has one.
    public var bosID: Int?
    /// End-of-sequence token, if the model has one.
    public var eosID: Int?
    /// Token for text the vocabulary cannot spell, if the model has one.
    public var unknownID: Int?
    /// Padding token, if the model has one.
    public var paddingID: Int?
    /// Whether `encode` starts every text with `bosID`.
    public var addBOS: Bool
    /// Whether `encode` ends every text with `eosID`.
    public var addEOS: Bool

    public init(
        modelName: String, tokens: [String], types: [TokenType], merges: [String],
        preTokenizer: PreTokenizer = .gpt2SingleDigits, bosID: Int? = nil, eosID: Int? = nil,
        unknownID: Int? = nil, paddingID: Int? = nil, addBOS: Bool = false, addEOS: Bool = false
    ) {
        self.modelName = modelName
        self.tokens = tokens
        self.types = types
        self.merges = merges
        self.preTokenizer = preTokenizer
        self.bosID = bosID
        self.eosID = eosID
        self.unknownID = unknownID
        self.paddingID = paddingID
        self.addBOS = addBOS
        self.addEOS = addEOS
    }

    /// Checks counts, ids and merge spelling against each other and against
    /// `Limits.Tokenizer`.
    ///
    /// - Throws: `TokenizerError` naming the model, the field and the value.
    func validate() throws(TokenizerError) {
        // Sizes first: everything else indexes by them.
        guard tokens.count <= Limits.Tokenizer.tokenCountMax else {
            throw .tooMany(
                model: modelName, field: "tokens", count: tokens.count,
                limit: Limits.Tokenizer.tokenCountMax)
        }
        guard merges.count <= Limits.Tokenizer.mergeCountMax else {
            throw .tooMany(
                model: modelName, field: "merges", count: merges.count,
                limit: Limits.Tokenizer.mergeCountMax)
        }
        guard types.count == tokens.count else {
            throw .countMismatch(
                model: modelName, field: "token_type", count: types.count,
                expected: tokens.count)
        }

        // Every named id must index a token.
        let named: [(String, Int?)] = [
            ("bos_token_id", bosID), ("eos_token_id", eosID),
            ("unknown_token_id", unknownID), ("padding_token_id", paddingID),
        ]
        for (field, id) in named {
            if let id, !tokens.indices.contains(id) {
                throw .idOutOfRange(model: modelName, field: field, id: id, count: tokens.count)
            }
        }
        if addBOS && bosID == nil {
            throw .missingID(model: modelName, field: "bos_token_id", reason: "add_bos_token")
        }
        if addEOS && eosID == nil {
            throw .missingID(model: modelName, field: "eos_token_id", reason: "add_eos_token")
        }
    }
}

extension Vocabulary {
    /// Splits one merge rule "left right" at the first space after its first
    /// byte, as llama.cpp does, so a left part may itself be a space.
    ///
    /// Works on UTF-8 bytes: `String` comparison would treat a space followed
    /// by a combining mark as one character and miss the separator.
    ///
    /// - Returns: the UTF-8 of the two parts, or nil when the rule has no
    ///   separating space or an empty part.
    static func splitMerge(_ rule: String) -> (left: [UInt8], right: [UInt8])? {
        let bytes = Array(rule.utf8)
        guard bytes.count >= 3 else { return nil }
        guard let space = bytes[1...].firstIndex(of: UInt8(ascii: " ")) else { return nil }
        guard space + 1 < bytes.count else { return nil }
        return (Array(bytes[..<space]), Array(bytes[(space + 1)...]))
    }
}
