import Support
import Testing

@testable import Tokenizer

/// The BPE core on tiny vocabularies built in code: merge order, byte
/// fallback, special tokens, decoding and the checks on a vocabulary.
struct BytePairEncodingTests {
    struct MergeCase: CustomTestStringConvertible, Sendable {
        let name: String
        let words: [String]
        let merges: [(String, String)]
        let text: String
        let expected: [String]

        var testDescription: String { name }
    }

    static let mergeCases: [MergeCase] = [
        MergeCase(
            name: "rank decides, not position", words: ["ab", "bc"],
            merges: [("a", "b"), ("b", "c")], text: "abc", expected: ["ab", "c"]),
        MergeCase(
            name: "rank decides, reversed", words: ["ab", "bc"],
            merges: [("b", "c"), ("a", "b")], text: "abc", expected: ["a", "bc"]),
        MergeCase(
            name: "equal ranks merge leftmost first", words: ["aa"], merges: [("a", "a")],
            text: "aaa", expected: ["aa", "a"]),
        MergeCase(
            name: "merged symbols merge again", words: ["aa", "aaaa"],
            merges: [("a", "a"), ("aa", "aa")], text: "aaaaa", expected: ["aaaa", "a"]),
        MergeCase(
            name: "a chain builds a word", words: ["he", "ll", "hell", "hello"],
            merges: [("h", "e"), ("l", "l"), ("he", "ll"), ("hell", "o")], text: "hello",
            expected: ["hello"]),
        MergeCase(
            name: "merges stay inside words", words: ["a "], merges: [("a", " ")],
            text: "a b", expected: ["a", " ", "b"]),
        MergeCase(
            name: "a leading space merges with its word", words: [" b"], merges: [(" ", "b")],
            text: "a b", expected: ["a", " b"]),
        MergeCase(
            name: "a pair in the other order stays apart", words: ["ab"], merges: [("a", "b")],
            text: "ba", expected: ["b", "a"]),
        MergeCase(
            name: "the first of two rules for a pair wins", words: ["ab", "bc"],
            merges: [("b", "c"), ("a", "b"), ("b", "c")], text: "abc", expected: ["a", "bc"]),
        MergeCase(
            name: "no merges: one token per byte", words: [], merges: [], text: "hé",
            expected: ["h", "\u{E9}"]),
    ]

    @Test(arguments: mergeCases)
    func mergesApplyByRank(_ testCase: MergeCase) throws {
        let vocabulary = Synthetic.vocabulary(words: testCase.words, merges: testCase.merges)
        let tokenizer = try Tokenizer(vocabulary: vocabulary)

        let ids = try tokenizer.encode(testCase.text, parseSpecial: false)

        if testCase.words.isEmpty {
            // "é" has no token of its own: its two bytes come out one by one.
            let bytes = Array(testCase.text.utf8)
            #expect(ids == bytes.map { Int($0) })
        } else {
            #expect(ids == (try Synthetic.ids(testCase.expected, in: vocabulary)))
        }
        #expect(try tokenizer.decode(ids) == testCase.text)
    }

    @Test func bytesOfOneCharacterMerge() throws {
        // "é" is C3 A9; the rule joins the two byte spellings.
        let rule = Synthetic.spell(byte: 0xC3) + " " + Synthetic.spell(byte: 0xA9)
        let vocabulary = Synthetic.vocabulary(words: ["\u{E9}"], spelledMerges: [rule])
        let tokenizer = try Tokenizer(vocabulary: vocabulary)

        let ids = try tokenizer.encode("\u{E9}\u{E9}", parseSpecial: false)

        let merged = try Synthetic.id("\u{E9}", in: vocabulary)
        #expect(ids == [merged, merged])
    }

    @Test func symbolsOutsideTheVocabularyFallBackToBytes() throws {
        // "xy" is made by a rule but is no token; "xyz" is.
        let vocabulary = Synthetic.vocabulary(
            words: ["xyz"], merges: [("x", "y"), ("xy", "z")])
        let tokenizer = try Tokenizer(vocabulary: vocabulary)

        let throughMerge = try tokenizer.encode("xyz", parseSpecial: false)
        let stranded = try tokenizer.encode("xyw", parseSpecial: false)

        #expect(throughMerge == (try Synthetic.ids(["xyz"], in: vocabulary)))
        #expect(stranded == (try Synthetic.ids(["x", "y", "w"], in: vocabulary)))
        #expect(try tokenizer.decode(stranded) == "xyw")
    }

    @Test func bytesWithoutATokenAreDropped() throws {
        // SmolLM2 has no token for byte 0x04; llama.cpp drops such bytes.
        let vocabulary = Synthetic.vocabulary(missingBytes: [0x04])
        let tokenizer = try Tokenizer(vocabulary: vocabulary)

        let ids = try tokenizer.encode("a\u{04}b", parseSpecial: false)

        #expect(ids == (try Synthetic.ids(["a", "b"], in: vocabulary)))
    }

    @Test func numbersSplitPerDigitOnlyForSmolLM() throws {
        let merges = [("1", "2"), ("12", "3")]
        let words = ["12", "123"]
        let smol = Synthetic.vocabulary(words: words, merges: merges)
        let gpt2 = Synthetic.vocabulary(words: words, merges: merges, preTokenizer: .gpt2)

        let perDigit = try Tokenizer(vocabulary: smol).encode("123", parseSpecial: false)
        let whole = try Tokenizer(vocabulary: gpt2).encode("123", parseSpecial: false)

        #expect(perDigit == (try Synthetic.ids(["1", "2", "3"], in: smol)))
        #expect(whole == (try Synthetic.ids(["123"], in: gpt2)))
    }
}

// MARK: - Special tokens

extension BytePairEncodingTests {
    static let specials: [(String, Vocabulary.TokenType)] = [
        ("<|im_start|>", .control), ("<tool>", .userDefined), ("<a>", .control),
        ("<a><b>", .control), ("abc", .control), ("bcde", .control),
    ]

    struct SpecialCase: CustomTestStringConvertible, Sendable {
        let text: String
        let parseSpecial: Bool
        /// Ids below 6 are the specials above; strings are plain-text tokens.
        let expected: [Either]

        enum Either: Sendable {
            case special(Int)
            case text(String)
        }

        var testDescription: String { "\(text.debugDescription) parseSpecial=\(parseSpecial)" }
    }

    static let specialCases: [SpecialCase] = [
        SpecialCase(
            text: "<|im_start|>hi", parseSpecial: true, expected: [.special(0), .text("hi")]),
        SpecialCase(
            text: "<|im_start|>hi", parseSpecial: false, expected: [.text("<|im_start|>hi")]),
        SpecialCase(
            text: "x<tool>y", parseSpecial: false,
            expected: [.text("x"), .special(1), .text("y")]),
        SpecialCase(
            text: "x<tool>y", parseSpecial: true,
            expected: [.text("x"), .special(1), .text("y")]),
        SpecialCase(text: "<a><b><a>", parseSpecial: true, expected: [.special(3), .special(2)]),
        SpecialCase(text: "abcde", parseSpecial: true, expected: [.text("a"), .special(5)]),
        SpecialCase(text: "abcabc", parseSpecial: true, expected: [.special(4), .special(4)]),
        SpecialCase(text: "<|im_start|", parseSpecial: true, expected: [.text("<|im_start|")]),
    ]

    @Test(arguments: specialCases)
    func specialTokens(_ testCase: SpecialCase) throws {
        let vocabulary = Synthetic.vocabulary(specials: Self.specials)
        let tokenizer = try Tokenizer(vocabulary: vocabulary)

        let ids = try tokenizer.encode(testCase.text, parseSpecial: testCase.parseSpecial)

        var expected: [Int] = []
        for part in testCase.expected {
            switch part {
            case .special(let id): expected.append(id)
            case .text(let text): expected += text.utf8.map { Self.specials.count + Int($0) }
            }
        }
        #expect(ids == expected)
        #expect(try tokenizer.decode(ids, includeSpecial: true) == testCase.text)
    }

    @Test func segmentsParseSpecialTokensOnlyWhereAllowed() throws {
        let vocabulary = Synthetic.vocabulary(specials: Self.specials)
        let tokenizer = try Tokenizer(vocabulary: vocabulary)

        let ids = try tokenizer.encode([
            Tokenizer.Segment("<|im_start|>", parseSpecial: true),
            Tokenizer.Segment("<|im_start|>", parseSpecial: false),
        ])

        let plain = "<|im_start|>".utf8.map { Self.specials.count + Int($0) }
        #expect(ids == [0] + plain)
    }

    @Test func canonicallyEquivalentTokensStayApart() throws {
        // "é" precomposed and "e" + U+0301 are equal as Swift strings.
        let vocabulary = Synthetic.vocabulary(specials: [
            ("\u{E9}", .userDefined), ("e\u{301}", .userDefined),
        ])
        let tokenizer = try Tokenizer(vocabulary: vocabulary)

        #expect(try tokenizer.encode("\u{E9}", parseSpecial: false) == [0])
        #expect(try tokenizer.encode("e\u{301}", parseSpecial: false) == [1])
        #expect(tokenizer.id(forTokenText: "e\u{301}") == 1)
    }
}

// MARK: - Decoding, BOS and errors

extension BytePairEncodingTests {
    @Test func controlTokensDecodeOnlyWhenAsked() throws {
        let vocabulary = Synthetic.vocabulary(specials: Self.specials)
        let tokenizer = try Tokenizer(vocabulary: vocabulary)
        let ids = try tokenizer.encode("<|im_start|>x<tool>", parseSpecial: true)

        #expect(try tokenizer.decode(ids) == "x<tool>")
        #expect(try tokenizer.decode(ids, includeSpecial: true) == "<|im_start|>x<tool>")
        #expect(tokenizer.isControl(0))
        #expect(!tokenizer.isControl(1))
        #expect(throws: TokenizerError.self) { try tokenizer.decode([tokenizer.vocabularySize]) }
        #expect(throws: TokenizerError.self) { try tokenizer.decode([-1]) }
    }

    @Test func bosAndEosAreAddedWhenTheModelSaysSo() throws {
        var vocabulary = Synthetic.vocabulary(specials: [("<s>", .control), ("</s>", .control)])
        vocabulary.bosID = 0
        vocabulary.eosID = 1
        vocabulary.addBOS = true
        vocabulary.addEOS = true
        let tokenizer = try Tokenizer(vocabulary: vocabulary)

        let with = try tokenizer.encode("a", parseSpecial: false)
        let without = try tokenizer.encode("a", parseSpecial: false, addSpecial: false)

        let a = try Synthetic.id("a", in: vocabulary)
        #expect(with == [0, a, 1])
        #expect(without == [a])
    }

    @Test func duplicateTextsMapToTheLastID() throws {
        let vocabulary = Synthetic.vocabulary(words: ["ab", "ab"], merges: [("a", "b")])
        let tokenizer = try Tokenizer(vocabulary: vocabulary)

        #expect(try tokenizer.encode("ab", parseSpecial: false) == [vocabulary.tokens.count - 1])
    }

    @Test func textOverTheLimitIsRefused() throws {
        let tokenizer = try Tokenizer(vocabulary: Synthetic.vocabulary())
        let text = String(repeating: "a", count: Limits.Tokenizer.textBytesMax + 1)

        #expect {
            try tokenizer.encode(text, parseSpecial: false)
        } throws: { error in
            guard case .textTooLong(let bytes, let limit) = error as? TokenizerError else {
                return false
            }
            return bytes == Limits.Tokenizer.textBytesMax + 1
                && limit == Limits.Tokenizer.textBytesMax
        }
    }

    struct BadVocabulary: CustomTestStringConvertible, Sendable {
        let name: String
        let change: @Sendable (inout Vocabulary) -> Void
        let expected: String

        var testDescription: String { name }
    }

    static let badVocabularies: [BadVocabulary] = [
        BadVocabulary(
            name: "merge without a space", change: { $0.merges = ["ab"] },
            expected: "merges[0] \"ab\""),
        BadVocabulary(
            name: "merge with an empty right part", change: { $0.merges = ["a "] },
            expected: "merges[0] \"a \""),
        BadVocabulary(
            name: "types shorter than tokens", change: { $0.types.removeLast() },
            expected: "token_type has 255 entries, tokens has 256"),
        BadVocabulary(
            name: "bos out of range", change: { $0.bosID = 256 },
            expected: "bos_token_id 256 is outside the 256 tokens"),
        BadVocabulary(
            name: "negative eos", change: { $0.eosID = -1 },
            expected: "eos_token_id -1 is outside"),
        BadVocabulary(
            name: "add_bos without bos", change: { $0.addBOS = true },
            expected: "add_bos_token is set but bos_token_id is missing"),
    ]

    @Test(arguments: badVocabularies)
    func badVocabulariesAreRefusedWithEvidence(_ bad: BadVocabulary) throws {
        var vocabulary = Synthetic.vocabulary()
        bad.change(&vocabulary)

        let error = #expect(throws: TokenizerError.self) {
            try Tokenizer(vocabulary: vocabulary)
        }

        let message = error.map { "\($0)" } ?? ""
        #expect(message.contains(bad.expected), "\(message)")
        #expect(message.contains("synthetic"), "\(message)")
    }
}
