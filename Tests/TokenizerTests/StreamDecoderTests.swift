import Testing

@testable import Tokenizer

/// Streaming decode: ids one at a time, text released only whole.
struct StreamDecoderTests {
    @Test func heldBytesWaitForTheRestOfTheirCharacter() throws {
        // With no merges, every byte is its own token: "🚀" is 4 tokens.
        let tokenizer = try Tokenizer(vocabulary: Synthetic.vocabulary())
        var decoder = StreamDecoder(tokenizer: tokenizer)

        let pieces = try "a🚀é".utf8.map { try decoder.push(Int($0)) }

        #expect(pieces == ["a", "", "", "", "🚀", "", "é"])
        #expect(decoder.finish() == "")
    }

    struct BrokenCase: Sendable, CustomTestStringConvertible {
        let bytes: [UInt8]
        let expected: [String]
        let tail: String

        var testDescription: String { bytes.map { String($0, radix: 16) }.joined(separator: " ") }
    }

    static let brokenCases: [BrokenCase] = [
        // A lead byte followed by ASCII: released at once, not held forever.
        BrokenCase(bytes: [0xE4, 0x61], expected: ["", "\u{FFFD}a"], tail: ""),
        // A stray continuation byte is never held.
        BrokenCase(bytes: [0x80, 0x61], expected: ["\u{FFFD}", "a"], tail: ""),
        // A byte that cannot start a character is never held.
        BrokenCase(bytes: [0xFF], expected: ["\u{FFFD}"], tail: ""),
        // An unfinished character at the end comes out of `finish`.
        BrokenCase(bytes: [0x61, 0xF0, 0x9F], expected: ["a", "", ""], tail: "\u{FFFD}"),
    ]

    @Test(arguments: brokenCases)
    func brokenSequencesNeverStall(_ testCase: BrokenCase) throws {
        let tokenizer = try Tokenizer(vocabulary: Synthetic.vocabulary())
        var decoder = StreamDecoder(tokenizer: tokenizer)

        let pieces = try testCase.bytes.map { try decoder.push(Int($0)) }

        #expect(pieces == testCase.expected)
        #expect(decoder.finish() == testCase.tail)
    }

    @Test func controlTokensStreamOnlyWhenAsked() throws {
        let vocabulary = Synthetic.vocabulary(specials: [("<|im_end|>", .control)])
        let tokenizer = try Tokenizer(vocabulary: vocabulary)
        var quiet = StreamDecoder(tokenizer: tokenizer)
        var loud = StreamDecoder(tokenizer: tokenizer, includeSpecial: true)

        #expect(try quiet.push(0) == "")
        #expect(try loud.push(0) == "<|im_end|>")
        #expect(throws: TokenizerError.self) { try quiet.push(vocabulary.tokens.count) }
    }
}

/// Streaming the real model's emoji and CJK fixtures.
@Suite(.enabled(if: RealModel.isAvailable, "needs the default model; set ASTH_TEST_MODEL"))
struct StreamDecoderRealModelTests {
    @Test(
        arguments: try LlamaCppFixture.load().tokenize.filter { $0.text.utf8.count > $0.text.count }
            .map(\.text))
    func streamingEqualsDecodingWhole(_ text: String) throws {
        let tokenizer = try RealModel.requireTokenizer()
        let ids = try tokenizer.encode(text, parseSpecial: false)
        var decoder = StreamDecoder(tokenizer: tokenizer)

        var pieces = try ids.map { try decoder.push($0) }
        pieces.append(decoder.finish())

        // Each piece is whole text (no U+FFFD) and together they are the input.
        #expect(pieces.allSatisfy { !$0.unicodeScalars.contains("\u{FFFD}") })
        #expect(Array(pieces.joined().utf8) == Array(text.utf8))
        #expect(pieces.contains(""), "some token should end inside a character")
    }
}
