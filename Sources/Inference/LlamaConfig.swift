import GGUF
import Support

/// Hyperparameters of a llama-family model, read from GGUF metadata and
/// checked against each other before any tensor is touched.
public struct LlamaConfig: Sendable, Equatable {
    /// Width of the residual stream (`llama.embedding_length`).
    public var embeddingLength: Int
    /// Hidden width of the feed-forward block.
    public var feedForwardLength: Int
    /// Transformer blocks.
    public var blockCount: Int
    /// Query heads.
    public var headCount: Int
    /// Key/value heads; query heads share them in groups (GQA).
    public var kvHeadCount: Int
    /// Dimensions rotated by RoPE within each head.
    public var ropeDimensions: Int
    /// RoPE base frequency.
    public var ropeFreqBase: Float
    /// RMSNorm epsilon.
    public var rmsEpsilon: Float
    /// Positions the model was trained for.
    public var contextLength: Int
    /// Rows of the embedding and of the output head.
    public var vocabularySize: Int

    /// Floats per head.
    public var headDimension: Int { embeddingLength / headCount }
    /// Floats of keys (or values) per position: all KV heads.
    public var kvDimension: Int { kvHeadCount * headDimension }

    public init(
        embeddingLength: Int, feedForwardLength: Int, blockCount: Int, headCount: Int,
        kvHeadCount: Int, ropeDimensions: Int, ropeFreqBase: Float, rmsEpsilon: Float,
        contextLength: Int, vocabularySize: Int
    ) {
        self.embeddingLength = embeddingLength
        self.feedForwardLength = feedForwardLength
        self.blockCount = blockCount
        self.headCount = headCount
        self.kvHeadCount = kvHeadCount
        self.ropeDimensions = ropeDimensions
        self.ropeFreqBase = ropeFreqBase
        self.rmsEpsilon = rmsEpsilon
        self.contextLength = contextLength
        self.vocabularySize = vocabularySize
    }

    /// Reads `llama.*` metadata; throws when the architecture is not llama or
    /// a value is missing or out of range.
    public init(gguf: GGUFFile) throws {
        let architecture = try gguf.string("general.architecture")
        guard architecture == "llama" else {
            throw InferenceError.unsupportedArchitecture(model: gguf.name, found: architecture)
        }
        let p = "llama."
        embeddingLength = try gguf.int(p + "embedding_length")
        feedForwardLength = try gguf.int(p + "feed_forward_length")
        blockCount = try gguf.int(p + "block_count")
        headCount = try gguf.int(p + "attention.head_count")
        kvHeadCount =
            gguf.metadata[p + "attention.head_count_kv"] == nil
            ? headCount : try gguf.int(p + "attention.head_count_kv")
        contextLength = try gguf.int(p + "context_length")
        rmsEpsilon = try gguf.float(p + "attention.layer_norm_rms_epsilon")
        ropeFreqBase =
            gguf.metadata[p + "rope.freq_base"] == nil
            ? 10_000 : try gguf.float(p + "rope.freq_base")
        let headDimension = headCount > 0 ? embeddingLength / headCount : 0
        ropeDimensions =
            gguf.metadata[p + "rope.dimension_count"] == nil
            ? headDimension : try gguf.int(p + "rope.dimension_count")
        vocabularySize =
            gguf.metadata[p + "vocab_size"] == nil
            ? try gguf.strings("tokenizer.ggml.tokens").count : try gguf.int(p + "vocab_size")
        try validate(model: gguf.name)
    }

    /// Checks every value against `Limits` and the others; an error
    /// names the key at fault.
    public func validate(model: String) throws {
        typealias L = Limits.Model
        func failure(_ key: String, _ value: String, _ limit: String) -> InferenceError {
            .badHyperparameter(model: model, key: "llama." + key, value: value, limit: limit)
        }
        func check(_ key: String, _ value: Int, _ range: ClosedRange<Int>) throws {
            guard range.contains(value) else {
                throw failure(key, String(value), "\(range.lowerBound)...\(range.upperBound)")
            }
        }
        try check("embedding_length", embeddingLength, 32...L.embeddingLengthMax)
        try check("feed_forward_length", feedForwardLength, 32...L.feedForwardLengthMax)
        try check("block_count", blockCount, 1...L.blockCountMax)
        try check("attention.head_count", headCount, 1...L.headCountMax)
        try check("attention.head_count_kv", kvHeadCount, 1...headCount)
        try check("context_length", contextLength, 1...L.contextLengthMax)
        try check("vocab_size", vocabularySize, 1...L.vocabularySizeMax)
        try check("rope.dimension_count", ropeDimensions, 0...(embeddingLength / headCount))

        // Heads split the embedding evenly, into widths RoPE can pair up, and
        // query heads share KV heads in equal groups.
        guard embeddingLength % headCount == 0, headDimension % 2 == 0 else {
            throw failure(
                "attention.head_count", String(headCount),
                "must divide embedding_length \(embeddingLength) into heads of even width")
        }
        guard headCount % kvHeadCount == 0 else {
            throw failure(
                "attention.head_count_kv", String(kvHeadCount),
                "must divide attention.head_count \(headCount)")
        }
        guard ropeDimensions % 2 == 0 else {
            throw failure("rope.dimension_count", String(ropeDimensions), "an even number")
        }

        // The kernels take whole quant blocks of 32 elements.
        let blockSize = 32
        guard embeddingLength % blockSize == 0 else {
            throw failure(
                "embedding_length", String(embeddingLength), "a multiple of \(blockSize)")
        }
        guard feedForwardLength % blockSize == 0 else {
            throw failure(
                "feed_forward_length", String(feedForwardLength), "a multiple of \(blockSize)")
        }

        // Floats: NaN fails every comparison, so it fails these too.
        guard rmsEpsilon > 0, rmsEpsilon < 1 else {
            throw failure("attention.layer_norm_rms_epsilon", "\(rmsEpsilon)", "in (0, 1)")
        }
        guard ropeFreqBase > 1, ropeFreqBase.isFinite else {
            throw failure("rope.freq_base", "\(ropeFreqBase)", "finite and > 1")
        }
    }
}
