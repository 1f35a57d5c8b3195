import Support

/// The lookup tables `Tokenizer.init` builds from a checked `Vocabulary`.
extension Tokenizer {
    /// Token ids keyed by the UTF-8 of their text.
    ///
    /// Keys are bytes, not `String`s: Swift strings compare equal under
    /// canonical equivalence, which would fold distinct tokens such as "é"
    /// and "e" + U+0301 together. A text spelled twice maps to its last id,
    /// as llama.cpp's `token_to_id` does.
    static func idsByText(_ tokens: [String]) -> [[UInt8]: Int32] {
        var ids: [[UInt8]: Int32] = [:]
        ids.reserveCapacity(tokens.count)
        for (id, text) in tokens.enumerated() {
            ids[Array(text.utf8)] = Int32(id)
        }
        return ids
    }

    /// The merge rules as pairs of UTF-8 byte strings, in rank order.
    ///
    /// - Throws: `TokenizerError.malformedMerge` for a rule that is not two
    ///   non-empty parts separated by a space.
    static func splitMerges(
        _ vocabulary: Vocabulary
    ) throws(TokenizerError) -> [([UInt8], [UInt8])] {
        var rules: [([UInt8], [UInt8])] = []
        rules.reserveCapacity(vocabulary.merges.count)
        for (index, rule) in vocabulary.merges.enumerated() {
            guard let parts = Vocabulary.splitMerge(rule) else {
                throw .malformedMerge(model: vocabulary.modelName, index: index, rule: rule)
            }
            rules.append(parts)
        }
        return rules
    }

    /// The tokens matched in text before pre-tokenization: control, unknown
    /// and user-defined ones with non-empty text, longest first, then by id.
    ///
    /// Longest first is llama.cpp's order, so `<|im_start|>` wins over any
    /// shorter special token that is a part of it.
    ///
    /// - Throws: `TokenizerError.tooMany` past `Limits.Tokenizer.specialTokenCountMax`.
    static func specialTokens(
        _ vocabulary: Vocabulary
    ) throws(TokenizerError) -> [SpecialToken] {
        var specials: [SpecialToken] = []
        for (id, type) in vocabulary.types.enumerated() {
            let needsParseSpecial: Bool
            switch type {
            case .control, .unknown: needsParseSpecial = true
            case .userDefined: needsParseSpecial = false
            case .undefined, .normal, .unused, .byte: continue
            }
            let bytes = Array(vocabulary.tokens[id].utf8)
            guard !bytes.isEmpty else { continue }
            specials.append(
                SpecialToken(id: Int32(id), bytes: bytes, needsParseSpecial: needsParseSpecial))
        }
        guard specials.count <= Limits.Tokenizer.specialTokenCountMax else {
            throw .tooMany(
                model: vocabulary.modelName, field: "special tokens", count: specials.count,
                limit: Limits.Tokenizer.specialTokenCountMax)
        }
        specials.sort { a, b in
            a.bytes.count != b.bytes.count ? a.bytes.count > b.bytes.count : a.id < b.id
        }
        return specials
    }

    /// What each token decodes to, back to back, with the start of each.
    ///
    /// Normal tokens are spelled in the GPT-2 byte alphabet and decode to
    /// the bytes it stands for; control, unknown and user-defined tokens
    /// decode to their text as written; unused slots decode to nothing.
    static func pieces(_ vocabulary: Vocabulary) -> (bytes: [UInt8], offsets: [Int]) {
        var bytes: [UInt8] = []
        var offsets: [Int] = [0]
        offsets.reserveCapacity(vocabulary.tokens.count + 1)
        for (text, type) in zip(vocabulary.tokens, vocabulary.types) {
            switch type {
            case .normal, .undefined, .byte:
                ByteAlphabet.appendBytes(spelledBy: text, to: &bytes)
            case .control, .unknown, .userDefined:
                bytes.append(contentsOf: text.utf8)
            case .unused:
                break
            }
            offsets.append(bytes.count)
        }
        return (bytes, offsets)
    }
}
