import Foundation
import Testing
import Tokenizer

/// Encode speed on the real model. A benchmark, not a gate: it runs only with
/// `ASTH_BENCH=1` (meant for `swift test -c release`), prints its figures and
/// checks only that the ids decode back to the text.
@Suite(
    .enabled(if: RealModel.isAvailable, "needs the default model; set ASTH_TEST_MODEL"),
    .enabled(if: ProcessInfo.processInfo.environment["ASTH_BENCH"] == "1", "set ASTH_BENCH=1"))
struct EncodeBenchmarkTests {
    /// Mixed prose, code, numbers, CJK and emoji, repeated to `characters`.
    static func mixedText(characters: Int) -> String {
        let paragraph = """
            The quick brown fox doesn't jump over 1,234 lazy dogs; \
            it's 3.14159 times faster! \
            def f(x):\n    return x ** 2  # square\n\t你好，世界 — café naïve 👋🏽🚀 \
            Привет, мир. They're here, we've gone, I'll stay.\n\n
            """
        var text = ""
        while text.count < characters {
            text += paragraph
        }
        return String(text.prefix(characters))
    }

    /// Texts at the size limit that are one long run of a single class.
    static let hostileTexts: [(String, String)] = [
        ("1 MiB of one letter", String(repeating: "a", count: 1 << 20)),
        ("1 MiB of spaces", String(repeating: " ", count: 1 << 20)),
        ("1 MiB of apostrophes", String(repeating: "'", count: 1 << 20)),
        ("1 MiB of digits", String(repeating: "7", count: 1 << 20)),
    ]

    @Test func encodeSpeed() throws {
        let clock = ContinuousClock()
        let readStart = clock.now
        let vocabulary = try Vocabulary(gguf: try RealModel.requireGGUF())
        let buildStart = clock.now
        let tokenizer = try Tokenizer(vocabulary: vocabulary)
        let (readTime, buildTime) = (buildStart - readStart, clock.now - buildStart)

        // 10,000 characters, best of 20 runs.
        let text = Self.mixedText(characters: 10_000)
        var ids: [Int] = []
        var best = Duration.seconds(3600)
        for _ in 0..<20 {
            let start = clock.now
            ids = try tokenizer.encode(text, parseSpecial: false)
            best = min(best, clock.now - start)
        }
        #expect(try tokenizer.decodeBytes(ids) == Array(text.utf8))
        print(
            "tokenizer bench: read=\(readTime) build=\(buildTime) chars=10000"
                + " bytes=\(text.utf8.count) tokens=\(ids.count) encode=\(best)")

        // Hostile runs at the limit, once each.
        for (name, hostile) in Self.hostileTexts {
            let start = clock.now
            let hostileIDs = try tokenizer.encode(hostile, parseSpecial: true)
            let elapsed = clock.now - start
            #expect(try tokenizer.decodeBytes(hostileIDs) == Array(hostile.utf8))
            print("tokenizer bench: \(name): tokens=\(hostileIDs.count) encode=\(elapsed)")
        }
    }
}
