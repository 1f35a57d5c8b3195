import Foundation
import GGUF
import Inference
import Support

/// The real default model, found as every test target finds it:
/// `ASTH_TEST_MODEL`, else the model store under `ASTH_HOME` or the default
/// home.
enum TestModel {
    static let path: String = {
        let environment = ProcessInfo.processInfo.environment
        if let explicit = environment["ASTH_TEST_MODEL"], !explicit.isEmpty {
            return explicit
        }
        let home = Support.Home.fromEnvironment()
        return home.modelsURL.appendingPathComponent("smollm2-135m-instruct.gguf").path
    }()

    /// The file, mapped once for the whole test run.
    static let gguf: GGUFFile = {
        do {
            return try GGUFFile(path: path)
        } catch {
            fatalError("the default model is needed at \(path) (run `make model`): \(error)")
        }
    }()

    /// A CPU device over the real weights.
    static func device(threads: Int = 2) throws -> CPUDevice {
        let config = try LlamaConfig(gguf: gguf)
        let weights = try LlamaWeights(gguf: gguf, config: config)
        return CPUDevice(config: config, weights: weights, threads: threads)
    }
}

/// llama.cpp's outputs on the default model (see Tests/Fixtures/README.md).
struct Reference: Decodable {
    struct Greedy: Decodable {
        let system: String
        let user: String
        let prompt: String
        let prompt_ids: [Int]
        let ids: [Int]
        let text: String
    }

    struct TopLogits: Decodable {
        let pos: Int
        let top_ids: [Int]
        let top_logits: [Float]
    }

    let greedy: [Greedy]
    let logits: [TopLogits]

    static let shared: Reference = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../Fixtures/smollm2-135m-q4_1.llamacpp.json")
        let data = try! Data(contentsOf: url)
        return try! JSONDecoder().decode(Reference.self, from: data)
    }()
}

/// llama.cpp's top logits at every step of the greedy fixtures, one
/// token per decode (see Tests/Fixtures/README.md).
struct DecodeReference: Decodable {
    struct Step: Decodable {
        let step: Int
        let top_ids: [Int]
        let top_logits: [Float]
    }

    struct Run: Decodable {
        let greedy_index: Int
        let steps: [Step]
    }

    let decode: [Run]

    static let shared: DecodeReference = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../Fixtures/smollm2-135m-q4_1.llamacpp-decode.json")
        let data = try! Data(contentsOf: url)
        return try! JSONDecoder().decode(DecodeReference.self, from: data)
    }()
}
