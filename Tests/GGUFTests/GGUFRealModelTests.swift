import Foundation
import GGUF
import Testing

/// The default model, found through `ASTH_TEST_MODEL`, then
/// `$ASTH_HOME/models`, then `~/.local/share/asthenosphere/models`.
enum TestModel {
    static let fileName = "smollm2-135m-instruct.gguf"

    static let path: String? = {
        let environment = ProcessInfo.processInfo.environment
        var candidates: [String] = []
        if let explicit = environment["ASTH_TEST_MODEL"], !explicit.isEmpty {
            candidates.append(explicit)
        }
        if let home = environment["ASTH_HOME"], !home.isEmpty {
            candidates.append(home + "/models/" + fileName)
        }
        let user = environment["HOME"] ?? NSHomeDirectory()
        candidates.append(user + "/.local/share/asthenosphere/models/" + fileName)
        return candidates.first { FileManager.default.fileExists(atPath: $0) }
    }()
}

/// SmolLM2-135M-Instruct Q4_1: figures from the file as llama.cpp reports it.
@Suite(.enabled(if: TestModel.path != nil, "the default model is not installed"))
struct GGUFRealModelTests {
    @Test func readsTheDefaultModel() throws {
        let file = try GGUFFile(path: TestModel.path!)

        #expect(file.tensors.count == 272)
        #expect(try file.string("general.architecture") == "llama")
        #expect(try file.int("llama.block_count") == 30)
        #expect(try file.strings("tokenizer.ggml.tokens").count == 49152)

        let embedding = try #require(file.tensor(named: "token_embd.weight"))
        #expect(embedding.type == .q8_0)
        #expect(embedding.dimensions == [576, 49152])
        #expect(embedding.sizeBytes == 576 / 32 * 34 * 49152)
        #expect(file.data(of: embedding).count == embedding.sizeBytes)
    }

    /// Not a timing gate (benchmarks never gate tests); records the parse
    /// time so a regression shows in the log.
    @Test func parseTime() throws {
        let clock = ContinuousClock()
        var file: GGUFFile?
        let elapsed = try clock.measure { file = try GGUFFile(path: TestModel.path!) }
        let model = try #require(file)
        var tokens: [String] = []
        let lookUp = try clock.measure { tokens = try model.strings("tokenizer.ggml.tokens") }
        #expect(tokens.count == 49152)
        print("gguf: parse file=\(TestModel.fileName) elapsed=\(elapsed) tokens=\(lookUp)")
    }
}
