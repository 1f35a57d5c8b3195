import Foundation
import GGUF
import Testing

@testable import Tokenizer

/// Tiny vocabularies built in code, so the BPE core is tested without a model.
enum Synthetic {
    /// The GPT-2 alphabet spelling of one byte.
    static func spell(byte: UInt8) -> String {
        String(Unicode.Scalar(ByteAlphabet.scalarValueForByte[Int(byte)])!)
    }

    /// The GPT-2 alphabet spelling of `text`: each UTF-8 byte as its scalar.
    static func spell(_ text: String) -> String {
        text.utf8.map { spell(byte: $0) }.joined()
    }

    /// A vocabulary laid out as `specials` (ids from 0), then the 256 byte
    /// tokens in byte order minus `missingBytes`, then `words` spelled in the
    /// byte alphabet. Merge rules are given in plain text and spelled here;
    /// `spelledMerges` come after them as written (for rules on part of a
    /// character).
    static func vocabulary(
        words: [String] = [], merges: [(String, String)] = [], spelledMerges: [String] = [],
        specials: [(String, Vocabulary.TokenType)] = [], missingBytes: Set<UInt8> = [],
        preTokenizer: Vocabulary.PreTokenizer = .gpt2SingleDigits
    ) -> Vocabulary {
        var tokens = specials.map(\.0)
        var types = specials.map(\.1)
        for byte in UInt8.min...UInt8.max where !missingBytes.contains(byte) {
            tokens.append(spell(byte: byte))
            types.append(.normal)
        }
        tokens.append(contentsOf: words.map(spell))
        types.append(contentsOf: words.map { _ in .normal })
        return Vocabulary(
            modelName: "synthetic", tokens: tokens, types: types,
            merges: merges.map { spell($0.0) + " " + spell($0.1) } + spelledMerges,
            preTokenizer: preTokenizer)
    }

    /// The id of the token spelling plain `text` in `vocabulary`.
    static func id(_ text: String, in vocabulary: Vocabulary) throws -> Int {
        let spelled = Array(spell(text).utf8)
        return try #require(
            vocabulary.tokens.lastIndex { Array($0.utf8) == spelled }, "no token \"\(text)\"")
    }

    /// The ids of the tokens spelling each plain text in `texts`.
    static func ids(_ texts: [String], in vocabulary: Vocabulary) throws -> [Int] {
        try texts.map { try id($0, in: vocabulary) }
    }
}

/// The default model and the llama.cpp reference vectors, when present.
enum RealModel {
    /// Where the model is: `ASTH_TEST_MODEL`, then `$ASTH_HOME/models/…`,
    /// then `~/.local/share/asthenosphere/models/…`; nil when none exists.
    static let path: String? = {
        let environment = ProcessInfo.processInfo.environment
        let file = "models/smollm2-135m-instruct.gguf"
        var candidates: [String] = []
        if let explicit = environment["ASTH_TEST_MODEL"], !explicit.isEmpty {
            candidates.append(explicit)
        }
        if let home = environment["ASTH_HOME"], !home.isEmpty {
            candidates.append(home + "/" + file)
        }
        candidates.append(NSHomeDirectory() + "/.local/share/asthenosphere/" + file)
        return candidates.first { FileManager.default.fileExists(atPath: $0) }
    }()

    /// Whether the real-model tests can run.
    static var isAvailable: Bool { path != nil }

    /// The model file, opened once for every test.
    static let gguf: Result<GGUFFile, GGUFError>? = path.map { path in
        Result { () throws(GGUFError) in try GGUFFile(path: path) }
    }

    /// The model's tokenizer, built once for every test.
    static let tokenizer: Result<Tokenizer, TokenizerError>? = gguf.map { file in
        Result { () throws(TokenizerError) in
            try Tokenizer(gguf: file.mapError(TokenizerError.gguf).get())
        }
    }

    /// The model file, or a thrown failure saying why it could not be read.
    static func requireGGUF() throws -> GGUFFile {
        try #require(gguf, "no model found").get()
    }

    /// The tokenizer, or a thrown failure saying why it could not be built.
    static func requireTokenizer() throws -> Tokenizer {
        try #require(tokenizer, "no model found").get()
    }
}

/// `Tests/Fixtures/smollm2-135m-q4_1.llamacpp.json`, produced by llama.cpp.
struct LlamaCppFixture: Decodable {
    struct Tokenize: Decodable {
        let text: String
        let ids: [Int]
    }

    struct Greedy: Decodable {
        let system: String
        let user: String
        let prompt: String
        let promptIDs: [Int]

        enum CodingKeys: String, CodingKey {
            case system, user, prompt
            case promptIDs = "prompt_ids"
        }
    }

    let tokenize: [Tokenize]
    let greedy: [Greedy]

    /// The fixture, read from the Fixtures folder beside this test folder.
    static func load() throws -> LlamaCppFixture {
        let url = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/smollm2-135m-q4_1.llamacpp.json")
        return try JSONDecoder().decode(LlamaCppFixture.self, from: Data(contentsOf: url))
    }
}
