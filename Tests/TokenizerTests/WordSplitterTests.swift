import Testing

@testable import Tokenizer

/// The pre-tokenizer against the patterns it ports.
///
/// Expected words: the Python `regex` module running llama.cpp's two smollm
/// patterns (`\p{N}`, then GPT-2's) with unmatched gaps kept as words, as
/// llama.cpp's `unicode_regex_split` does.
struct WordSplitterTests {
    static let smolLMCases: [(String, [String])] = [
        ("", []),
        ("Hello world", ["Hello", " world"]),
        ("   ", ["   "]),
        ("a  b", ["a", " ", " b"]),
        ("a\n\nb", ["a", "\n", "\n", "b"]),
        ("x  ", ["x", "  "]),
        (" \t\n x", [" \t\n", " x"]),
        ("?!  ...", ["?!", " ", " ..."]),
        ("don't", ["don", "'t"]),
        ("DON'T", ["DON", "'", "T"]),
        ("I'M", ["I", "'", "M"]),
        ("x'''s", ["x", "'''", "s"]),
        ("'ll've're'", ["'ll", "'ve", "'re", "'"]),
        ("it 's", ["it", " '", "s"]),
        ("12345", ["1", "2", "3", "4", "5"]),
        (" 42", [" ", "4", "2"]),
        ("v1.2", ["v", "1", ".", "2"]),
        ("cafe\u{301}", ["cafe", "\u{301}"]),
        ("你好，世界", ["你好", "，", "世界"]),
        ("a\u{A0}b", ["a", "\u{A0}", "b"]),
        (
            "\u{216B} and \u{BD} and \u{663}",
            ["\u{216B}", " and", " ", "\u{BD}", " and", " ", "\u{663}"]
        ),
        ("👋🏽!", ["👋🏽!"]),
    ]

    @Test(arguments: smolLMCases)
    func smolLMWords(_ text: String, _ expected: [String]) {
        // Bytes, not strings: `String ==` would accept a canonical equivalent.
        let words = Self.words(text, singleDigits: true).map { Array($0.utf8) }
        #expect(words == expected.map { Array($0.utf8) })
    }

    @Test func gpt2KeepsNumberRunsTogether() {
        let words = Self.words("v1.25 x 300", singleDigits: false)
        #expect(words == ["v", "1", ".", "25", " x", " 300"])
    }

    @Test func hostileRunsSplitInLinearTime() {
        // Each is one long run of a class; a backtracking matcher would
        // retry `\s+(?!\S)` from every start.
        let count = 100_000
        let runs = [
            String(repeating: " ", count: count) + "x",
            String(repeating: "'", count: count),
            String(repeating: "a", count: count),
            String(repeating: " \u{301}", count: count / 2),
        ]
        for text in runs {
            let words = Self.words(text, singleDigits: true)
            #expect(words.joined().utf8.count == text.utf8.count)
            #expect(words.count <= 3 || text.hasPrefix(" \u{301}"))
        }
    }

    /// The words of `text` as strings.
    static func words(_ text: String, singleDigits: Bool) -> [String] {
        var splitter = WordSplitter(singleDigits: singleDigits)
        var ranges: [Range<Int>] = []
        let bytes = Array(text.utf8)
        bytes.withUnsafeBufferPointer { buffer in
            splitter.split(buffer, range: 0..<buffer.count, into: &ranges)
        }
        return ranges.map { String(decoding: bytes[$0], as: UTF8.self) }
    }
}
