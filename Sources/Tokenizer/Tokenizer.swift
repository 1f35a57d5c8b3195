import Support

/// Byte-level BPE tokenizer (GPT-2 style) that reproduces llama.cpp's ids.
///
/// Encoding runs in three steps: special tokens are cut out of the text,
/// the rest is split into words by the pre-tokenizer, and each word's bytes
/// are merged by rank into tokens. Decoding maps tokens back to bytes.
///
/// Immutable after `init`, so one instance serves every thread.
public final class Tokenizer: Sendable {
    /// A piece of text to encode and whether control tokens in it count.
    public struct Segment: Sendable {
        /// The text.
        public var text: String
        /// Whether control tokens such as `<|im_start|>` spelled in `text`
        /// become their ids; when false they are encoded as plain text.
        public var parseSpecial: Bool

        public init(_ text: String, parseSpecial: Bool) {
            self.text = text
            self.parseSpecial = parseSpecial
        }
    }

    /// A token that is matched in text before pre-tokenization.
    struct SpecialToken: Sendable {
        /// The token id.
        let id: Int32
        /// Its text as UTF-8, non-empty.
        let bytes: [UInt8]
        /// Whether it is matched only where the caller allows control tokens
        /// (control and unknown types); user-defined tokens always match.
        let needsParseSpecial: Bool
    }

    /// The model the vocabulary came from.
    public let modelName: String
    /// Beginning-of-sequence token, if any.
    public let bosID: Int?
    /// End-of-sequence token, if any.
    public let eosID: Int?
    /// Unknown-text token, if any.
    public let unknownID: Int?
    /// Padding token, if any.
    public let paddingID: Int?
    /// Whether `encode` adds `bosID` in front when asked for special tokens.
    public let addBOS: Bool
    /// Whether `encode` adds `eosID` at the end when asked for special tokens.
    public let addEOS: Bool

    /// Token texts by id, as the vocabulary spells them.
    private let tokenTexts: [String]
    /// Token types by id.
    private let tokenTypes: [Vocabulary.TokenType]
    /// Token ids by the UTF-8 of their text; the last id wins for duplicates.
    private let idsByText: [[UInt8]: Int32]
    /// Merge rules and byte tokens.
    private let mergeTable: MergeTable
    /// Tokens matched in text, longest first, then lowest id.
    private let specialTokens: [SpecialToken]
    /// Decoded bytes of every token, back to back.
    private let pieceBytes: [UInt8]
    /// Start of each token's bytes in `pieceBytes`, plus the end;
    /// `vocabularySize + 1` entries.
    private let pieceOffsets: [Int]
    /// How words are cut.
    private let preTokenizer: Vocabulary.PreTokenizer

    /// Number of tokens; valid ids are `0..<vocabularySize`.
    public var vocabularySize: Int { tokenTexts.count }

    /// The first id whose text differs between this vocabulary and
    /// `other`'s (the shorter one's size when one is a prefix of the
    /// other); nil when they spell every token alike.
    public func firstDifference(from other: Tokenizer) -> Int? {
        let shared = min(vocabularySize, other.vocabularySize)
        if let id = (0..<shared).first(where: { tokenTexts[$0] != other.tokenTexts[$0] }) {
            return id
        }
        return vocabularySize == other.vocabularySize ? nil : shared
    }

    /// Builds the lookup tables from plain values.
    ///
    /// - Throws: `TokenizerError` when a count, id or merge rule is invalid.
    public init(vocabulary: Vocabulary) throws(TokenizerError) {
        try vocabulary.validate()
        modelName = vocabulary.modelName
        bosID = vocabulary.bosID
        eosID = vocabulary.eosID
        unknownID = vocabulary.unknownID
        paddingID = vocabulary.paddingID
        addBOS = vocabulary.addBOS
        addEOS = vocabulary.addEOS
        tokenTexts = vocabulary.tokens
        tokenTypes = vocabulary.types
        preTokenizer = vocabulary.preTokenizer

        // Texts to ids, then the merge rules over them.
        var symbols = Self.idsByText(vocabulary.tokens)
        idsByText = symbols
        let rules = try Self.splitMerges(vocabulary)
        mergeTable = MergeTable(
            symbols: &symbols, tokenCount: vocabulary.tokens.count, rules: rules)

        // Special tokens and decoded pieces.
        specialTokens = try Self.specialTokens(vocabulary)
        (pieceBytes, pieceOffsets) = Self.pieces(vocabulary)
        Log("tokenizer").debug(
            "load",
            [
                "model": modelName, "tokens": tokenTexts.count, "merges": rules.count,
                "special": specialTokens.count,
            ])
    }

    /// Whether `id` is a control (or unknown) token such as `<|im_end|>`,
    /// which decodes to nothing unless asked for.
    public func isControl(_ id: Int) -> Bool {
        guard let type = tokenType(id) else { return false }
        return type == .control || type == .unknown
    }

    /// The type of token `id`, or nil when `id` is out of range.
    public func tokenType(_ id: Int) -> Vocabulary.TokenType? {
        tokenTypes.indices.contains(id) ? tokenTypes[id] : nil
    }

    /// The vocabulary's text for token `id` (GPT-2 byte alphabet for normal
    /// tokens, e.g. "Ġworld"), or nil when `id` is out of range.
    public func tokenText(_ id: Int) -> String? {
        tokenTexts.indices.contains(id) ? tokenTexts[id] : nil
    }

    /// The id of the token whose vocabulary text is exactly `text`, e.g.
    /// `<|im_end|>`; nil when there is none.
    public func id(forTokenText text: String) -> Int? {
        idsByText[Array(text.utf8)].map(Int.init)
    }
}

// MARK: - Encoding

extension Tokenizer {
    /// A run of the text being encoded: bytes still to tokenize, or a
    /// special token already found.
    private enum Fragment {
        case text(Range<Int>, parseSpecial: Bool)
        case token(Int32)
    }

    /// The token ids of `text`.
    ///
    /// - Parameters:
    ///   - parseSpecial: whether control tokens spelled in the text (such as
    ///     `<|im_start|>`) become their ids. User-defined tokens always do,
    ///     as in llama.cpp.
    ///   - addSpecial: whether to add BOS/EOS where the model asks for them.
    /// - Throws: `TokenizerError.textTooLong` past `Limits.Tokenizer.textBytesMax`.
    public func encode(
        _ text: String, parseSpecial: Bool, addSpecial: Bool = true
    ) throws(TokenizerError) -> [Int] {
        try encode([Segment(text, parseSpecial: parseSpecial)], addSpecial: addSpecial)
    }

    /// The token ids of the concatenated segments, encoded as one text.
    ///
    /// Special tokens are matched only inside segments that allow them, but
    /// words run across segment boundaries exactly as in the joined text, so
    /// a chat rendering encodes to the same ids as llama.cpp gives its string.
    public func encode(
        _ segments: [Segment], addSpecial: Bool = true
    ) throws(TokenizerError) -> [Int] {
        // Join the segments, bounded in size.
        let byteCount = segments.reduce(0) { $0 + $1.text.utf8.count }
        guard byteCount <= Limits.Tokenizer.textBytesMax else {
            throw .textTooLong(bytes: byteCount, limit: Limits.Tokenizer.textBytesMax)
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(byteCount)
        var fragments: [Fragment] = []
        for segment in segments where !segment.text.isEmpty {
            let start = bytes.count
            bytes.append(contentsOf: segment.text.utf8)
            fragments.append(.text(start..<bytes.count, parseSpecial: segment.parseSpecial))
        }

        // Cut out special tokens, then tokenize the text between them.
        for special in specialTokens {
            fragments = cutOut(special, from: fragments, in: bytes)
        }
        var ids: [Int] = []
        ids.reserveCapacity(byteCount / 3 + 2)
        if addSpecial && addBOS, let bosID {
            ids.append(bosID)
        }
        bytes.withUnsafeBufferPointer { buffer in
            tokenize(fragments, in: buffer, into: &ids)
        }
        if addSpecial && addEOS, let eosID {
            ids.append(eosID)
        }
        return ids
    }

    /// Splits every text fragment that may hold `special` around each of its
    /// occurrences, leftmost first and without overlap.
    private func cutOut(
        _ special: SpecialToken, from fragments: [Fragment], in bytes: [UInt8]
    ) -> [Fragment] {
        var result: [Fragment] = []
        result.reserveCapacity(fragments.count)
        for fragment in fragments {
            guard case .text(let range, let parseSpecial) = fragment,
                parseSpecial || !special.needsParseSpecial
            else {
                result.append(fragment)
                continue
            }
            var start = range.lowerBound
            while let match = Self.find(special.bytes, in: bytes, start..<range.upperBound) {
                if match > start {
                    result.append(.text(start..<match, parseSpecial: parseSpecial))
                }
                result.append(.token(special.id))
                start = match + special.bytes.count
            }
            if start < range.upperBound {
                result.append(.text(start..<range.upperBound, parseSpecial: parseSpecial))
            }
        }
        return result
    }

    /// The first index of `needle` in `bytes[range]`, or nil.
    private static func find(_ needle: [UInt8], in bytes: [UInt8], _ range: Range<Int>) -> Int? {
        guard let first = needle.first, range.count >= needle.count else { return nil }
        var index = range.lowerBound
        let lastStart = range.upperBound - needle.count
        while index <= lastStart {
            if bytes[index] == first
                && bytes[index..<(index + needle.count)].elementsEqual(needle)
            {
                return index
            }
            index += 1
        }
        return nil
    }

    /// Appends the ids of the fragments: special tokens as they are, runs of
    /// adjacent text joined and then split into words and merged.
    private func tokenize(
        _ fragments: [Fragment], in bytes: UnsafeBufferPointer<UInt8>, into ids: inout [Int]
    ) {
        var splitter = WordSplitter(singleDigits: preTokenizer == .gpt2SingleDigits)
        var scratch = MergeTable.Scratch()
        var words: [Range<Int>] = []
        var pending: Range<Int>? = nil

        func flush() {
            guard let text = pending else { return }
            words.removeAll(keepingCapacity: true)
            splitter.split(bytes, range: text, into: &words)
            for word in words {
                mergeTable.encodeWord(bytes, range: word, scratch: &scratch, into: &ids)
            }
            pending = nil
        }

        for fragment in fragments {
            switch fragment {
            case .text(let range, _):
                pending = pending.map { $0.lowerBound..<range.upperBound } ?? range
            case .token(let id):
                flush()
                ids.append(Int(id))
            }
        }
        flush()
    }
}

// MARK: - Decoding

extension Tokenizer {
    /// The text of `ids` joined.
    ///
    /// Bytes that do not form whole UTF-8 characters (a token sequence cut
    /// inside a character) become U+FFFD; use `StreamDecoder` for ids that
    /// arrive one at a time. Spaces are never "cleaned up" around
    /// punctuation: llama.cpp does not for smollm, and it loses text.
    ///
    /// - Parameter includeSpecial: whether control tokens decode to their
    ///   text (e.g. `<|im_end|>`) rather than to nothing.
    /// - Throws: `TokenizerError.tokenOutOfRange` for an id outside the vocabulary.
    public func decode(_ ids: [Int], includeSpecial: Bool = false) throws(TokenizerError) -> String
    {
        String(decoding: try decodeBytes(ids, includeSpecial: includeSpecial), as: UTF8.self)
    }

    /// The raw bytes of `ids` joined; see `decode`.
    public func decodeBytes(
        _ ids: [Int], includeSpecial: Bool = false
    ) throws(TokenizerError) -> [UInt8] {
        var bytes: [UInt8] = []
        for id in ids {
            try appendBytes(of: id, includeSpecial: includeSpecial, to: &bytes)
        }
        return bytes
    }

    /// Appends the bytes token `id` decodes to.
    func appendBytes(
        of id: Int, includeSpecial: Bool, to bytes: inout [UInt8]
    ) throws(TokenizerError) {
        guard tokenTexts.indices.contains(id) else {
            throw .tokenOutOfRange(id: id, vocabularySize: vocabularySize)
        }
        if !includeSpecial && isControl(id) {
            return
        }
        bytes.append(contentsOf: pieceBytes[pieceOffsets[id]..<pieceOffsets[id + 1]])
    }
}
