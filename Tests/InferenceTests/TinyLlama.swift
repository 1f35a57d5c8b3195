import GGUF
import Inference
import Support
import Synchronization
import Testing

/// Hyperparameters of a tiny llama model: small enough that a forward pass
/// takes well under a millisecond, large enough to have two layers, GQA,
/// two quant blocks per row and more positions than any test uses.
///
/// Fields hold what the `llama.*` keys of the same meaning hold: widths in
/// floats, counts of heads, blocks, tokens and positions.
struct TinyShape: Hashable, Sendable {
    var embedding = 64
    var headCount = 4
    var kvHeadCount = 2
    var feedForward = 128
    var blockCount = 2
    var vocabulary = 96
    var context = 64
    /// Dimensions RoPE turns in each head; nil leaves the key out (whole head).
    var ropeDimensions: Int?
    var ropeFreqBase: Float = 10_000
    var rmsEpsilon: Float = 1e-5
    /// True leaves `output.weight` out, so the head reuses the embedding.
    var tiedOutput = false

    var headDimension: Int { embedding / headCount }
    var kvDimension: Int { kvHeadCount * headDimension }
}

extension TinyShape: CustomTestStringConvertible {
    /// "e64 h4/2 f128 ×2 v96", the widths a test case differs in.
    var testDescription: String {
        "e\(embedding) h\(headCount)/\(kvHeadCount) f\(feedForward) ×\(blockCount) v\(vocabulary)"
    }
}

/// The weights of a tiny model as plain floats, exactly as the file stores
/// them (dequantized). Matrices are row-major: `rows` outputs of `columns`
/// inputs, the layout of a GGUF tensor with ne0 = columns.
struct DenseWeights: Sendable {
    struct Layer: Sendable {
        var attentionNorm: [Float]  // [embedding]
        var query: [Float]  // [embedding][embedding]
        var key: [Float]  // [kvDimension][embedding]
        var value: [Float]  // [kvDimension][embedding]
        var output: [Float]  // [embedding][embedding]
        var ffnNorm: [Float]  // [embedding]
        var gate: [Float]  // [feedForward][embedding]
        var up: [Float]  // [feedForward][embedding]
        var down: [Float]  // [embedding][feedForward]
    }

    var tokenEmbedding: [Float]  // [vocabulary][embedding]
    var layers: [Layer]
    var outputNorm: [Float]  // [embedding]
    var output: [Float]  // [vocabulary][embedding]; the embedding itself when tied
}

/// One tensor of a tiny model file, before it is written.
struct TinyTensor: Sendable {
    var name: String
    /// ne0 first: [columns, rows] for a matrix.
    var dimensions: [Int]
    var type: GGMLType
    var bytes: [UInt8]
}

/// A tiny llama model file, built in code from a seed, with every piece
/// open to tampering before `gguf()` writes it.
struct TinyModelFile: Sendable {
    var metadata: [(key: String, value: GGUFValue)]
    var tensors: [TinyTensor]

    /// Replaces the value at `key`, or adds it.
    mutating func set(_ key: String, _ value: GGUFValue) {
        if let index = metadata.firstIndex(where: { $0.key == key }) {
            metadata[index].value = value
        } else {
            metadata.append((key, value))
        }
    }

    /// Drops the pair at `key`.
    mutating func remove(_ key: String) {
        metadata.removeAll { $0.key == key }
    }

    /// Drops the tensor called `name`.
    mutating func removeTensor(_ name: String) {
        tensors.removeAll { $0.name == name }
    }

    /// Replaces the tensor called `name` with `tensor`.
    mutating func replaceTensor(_ name: String, with tensor: TinyTensor) {
        let index = tensors.firstIndex { $0.name == name }!
        tensors[index] = tensor
    }

    /// The file, parsed.
    func gguf(name: String = "tiny.gguf") throws -> GGUFFile {
        var builder = GGUFBuilder()
        for (key, value) in metadata {
            builder.add(key, value)
        }
        for tensor in tensors {
            builder.addTensor(
                tensor.name, dimensions: tensor.dimensions, type: tensor.type, data: tensor.bytes)
        }
        return try GGUFFile(bytes: builder.build(), name: name)
    }
}

/// A tiny llama model with seeded random weights in one storage type: the
/// file, what the device binds, and the dense floats a reference reads.
///
/// Tests feed token ids straight to the device: the file has no tokenizer,
/// and `llama.vocab_size` stands in for the token list.
struct TinyLlama: Sendable {
    let shape: TinyShape
    /// Storage type of every matrix; norms are always F32.
    let weightType: GGMLType
    let file: TinyModelFile
    let dense: DenseWeights
    let config: LlamaConfig
    let weights: LlamaWeights
    /// Keeps the mapped bytes alive for `weights`.
    let gguf: GGUFFile

    init(shape: TinyShape = TinyShape(), weightType: GGMLType = .f32, seed: UInt64 = 1) throws {
        var random = SplitMix64(seed: seed)
        let (file, dense) = Self.make(shape: shape, type: weightType, random: &random)
        self.shape = shape
        self.weightType = weightType
        self.file = file
        self.dense = dense
        gguf = try file.gguf(name: "tiny-\(weightType.name).gguf")
        config = try LlamaConfig(gguf: gguf)
        weights = try LlamaWeights(gguf: gguf, config: config)
    }

    /// The model for `shape`, `type` and `seed`, built once per test run:
    /// quantizing in an unoptimised build costs ~0.1 s a model, and most
    /// tests share a few.
    static func shared(shape: TinyShape = TinyShape(), type: GGMLType = .f32, seed: UInt64 = 7)
        throws -> TinyLlama
    {
        let key = Key(shape: shape, type: type, seed: seed)
        if let model = cache.withLock({ $0[key] }) {
            return model
        }
        let model = try TinyLlama(shape: shape, weightType: type, seed: seed)
        return cache.withLock { models in
            if let first = models[key] { return first }
            models[key] = model
            return model
        }
    }

    private struct Key: Hashable {
        let shape: TinyShape
        let type: GGMLType
        let seed: UInt64
    }

    /// Models built so far; guarded by its own lock.
    private static let cache = Mutex<[Key: TinyLlama]>([:])

    /// A fresh device over this model. One thread by default: tests run in
    /// parallel on few cores, and a tiny model gains nothing from more.
    func device(threads: Int = 1, rowsMax: Int = 64) -> CPUDevice {
        CPUDevice(config: config, weights: weights, threads: threads, rowsMax: rowsMax)
    }

    /// `count` token ids drawn from the vocabulary by `seed`.
    func randomTokens(_ count: Int, seed: UInt64) -> [Int] {
        var random = SplitMix64(seed: seed)
        return (0..<count).map { _ in Int(random.next() % UInt64(shape.vocabulary)) }
    }
}

// MARK: - Building the file

extension TinyLlama {
    /// The metadata `LlamaConfig(gguf:)` reads, in the value types real files use.
    static func metadata(_ s: TinyShape) -> [(key: String, value: GGUFValue)] {
        var pairs: [(key: String, value: GGUFValue)] = [
            ("general.architecture", .string("llama")),
            ("general.name", .string("tiny")),
            ("llama.embedding_length", .uint32(UInt32(s.embedding))),
            ("llama.feed_forward_length", .uint32(UInt32(s.feedForward))),
            ("llama.block_count", .uint32(UInt32(s.blockCount))),
            ("llama.attention.head_count", .uint32(UInt32(s.headCount))),
            ("llama.attention.head_count_kv", .uint32(UInt32(s.kvHeadCount))),
            ("llama.context_length", .uint32(UInt32(s.context))),
            ("llama.attention.layer_norm_rms_epsilon", .float32(s.rmsEpsilon)),
            ("llama.rope.freq_base", .float32(s.ropeFreqBase)),
            ("llama.vocab_size", .uint32(UInt32(s.vocabulary))),
        ]
        if let ropeDimensions = s.ropeDimensions {
            pairs.append(("llama.rope.dimension_count", .uint32(UInt32(ropeDimensions))))
        }
        return pairs
    }

    /// Draws every tensor, stores it as `type` and reads it back as floats.
    ///
    /// Matrices are uniform in ±√(3 / columns), so each output has about the
    /// variance of one input; the embedding is uniform in ±1 and the norms
    /// near 1. Logits then spread over a few units: the sampler has real
    /// choices, and attention is neither flat nor one-hot.
    private static func make(shape s: TinyShape, type: GGMLType, random: inout SplitMix64)
        -> (TinyModelFile, DenseWeights)
    {
        var tensors: [TinyTensor] = []
        func matrix(_ name: String, rows: Int, columns: Int, scale: Float? = nil) -> [Float] {
            let bound = scale ?? (3 / Float(columns)).squareRoot()
            let values = uniform(rows * columns, bound: bound, random: &random)
            let bytes = BlockCodec.encode(values, as: type)
            tensors.append(
                TinyTensor(name: name, dimensions: [columns, rows], type: type, bytes: bytes))
            return BlockCodec.decode(bytes, as: type, count: values.count)
        }
        func norm(_ name: String) -> [Float] {
            let values = uniform(s.embedding, bound: 0.2, random: &random).map { 1 + $0 }
            let bytes = BlockCodec.encode(values, as: .f32)
            tensors.append(
                TinyTensor(name: name, dimensions: [s.embedding], type: .f32, bytes: bytes))
            return values
        }

        // Embedding, blocks, final norm and head, in the order llama files use.
        let (e, kvd, f) = (s.embedding, s.kvDimension, s.feedForward)
        let embedding = matrix("token_embd.weight", rows: s.vocabulary, columns: e, scale: 1)
        let layers = (0..<s.blockCount).map { i in
            let p = "blk.\(i)."
            return DenseWeights.Layer(
                attentionNorm: norm(p + "attn_norm.weight"),
                query: matrix(p + "attn_q.weight", rows: e, columns: e),
                key: matrix(p + "attn_k.weight", rows: kvd, columns: e),
                value: matrix(p + "attn_v.weight", rows: kvd, columns: e),
                output: matrix(p + "attn_output.weight", rows: e, columns: e),
                ffnNorm: norm(p + "ffn_norm.weight"),
                gate: matrix(p + "ffn_gate.weight", rows: f, columns: e),
                up: matrix(p + "ffn_up.weight", rows: f, columns: e),
                down: matrix(p + "ffn_down.weight", rows: e, columns: f))
        }
        let outputNorm = norm("output_norm.weight")
        let output =
            s.tiedOutput
            ? embedding : matrix("output.weight", rows: s.vocabulary, columns: e, scale: 0.6)

        let file = TinyModelFile(metadata: metadata(s), tensors: tensors)
        let dense = DenseWeights(
            tokenEmbedding: embedding, layers: layers, outputNorm: outputNorm, output: output)
        return (file, dense)
    }

    /// `count` floats uniform in [−bound, bound).
    private static func uniform(_ count: Int, bound: Float, random: inout SplitMix64) -> [Float] {
        (0..<count).map { _ in Float(random.nextUnit() * 2 - 1) * bound }
    }
}

// MARK: - Running the device

extension Device {
    /// Feeds `tokens` to a fresh cache in one dispatch, every row asking for
    /// logits: [tokens.count][vocabulary], copied out of the device.
    func teacherForced(_ tokens: [Int], capacity: Int = 64) throws -> [[Float]] {
        let cache = makeCache(capacity: capacity)
        let rows = tokens.enumerated().map { position, token in
            BatchRow(cache: cache, position: position, token: token, wantsLogits: true)
        }
        let logits = try dispatch(rows)
        return (0..<logits.rowCount).map { Array(logits.row($0)) }
    }
}

extension Logits {
    /// Row `index`, copied: logits die at the next dispatch.
    func copy(_ index: Int) -> [Float] {
        Array(row(index))
    }
}
