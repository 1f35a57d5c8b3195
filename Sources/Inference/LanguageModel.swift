import Foundation
import GGUF
import Support
import Tokenizer

/// A model ready to generate: the mapped file, its hyperparameters and
/// weights, its tokenizer and chat template, and the device it runs on.
///
/// Loaded once per file and shared by every persona that names it; the
/// weights stay in the read-only mapping.
public final class LanguageModel: @unchecked Sendable {
    /// The store name or file stem: "smollm2-135m-instruct".
    public let name: String
    public let file: GGUFFile
    public let config: LlamaConfig
    public let tokenizer: Tokenizer
    public let template: ChatTemplate
    public let device: Device
    /// Weights in the file, for pricing and reports.
    public let parameterCount: Int
    /// Ids that end an assistant turn.
    public let stopIDs: Set<Int>

    private static let log = Log("model")

    /// Maps `url` and builds everything a generation needs.
    public init(url: URL, threads: Int? = nil) throws {
        let clock = ContinuousClock()
        let start = clock.now
        name = url.deletingPathExtension().lastPathComponent
        file = try GGUFFile(path: url.path)
        config = try LlamaConfig(gguf: file)
        let weights = try LlamaWeights(gguf: file, config: config)
        tokenizer = try Tokenizer(gguf: file)
        guard tokenizer.vocabularySize == config.vocabularySize else {
            throw InferenceError.badHyperparameter(
                model: file.name, key: "tokenizer.ggml.tokens",
                value: "\(tokenizer.vocabularySize) tokens",
                limit: "must equal the embedding's \(config.vocabularySize) rows")
        }
        template = try ChatTemplate(
            source: file.string("tokenizer.chat_template"), modelName: file.name)
        device = CPUDevice(config: config, weights: weights, threads: threads)
        parameterCount = file.tensors.reduce(0) { $0 + $1.elementCount }
        stopIDs = Set(template.stopIDs(for: tokenizer))
        Self.log.info(
            "load",
            [
                "model": name, "parameters": parameterCount,
                "ms": Int((clock.now - start).milliseconds),
            ])
    }

    /// A fresh sequence with room for `capacity` positions (capped at the
    /// model's trained context).
    public func makeSequence(capacity: Int) -> TokenSequence {
        TokenSequence(cache: device.makeCache(capacity: min(capacity, config.contextLength)))
    }
}
