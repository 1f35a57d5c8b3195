import CPUKernels
import GGUF

/// A weight matrix as the kernels take it: `rows` output rows of `columns`
/// input elements each, in one of the kernel types, pointing into the
/// mapped file.
public struct WeightMatrix: @unchecked Sendable {
    /// Element type of the rows.
    public let type: asth_type
    /// First byte of row 0; lives as long as the GGUF file.
    public let data: UnsafeRawPointer
    /// Output rows (ggml's ne1).
    public let rows: Int
    /// Input elements per row (ggml's ne0).
    public let columns: Int
    /// Bytes per row.
    public let rowBytes: Int

    /// True when the kernels take quantized 8-bit activations for this type.
    public var takesQuantizedInput: Bool {
        type != ASTH_TYPE_F32 && type != ASTH_TYPE_F16
    }
}

/// The tensors of one transformer block.
public struct LlamaLayerWeights: @unchecked Sendable {
    public let attentionNorm: [Float]  // [embedding]
    public let query: WeightMatrix  // [embedding] -> [embedding]
    public let key: WeightMatrix  // [embedding] -> [kvDimension]
    public let value: WeightMatrix  // [embedding] -> [kvDimension]
    public let output: WeightMatrix  // [embedding] -> [embedding]
    public let ffnNorm: [Float]  // [embedding]
    public let gate: WeightMatrix  // [embedding] -> [feedForward]
    public let up: WeightMatrix  // [embedding] -> [feedForward]
    public let down: WeightMatrix  // [feedForward] -> [embedding]
}

/// Every tensor of a llama model, bound to the mapped file and checked
/// against the config. Norm vectors are copied out as floats (they are
/// tiny); matrices stay in the file.
public struct LlamaWeights: @unchecked Sendable {
    public let tokenEmbedding: WeightMatrix  // [vocabulary] rows of [embedding]
    public let outputNorm: [Float]  // [embedding]
    public let output: WeightMatrix  // [embedding] -> [vocabulary]; tied to the embedding
    public let layers: [LlamaLayerWeights]

    /// Binds the tensors of `gguf` by their GGUF names; `onBlock` is called
    /// with each block's index once its tensors are bound.
    public init(
        gguf: GGUFFile, config c: LlamaConfig, onBlock: (Int) -> Void = { _ in }
    ) throws {
        let binder = TensorBinder(gguf: gguf)
        let e = c.embeddingLength
        tokenEmbedding = try binder.matrix("token_embd.weight", columns: e, rows: c.vocabularySize)
        outputNorm = try binder.vector("output_norm.weight", count: e)
        if gguf.tensor(named: "output.weight") != nil {
            output = try binder.matrix("output.weight", columns: e, rows: c.vocabularySize)
        } else {
            output = tokenEmbedding
        }
        layers = try (0..<c.blockCount).map { i in
            let p = "blk.\(i)."
            let layer = LlamaLayerWeights(
                attentionNorm: try binder.vector(p + "attn_norm.weight", count: e),
                query: try binder.matrix(p + "attn_q.weight", columns: e, rows: e),
                key: try binder.matrix(p + "attn_k.weight", columns: e, rows: c.kvDimension),
                value: try binder.matrix(p + "attn_v.weight", columns: e, rows: c.kvDimension),
                output: try binder.matrix(p + "attn_output.weight", columns: e, rows: e),
                ffnNorm: try binder.vector(p + "ffn_norm.weight", count: e),
                gate: try binder.matrix(
                    p + "ffn_gate.weight", columns: e, rows: c.feedForwardLength),
                up: try binder.matrix(p + "ffn_up.weight", columns: e, rows: c.feedForwardLength),
                down: try binder.matrix(
                    p + "ffn_down.weight", columns: c.feedForwardLength, rows: e))
            onBlock(i)
            return layer
        }
    }
}

/// Looks tensors up and checks name, shape and type in one place.
private struct TensorBinder {
    let gguf: GGUFFile

    func info(_ name: String, expected: [Int]) throws -> GGUFTensorInfo {
        guard let info = gguf.tensor(named: name) else {
            throw InferenceError.missingTensor(model: gguf.name, name: name)
        }
        guard info.dimensions == expected else {
            throw InferenceError.tensorShape(
                model: gguf.name, name: name, found: info.dimensions, expected: expected)
        }
        return info
    }

    func matrix(_ name: String, columns: Int, rows: Int) throws -> WeightMatrix {
        let info = try info(name, expected: [columns, rows])
        guard let type = kernelType(info.type) else {
            throw InferenceError.unsupportedTensorType(
                model: gguf.name, name: name, type: info.type.name)
        }
        let rowBytes = asth_row_bytes(type, Int64(columns))
        precondition(rowBytes * rows == info.sizeBytes, "GGUF size disagrees with the kernels")
        return WeightMatrix(
            type: type, data: gguf.data(of: info).baseAddress!, rows: rows, columns: columns,
            rowBytes: rowBytes)
    }

    func vector(_ name: String, count: Int) throws -> [Float] {
        let info = try info(name, expected: [count])
        guard let type = kernelType(info.type), type == ASTH_TYPE_F32 || type == ASTH_TYPE_F16
        else {
            throw InferenceError.unsupportedTensorType(
                model: gguf.name, name: name, type: info.type.name)
        }
        var out = [Float](repeating: 0, count: count)
        out.withUnsafeMutableBufferPointer { dst in
            asth_dequantize_row(
                type, gguf.data(of: info).baseAddress!, dst.baseAddress!,
                Int64(count))
        }
        return out
    }

    func kernelType(_ type: GGMLType) -> asth_type? {
        switch type {
        case .f32: return ASTH_TYPE_F32
        case .f16: return ASTH_TYPE_F16
        case .q4_0: return ASTH_TYPE_Q4_0
        case .q4_1: return ASTH_TYPE_Q4_1
        case .q8_0: return ASTH_TYPE_Q8_0
        default: return nil
        }
    }
}
