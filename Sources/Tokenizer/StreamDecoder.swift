/// Decodes ids that arrive one at a time, giving back only whole characters.
///
/// A byte-level token may end inside a UTF-8 character (an emoji is often
/// split over several tokens). `push` returns the text that is complete so
/// far and holds the bytes of an unfinished character, at most three, until
/// the tokens that finish it arrive. Bytes that can never form a character
/// are not held: they come out as U+FFFD, so the stream never stalls.
///
/// Joining every `push` result and `finish()` gives the same text as
/// `Tokenizer.decode` of all the ids.
public struct StreamDecoder: Sendable {
    /// The tokenizer that spells the ids.
    public let tokenizer: Tokenizer
    /// Whether control tokens decode to their text.
    public let includeSpecial: Bool
    /// Bytes of an unfinished character; at most three.
    private var pending: [UInt8] = []

    public init(tokenizer: Tokenizer, includeSpecial: Bool = false) {
        self.tokenizer = tokenizer
        self.includeSpecial = includeSpecial
    }

    /// Adds token `id` and returns the text that is now complete, possibly "".
    ///
    /// - Throws: `TokenizerError.tokenOutOfRange` for an id outside the vocabulary.
    public mutating func push(_ id: Int) throws(TokenizerError) -> String {
        try tokenizer.appendBytes(of: id, includeSpecial: includeSpecial, to: &pending)
        let cut = Self.completePrefixLength(pending)
        let text = String(decoding: pending[..<cut], as: UTF8.self)
        pending.removeFirst(cut)
        precondition(pending.count <= 3, "StreamDecoder: held \(pending.count) bytes")
        return text
    }

    /// Returns what is still held, as U+FFFD since it never became a
    /// character, and starts over.
    public mutating func finish() -> String {
        defer { pending.removeAll() }
        return String(decoding: pending, as: UTF8.self)
    }

    /// Length of the prefix of `bytes` to release now: everything except a
    /// trailing lead byte whose continuation bytes have not all arrived.
    static func completePrefixLength(_ bytes: [UInt8]) -> Int {
        // The last byte that is not a continuation (10xxxxxx), within reach.
        let earliest = max(bytes.count - 3, 0)
        var lead = bytes.count - 1
        while lead >= earliest && bytes[lead] & 0xC0 == 0x80 {
            lead -= 1
        }
        guard lead >= earliest, let length = sequenceLength(lead: bytes[lead]) else {
            return bytes.count
        }

        // Hold it only if its character is still short of bytes.
        return bytes.count - lead < length ? lead : bytes.count
    }

    /// The length of the UTF-8 sequence a lead byte starts, or nil for an
    /// ASCII byte or one that cannot start a sequence.
    private static func sequenceLength(lead: UInt8) -> Int? {
        switch lead {
        case 0xC2...0xDF: return 2
        case 0xE0...0xEF: return 3
        case 0xF0...0xF4: return 4
        default: return nil
        }
    }
}
