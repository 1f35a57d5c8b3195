import GGUF
import Inference
import Testing

/// `LlamaConfig(gguf:)` and `LlamaWeights(gguf:config:)` on tampered tiny
/// model files: every refusal names the key or tensor at fault.
@Suite("Config and weight validation")
struct ConfigValidationTests {
    static let fileName = "tampered.gguf"

    /// A tiny F32 model file, before tampering.
    static func file() throws -> TinyModelFile {
        try TinyLlama.shared().file
    }

    // MARK: Hyperparameters

    /// What a refusal must say.
    enum Refusal: Sendable, Equatable {
        /// `InferenceError.badHyperparameter` at this key, with this value.
        case hyperparameter(key: String, value: String)
        /// `InferenceError.unsupportedArchitecture` with the name found.
        case architecture(found: String)
        /// A `GGUFError` from the metadata look-up of this key.
        case metadata(key: String)
    }

    /// One tampered key and the refusal it earns.
    struct MetadataCase: CustomTestStringConvertible, Sendable {
        let name: String
        let edit: @Sendable (inout TinyModelFile) -> Void
        let refusal: Refusal
        var testDescription: String { name }
    }

    static func set(_ key: String, _ value: GGUFValue) -> @Sendable (inout TinyModelFile) -> Void {
        { $0.set(key, value) }
    }

    static func hyper(_ key: String, _ value: String) -> Refusal {
        .hyperparameter(key: "llama." + key, value: value)
    }

    static let metadataCases: [MetadataCase] = [
        // The architecture.
        MetadataCase(
            name: "architecture gpt2", edit: set("general.architecture", .string("gpt2")),
            refusal: .architecture(found: "gpt2")),
        MetadataCase(
            name: "architecture missing", edit: { $0.remove("general.architecture") },
            refusal: .metadata(key: "general.architecture")),

        // Zero, negative and huge values.
        MetadataCase(
            name: "embedding 0", edit: set("llama.embedding_length", .uint32(0)),
            refusal: hyper("embedding_length", "0")),
        MetadataCase(
            name: "embedding negative", edit: set("llama.embedding_length", .int32(-64)),
            refusal: hyper("embedding_length", "-64")),
        MetadataCase(
            name: "embedding huge", edit: set("llama.embedding_length", .uint32(1 << 20)),
            refusal: hyper("embedding_length", "1048576")),
        MetadataCase(
            name: "feed-forward 0", edit: set("llama.feed_forward_length", .uint32(0)),
            refusal: hyper("feed_forward_length", "0")),
        MetadataCase(
            name: "feed-forward huge", edit: set("llama.feed_forward_length", .uint64(1 << 40)),
            refusal: hyper("feed_forward_length", "1099511627776")),
        MetadataCase(
            name: "blocks 0", edit: set("llama.block_count", .uint32(0)),
            refusal: hyper("block_count", "0")),
        MetadataCase(
            name: "blocks huge", edit: set("llama.block_count", .uint32(100_000)),
            refusal: hyper("block_count", "100000")),
        MetadataCase(
            name: "heads 0", edit: set("llama.attention.head_count", .uint32(0)),
            refusal: hyper("attention.head_count", "0")),
        MetadataCase(
            name: "heads huge", edit: set("llama.attention.head_count", .uint32(4096)),
            refusal: hyper("attention.head_count", "4096")),
        MetadataCase(
            name: "kv heads 0", edit: set("llama.attention.head_count_kv", .uint32(0)),
            refusal: hyper("attention.head_count_kv", "0")),
        MetadataCase(
            name: "kv heads above heads", edit: set("llama.attention.head_count_kv", .uint32(8)),
            refusal: hyper("attention.head_count_kv", "8")),
        MetadataCase(
            name: "context 0", edit: set("llama.context_length", .uint32(0)),
            refusal: hyper("context_length", "0")),
        MetadataCase(
            name: "context huge", edit: set("llama.context_length", .uint32(1 << 24)),
            refusal: hyper("context_length", "16777216")),
        MetadataCase(
            name: "vocabulary 0", edit: set("llama.vocab_size", .uint32(0)),
            refusal: hyper("vocab_size", "0")),
        MetadataCase(
            name: "vocabulary huge", edit: set("llama.vocab_size", .uint32(1 << 24)),
            refusal: hyper("vocab_size", "16777216")),

        // Values that do not fit each other.
        MetadataCase(
            name: "heads not dividing the embedding",
            edit: {
                $0.set("llama.attention.head_count", .uint32(3))
                $0.set("llama.attention.head_count_kv", .uint32(1))
            },
            refusal: hyper("attention.head_count", "3")),
        MetadataCase(
            name: "kv heads not dividing the heads",
            edit: set("llama.attention.head_count_kv", .uint32(3)),
            refusal: hyper("attention.head_count_kv", "3")),
        MetadataCase(
            name: "heads of odd width",
            edit: {
                $0.set("llama.embedding_length", .uint32(96))
                $0.set("llama.attention.head_count", .uint32(32))
                $0.set("llama.attention.head_count_kv", .uint32(32))
            },
            refusal: hyper("attention.head_count", "32")),
        MetadataCase(
            name: "embedding not a multiple of 32",
            edit: set("llama.embedding_length", .uint32(48)),
            refusal: hyper("embedding_length", "48")),
        MetadataCase(
            name: "feed-forward not a multiple of 32",
            edit: set("llama.feed_forward_length", .uint32(100)),
            refusal: hyper("feed_forward_length", "100")),
        MetadataCase(
            name: "RoPE dimensions odd", edit: set("llama.rope.dimension_count", .uint32(7)),
            refusal: hyper("rope.dimension_count", "7")),
        MetadataCase(
            name: "RoPE dimensions past the head",
            edit: set("llama.rope.dimension_count", .uint32(32)),
            refusal: hyper("rope.dimension_count", "32")),

        // Floats.
        MetadataCase(
            name: "epsilon 0", edit: set("llama.attention.layer_norm_rms_epsilon", .float32(0)),
            refusal: hyper("attention.layer_norm_rms_epsilon", "0.0")),
        MetadataCase(
            name: "epsilon 1", edit: set("llama.attention.layer_norm_rms_epsilon", .float32(1)),
            refusal: hyper("attention.layer_norm_rms_epsilon", "1.0")),
        MetadataCase(
            name: "epsilon NaN",
            edit: set("llama.attention.layer_norm_rms_epsilon", .float32(.nan)),
            refusal: hyper("attention.layer_norm_rms_epsilon", "nan")),
        MetadataCase(
            name: "freq base 1", edit: set("llama.rope.freq_base", .float32(1)),
            refusal: hyper("rope.freq_base", "1.0")),
        MetadataCase(
            name: "freq base infinite", edit: set("llama.rope.freq_base", .float32(.infinity)),
            refusal: hyper("rope.freq_base", "inf")),

        // Missing keys and wrong types.
        MetadataCase(
            name: "embedding missing", edit: { $0.remove("llama.embedding_length") },
            refusal: .metadata(key: "llama.embedding_length")),
        MetadataCase(
            name: "epsilon missing", edit: { $0.remove("llama.attention.layer_norm_rms_epsilon") },
            refusal: .metadata(key: "llama.attention.layer_norm_rms_epsilon")),
        MetadataCase(
            name: "blocks as a string", edit: set("llama.block_count", .string("2")),
            refusal: .metadata(key: "llama.block_count")),
        MetadataCase(
            name: "context past Int", edit: set("llama.context_length", .uint64(.max)),
            refusal: .metadata(key: "llama.context_length")),
        MetadataCase(
            name: "no vocab_size and no token list", edit: { $0.remove("llama.vocab_size") },
            refusal: .metadata(key: "tokenizer.ggml.tokens")),
    ]

    @Test("a bad hyperparameter is refused, naming its key", arguments: metadataCases)
    func refusesMetadata(_ c: MetadataCase) throws {
        var file = try Self.file()
        c.edit(&file)
        let gguf = try file.gguf(name: Self.fileName)
        let error = try #require(throws: (any Error).self) { try LlamaConfig(gguf: gguf) }
        switch (c.refusal, error) {
        case (.hyperparameter(let key, let value), let e as InferenceError):
            guard case .badHyperparameter(let model, let foundKey, let foundValue, _) = e else {
                Issue.record("expected badHyperparameter at \(key), got \(e)")
                return
            }
            #expect(model == Self.fileName)
            #expect(foundKey == key)
            #expect(foundValue == value)
        case (.architecture(let found), let e as InferenceError):
            #expect(e == .unsupportedArchitecture(model: Self.fileName, found: found))
        case (.metadata(let key), let e as GGUFError):
            #expect(e.file == Self.fileName)
            #expect(e.field == "metadata '\(key)'")
        default:
            Issue.record("expected \(c.refusal), got \(error)")
        }
        #expect(String(describing: error).contains(Self.fileName))
    }

    /// Keys that may be left out, and what the config takes instead.
    @Test("optional keys fall back to their defaults")
    func optionalKeys() throws {
        var file = try Self.file()
        file.remove("llama.attention.head_count_kv")
        file.remove("llama.rope.freq_base")
        file.remove("llama.vocab_size")
        file.set("tokenizer.ggml.tokens", .array((0..<96).map { .string("t\($0)") }))
        let config = try LlamaConfig(gguf: file.gguf())

        #expect(config.kvHeadCount == config.headCount)
        #expect(config.ropeFreqBase == 10_000)
        #expect(config.ropeDimensions == config.headDimension)
        #expect(config.vocabularySize == 96)
    }

    // MARK: Tensors

    /// One tampered tensor and the error it earns.
    struct TensorCase: CustomTestStringConvertible, Sendable {
        let name: String
        let edit: @Sendable (inout TinyModelFile) -> Void
        let error: InferenceError
        var testDescription: String { name }
    }

    /// A tensor of `type` named `name` with zero bytes of the right size.
    static func tensor(_ name: String, _ dimensions: [Int], _ type: GGMLType = .f32) -> TinyTensor {
        let elements = dimensions.reduce(1, *)
        let bytes = [UInt8](repeating: 0, count: elements / type.blockElements * type.blockBytes)
        return TinyTensor(name: name, dimensions: dimensions, type: type, bytes: bytes)
    }

    static func replace(_ name: String, _ dimensions: [Int], _ type: GGMLType = .f32)
        -> @Sendable (inout TinyModelFile) -> Void
    {
        { $0.replaceTensor(name, with: tensor(name, dimensions, type)) }
    }

    static func missing(_ name: String) -> TensorCase {
        TensorCase(
            name: "\(name) missing", edit: { $0.removeTensor(name) },
            error: .missingTensor(model: fileName, name: name))
    }

    static func shape(_ name: String, _ found: [Int], expected: [Int]) -> TensorCase {
        TensorCase(
            name: "\(name) shaped \(found)", edit: replace(name, found),
            error: .tensorShape(model: fileName, name: name, found: found, expected: expected))
    }

    static func unsupported(_ name: String, _ dimensions: [Int], _ type: GGMLType) -> TensorCase {
        TensorCase(
            name: "\(name) in \(type.name)", edit: replace(name, dimensions, type),
            error: .unsupportedTensorType(model: fileName, name: name, type: type.name))
    }

    /// Shapes are ne0 first: [columns, rows]. The fixture has embedding 64,
    /// KV width 32, feed-forward 128, vocabulary 96.
    static let tensorCases: [TensorCase] = [
        missing("token_embd.weight"),
        missing("output_norm.weight"),
        missing("blk.0.attn_q.weight"),
        missing("blk.1.ffn_down.weight"),
        missing("blk.1.attn_norm.weight"),
        shape("token_embd.weight", [64, 95], expected: [64, 96]),
        shape("output.weight", [64, 97], expected: [64, 96]),
        shape("blk.0.attn_k.weight", [64, 64], expected: [64, 32]),
        shape("blk.1.ffn_down.weight", [64, 128], expected: [128, 64]),
        shape("blk.0.ffn_norm.weight", [32], expected: [64]),
        shape("blk.0.attn_norm.weight", [64, 1], expected: [64]),
        shape("blk.1.attn_v.weight", [64, 32, 1], expected: [64, 32]),
        unsupported("blk.0.attn_q.weight", [64, 64], .q5_0),
        unsupported("blk.1.ffn_up.weight", [64, 128], .bf16),
        unsupported("blk.0.ffn_norm.weight", [64], .q8_0),
    ]

    @Test("a missing or mis-shaped tensor is refused, naming it", arguments: tensorCases)
    func refusesTensor(_ c: TensorCase) throws {
        var file = try Self.file()
        c.edit(&file)
        let gguf = try file.gguf(name: Self.fileName)
        let config = try LlamaConfig(gguf: gguf)
        #expect(throws: c.error) { try LlamaWeights(gguf: gguf, config: config) }
    }

    @Test("without output.weight the head is the embedding")
    func tiedHead() throws {
        var file = try Self.file()
        file.removeTensor("output.weight")
        let gguf = try file.gguf()
        let weights = try LlamaWeights(gguf: gguf, config: LlamaConfig(gguf: gguf))
        #expect(weights.output.data == weights.tokenEmbedding.data)
        #expect(weights.output.rows == 96 && weights.output.columns == 64)
    }
}
