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
    ///
    /// - Parameter progress: called on this thread after each real step of
    ///   the load (see `LoadProgress`); the last call has `fraction == 1`.
    public convenience init(
        url: URL, threads: Int? = nil, progress: (LoadProgress) -> Void = { _ in }
    ) throws {
        let file = try GGUFFile(path: url.path)
        try self.init(
            file: file, name: url.deletingPathExtension().lastPathComponent, threads: threads,
            progress: progress)
    }

    /// Builds everything a generation needs from a file already mapped and
    /// parsed (a host reads its hyperparameters first, to see whether the
    /// model fits its memory bound).
    public init(
        file: GGUFFile, name: String, threads: Int? = nil,
        progress: (LoadProgress) -> Void = { _ in }
    ) throws {
        let clock = ContinuousClock()
        let start = clock.now
        self.name = name
        self.file = file
        config = try LlamaConfig(gguf: file)
        var steps = LoadProgress.Steps(blockCount: config.blockCount)
        progress(steps.next(.mapped))

        // The weights, bound layer by layer, then the tokenizer and the device.
        let weights = try LlamaWeights(gguf: file, config: config) { _ in
            progress(steps.next(.binding))
        }
        tokenizer = try Tokenizer(gguf: file)
        progress(steps.next(.tokenizer))
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
        progress(steps.next(.device))
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

/// How far a model's load has come, counted in the loader's real steps:
/// the file mapped and parsed, each transformer block's weights bound, the
/// tokenizer built, the device ready. Steps are not equal in time; the
/// fraction says how many are done, not how long is left.
public struct LoadProgress: Sendable, Equatable {
    /// The step just finished.
    public enum Stage: String, Sendable, Codable {
        /// The file is mapped and its metadata parsed.
        case mapped
        /// One more block's weights are bound to the mapping.
        case binding
        /// The vocabulary and merges are built.
        case tokenizer
        /// The device is ready to dispatch: the load is over.
        case device
    }

    public var stage: Stage
    /// Steps finished, 1 to `stepCount`.
    public var stepIndex: Int
    /// Every step of this model's load: one per block, plus three.
    public var stepCount: Int

    public init(stage: Stage, stepIndex: Int, stepCount: Int) {
        self.stage = stage
        self.stepIndex = stepIndex
        self.stepCount = stepCount
    }

    /// Steps finished over all steps, 0 to 1.
    public var fraction: Double { Double(stepIndex) / Double(max(stepCount, 1)) }

    /// Counts the steps of one load.
    struct Steps {
        let count: Int
        private var done = 0

        init(blockCount: Int) {
            count = blockCount + 3
        }

        mutating func next(_ stage: Stage) -> LoadProgress {
            done += 1
            precondition(done <= count, "load step \(done) of \(count)")
            return LoadProgress(stage: stage, stepIndex: done, stepCount: count)
        }
    }
}
