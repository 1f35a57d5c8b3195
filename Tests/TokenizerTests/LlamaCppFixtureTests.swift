import Testing

@testable import Tokenizer

/// The default model's tokenizer against llama.cpp.
///
/// Runs only where the model is found (see `RealModel.path`).
@Suite(.enabled(if: RealModel.isAvailable, "needs the default model; set ASTH_TEST_MODEL"))
struct LlamaCppFixtureTests {
    @Test func metadataIsRead() throws {
        let tokenizer = try RealModel.requireTokenizer()

        #expect(tokenizer.vocabularySize == 49152)
        #expect(tokenizer.bosID == 1)
        #expect(tokenizer.eosID == 2)
        #expect(tokenizer.unknownID == 0)
        #expect(tokenizer.paddingID == 2)
        #expect(!tokenizer.addBOS)
        #expect(tokenizer.tokenText(1) == "<|im_start|>")
        #expect(tokenizer.isControl(0) && tokenizer.isControl(2) && !tokenizer.isControl(17))
        #expect(tokenizer.tokenText(905) == "Ġworld")
    }

    @Test(arguments: try LlamaCppFixture.load().tokenize.map { ($0.text, $0.ids) })
    func tokenizeMatchesLlamaCpp(_ text: String, _ expected: [Int]) throws {
        let tokenizer = try RealModel.requireTokenizer()

        let ids = try tokenizer.encode(text, parseSpecial: false)

        #expect(ids == expected)
        #expect(try tokenizer.decodeBytes(ids) == Array(text.utf8))
    }

    @Test(arguments: try LlamaCppFixture.load().greedy.map { ($0.prompt, $0.promptIDs) })
    func promptsMatchLlamaCpp(_ prompt: String, _ expected: [Int]) throws {
        let tokenizer = try RealModel.requireTokenizer()

        let ids = try tokenizer.encode(prompt, parseSpecial: true)

        #expect(ids == expected)
        #expect(try tokenizer.decode(ids, includeSpecial: true) == prompt)
    }

    /// Cases llama.cpp's own vectors do not reach. Expected ids: an
    /// independent Python model of llama.cpp's path (the `regex` module
    /// running the smollm patterns, rank-order merging, llama.cpp's byte
    /// fallback), which reproduces every llama.cpp vector above.
    static let trickyCases: [(String, [Int])] = [
        ("", []),
        (" ", [216]),
        ("     ", [4444]),
        ("\n", [198]),
        ("\n\n\n", [16506]),
        ("\r\n\r\n", [18682]),
        ("\t\tx", [197, 197, 104]),
        (
            "Привет, мир! こんにちは 世界 مرحبا",
            [
                155, 249, 46879, 16464, 32547, 28, 41337, 7872, 9175, 17, 46673, 237, 10391, 237,
                41152, 7365, 111, 7365, 124, 216, 7906, 240, 178, 239, 230, 36395, 20602, 44626,
                31462, 10805,
            ]
        ),
        (
            "3141592653589793238462643383279",
            [
                35, 33, 36, 33, 37, 41, 34, 38, 37, 35, 37, 40, 41, 39, 41, 35, 34, 35, 40, 36, 38,
                34, 38, 36, 35, 35, 40, 35, 34, 39, 41,
            ]
        ),
        (
            "'s 'S ''t rock'n'roll o'clock '",
            [506, 637, 67, 10922, 100, 4022, 23, 94, 23, 2197, 263, 23, 17466, 637]
        ),
        ("it\u{2019}s", [269, 417, 99]),
        (
            "e\u{301} Z\u{351}\u{336}a\u{337}",
            [85, 151, 219, 1777, 152, 235, 151, 131, 81, 151, 132]
        ),
        ("<|im_start|>user", [44, 108, 306, 79, 3738, 108, 46, 4093]),
        (
            "👨\u{200D}👩\u{200D}👧 🇫🇷",
            [
                10813, 235, 118, 321, 231, 10813, 235, 119, 321, 231, 10813, 235, 117, 15107, 225,
                121, 10813, 225, 132,
            ]
        ),
        ("a\u{0}b\u{7F}c", [81, 190, 82, 217, 83]),
        ("\u{A0}\u{3000}x", [15442, 12109, 218, 104]),
        ("tab\tend\t", [15999, 197, 486, 197]),
        ("\u{FB01} \u{1C5} \u{210C}", [27141, 216, 146, 223, 4636, 222, 230]),
    ]

    @Test(arguments: trickyCases)
    func trickyTextRoundTrips(_ text: String, _ expected: [Int]) throws {
        let tokenizer = try RealModel.requireTokenizer()

        let ids = try tokenizer.encode(text, parseSpecial: false)

        #expect(ids == expected)
        #expect(try tokenizer.decodeBytes(ids) == Array(text.utf8))
    }

    /// SmolLM2 has no token for bytes 0x04, 0x06, 0x13, 0x14, 0x16, 0x1D,
    /// 0xF1, 0xF2 (nor for bytes UTF-8 never uses); llama.cpp drops them, and
    /// so do we, so these texts do not round-trip. Same Python model as above.
    static let droppedByteCases: [(String, [Int])] = [
        ("\u{4}", []),
        ("x\u{4}y", [104, 105]),
        ("\u{50000}", [234, 218, 218]),
    ]

    @Test(arguments: droppedByteCases)
    func bytesWithoutTokensAreDroppedLikeLlamaCpp(_ text: String, _ expected: [Int]) throws {
        let tokenizer = try RealModel.requireTokenizer()

        #expect(try tokenizer.encode(text, parseSpecial: false) == expected)
    }

    @Test func controlTokensInUserTextStayText() throws {
        let tokenizer = try RealModel.requireTokenizer()

        let parsed = try tokenizer.encode("<|im_start|>user", parseSpecial: true)
        let plain = try tokenizer.encode("<|im_start|>user", parseSpecial: false)

        #expect(parsed == [1, 4093])
        #expect(!plain.contains(1))
        #expect(try tokenizer.decode(plain) == "<|im_start|>user")
    }
}
