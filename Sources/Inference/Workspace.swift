import CPUKernels

/// Scratch buffers for one dispatch of up to `rowsMax` rows, allocated once
/// per device so that the hot path allocates nothing.
final class Workspace {
    let rowsMax: Int
    let x: UnsafeMutablePointer<Float>  // [rowsMax][embedding] residual stream
    let xb: UnsafeMutablePointer<Float>  // [rowsMax][embedding] normed input / projection out
    let q: UnsafeMutablePointer<Float>  // [rowsMax][embedding] queries
    let k: UnsafeMutablePointer<Float>  // [rowsMax][kvDimension] keys
    let v: UnsafeMutablePointer<Float>  // [rowsMax][kvDimension] values
    let attended: UnsafeMutablePointer<Float>  // [rowsMax][embedding] attention output
    let gate: UnsafeMutablePointer<Float>  // [rowsMax][feedForward]
    let up: UnsafeMutablePointer<Float>  // [rowsMax][feedForward]
    let quantized: UnsafeMutablePointer<asth_block_q8a>  // [rowsMax][feedForward / 32]

    /// Logits rows, grown on demand: most dispatches want one row or a few.
    private var logitsBuffer: UnsafeMutablePointer<Float>
    private var logitsRowsCapacity: Int
    private let vocabularySize: Int

    /// Floats to multiply, and the same rows quantized for integer kernels.
    struct Activations {
        let floats: UnsafeMutablePointer<Float>  // [rows][columns]
        let quantized: UnsafeMutablePointer<asth_block_q8a>  // [rows][columns / 32]
        let columns: Int
        var quantizedRowBytes: Int { columns / Int(ASTH_QK) * MemoryLayout<asth_block_q8a>.stride }
    }

    init(config c: LlamaConfig, rowsMax: Int) {
        self.rowsMax = rowsMax
        let (e, f, kvd) = (c.embeddingLength, c.feedForwardLength, c.kvDimension)
        x = .allocate(capacity: rowsMax * e)
        xb = .allocate(capacity: rowsMax * e)
        q = .allocate(capacity: rowsMax * e)
        k = .allocate(capacity: rowsMax * kvd)
        v = .allocate(capacity: rowsMax * kvd)
        attended = .allocate(capacity: rowsMax * e)
        gate = .allocate(capacity: rowsMax * f)
        up = .allocate(capacity: rowsMax * f)
        quantized = .allocate(capacity: rowsMax * max(e, f) / Int(ASTH_QK))
        vocabularySize = c.vocabularySize
        logitsRowsCapacity = 1
        logitsBuffer = .allocate(capacity: vocabularySize)
    }

    deinit {
        for buffer in [x, xb, q, k, v, attended, gate, up, logitsBuffer] {
            buffer.deallocate()
        }
        quantized.deallocate()
    }

    /// Quantizes `rows` rows of `columns` floats into the shared q8a buffer.
    func activations(_ floats: UnsafeMutablePointer<Float>, columns: Int, rows: Int)
        -> Activations
    {
        let blocks = columns / Int(ASTH_QK)
        for row in 0..<rows {
            asth_quantize_row_q8a(floats + row * columns, quantized + row * blocks, Int64(columns))
        }
        return Activations(floats: floats, quantized: quantized, columns: columns)
    }

    /// A logits buffer of at least `rows` rows.
    func logits(rows: Int) -> UnsafeMutablePointer<Float> {
        if rows > logitsRowsCapacity {
            logitsBuffer.deallocate()
            logitsRowsCapacity = rows
            logitsBuffer = .allocate(capacity: rows * vocabularySize)
        }
        return logitsBuffer
    }
}
