import CPUKernels
import GGUF
import Support

/// A weight matrix as the kernels take it: `rows` output rows of `columns`
/// input elements each, in one of the kernel types, pointing into the
/// mapped file, or into panels packed at load (a panel type, see
/// `LlamaWeights.isPacked`).
public struct WeightMatrix: @unchecked Sendable {
    /// Element type of the rows, or the panel type that holds them.
    public let type: asth_type
    /// First byte of row 0 (of panel 0); lives as long as the GGUF file
    /// (as the `LlamaWeights` holding the panels).
    public let data: UnsafeRawPointer
    /// Output rows (ggml's ne1).
    public let rows: Int
    /// Input elements per row (ggml's ne0).
    public let columns: Int
    /// Bytes per row in the file; row r lies at `data + r · rowBytes` only
    /// when the matrix is not packed.
    public let rowBytes: Int

    /// True when the rows are packed into panels of 16.
    public var isPacked: Bool {
        type.rawValue & UInt32(ASTH_PANEL_TYPE_BIT) != 0
    }

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
/// tiny); matrices stay in the file, or are packed into panels once, here,
/// when the kernels in use read panels (the token embedding stays in the
/// file: a lookup reads single rows).
public struct LlamaWeights: @unchecked Sendable {
    public let tokenEmbedding: WeightMatrix  // [vocabulary] rows of [embedding]
    public let outputNorm: [Float]  // [embedding]
    public let output: WeightMatrix  // [embedding] -> [vocabulary]; tied to the embedding
    public let layers: [LlamaLayerWeights]
    /// True when the quantized matrices (all but the embedding) are packed.
    public let isPacked: Bool
    /// The packed matrices' memory, when packed.
    private let panels: PanelBuffers?

    private static let log = Log("weights")

    /// Binds the tensors of `gguf` by their GGUF names; `onBlock` is called
    /// with each block's index once its tensors are bound.
    ///
    /// - Parameter packing: pack the quantized matrices into panels and
    ///   release the file's pages; by default when the kernel variant in
    ///   use (pinned at process start) reads panels.
    public init(
        gguf: GGUFFile, config c: LlamaConfig, onBlock: (Int) -> Void = { _ in },
        packing: Bool = asth_variant_packs_weights(asth_variant_current()) != 0
    ) throws {
        let binder = TensorBinder(gguf: gguf)
        let e = c.embeddingLength
        tokenEmbedding = try binder.matrix("token_embd.weight", columns: e, rows: c.vocabularySize)
        outputNorm = try binder.vector("output_norm.weight", count: e)
        var output = tokenEmbedding
        if gguf.tensor(named: "output.weight") != nil {
            output = try binder.matrix("output.weight", columns: e, rows: c.vocabularySize)
        }
        var layers = try (0..<c.blockCount).map { i in
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

        // Panels for the kernels that read them, the file's pages given back.
        isPacked = packing
        guard packing else {
            (self.output, self.layers, panels) = (output, layers, nil)
            return
        }
        let clock = ContinuousClock()
        let start = clock.now
        let packer = PanelPacker(gguf: gguf)
        layers = layers.map { $0.packed(by: packer) }
        output = packer.pack(output)
        packer.releaseTensorData()
        (self.output, self.layers, panels) = (output, layers, packer.buffers)
        Self.log.info(
            "packed",
            [
                "model": gguf.name, "mb": packer.buffers.byteCount >> 20,
                "ms": Int((clock.now - start).milliseconds),
            ])
    }
}

extension LlamaLayerWeights {
    /// This block's matrices packed by `packer`.
    fileprivate func packed(by packer: PanelPacker) -> LlamaLayerWeights {
        LlamaLayerWeights(
            attentionNorm: attentionNorm, query: packer.pack(query), key: packer.pack(key),
            value: packer.pack(value), output: packer.pack(output), ffnNorm: ffnNorm,
            gate: packer.pack(gate), up: packer.pack(up), down: packer.pack(down))
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
