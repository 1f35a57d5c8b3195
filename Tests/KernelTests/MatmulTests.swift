import CPUKernels
import Testing

/// Relative error bound of one matmul output: a fraction of Σ|terms|, the
/// sum of the magnitudes of every product that makes up the output.
let matmulRelativeErrorMax = 1e-5

/// The weight types asth_matmul takes.
let weightTypes = [ASTH_TYPE_Q4_0, ASTH_TYPE_Q4_1, ASTH_TYPE_Q8_0, ASTH_TYPE_F16, ASTH_TYPE_F32]

/// asth_matmul: the scalar reference against an exact (double) reference,
/// every variant against the scalar reference bit for bit.
@Suite struct MatmulTests {
    /// n_batch 1...17 over odd row ranges, padded strides, several widths;
    /// outputs outside the rows asked for stay untouched; every output has
    /// the scalar reference's bits.
    @Test(arguments: supportedVariants, weightTypes)
    func matchesReference(variant: asth_variant, type: asth_type) {
        var rng = SeededGenerator(seed: 100 + UInt64(type.rawValue))
        for nBatch in 1...17 {
            let nIn = [32, 96, 576, 160][nBatch % 4]
            let problem = MatmulProblem(
                type: type, nIn: nIn, nOut: 37 + nBatch % 5, nBatch: nBatch, using: &rng)
            let rows = (nBatch % 7)..<(problem.nOut - nBatch % 3)
            let got = problem.run(kernels(variant), rows: rows)
            let expected = problem.run(scalar, rows: rows)
            let label = "\(variant) \(type) n_batch=\(nBatch) n_in=\(nIn) rows=\(rows)"

            for b in 0..<nBatch {
                for r in 0..<problem.nOut {
                    let index = b * problem.outStride + r
                    guard rows.contains(r) else {
                        #expect(got[index].bitPattern == sentinel.bitPattern, "\(label) r=\(r)")
                        continue
                    }
                    let exact = problem.reference(row: r, batch: b)
                    let bound = matmulRelativeErrorMax * exact.magnitude + 1e-30
                    #expect(abs(Double(expected[index]) - exact.value) <= bound, "\(label)")
                    #expect(got[index].bitPattern == expected[index].bitPattern, "\(label) r=\(r)")
                }
            }
        }
    }

    /// Shapes that cross the SIMD kernels' tiling: long rows (257 blocks),
    /// batches of every tile path (1, 2, 3 and many batch rows, remainders
    /// of tiles), more than one pass of 64 batch rows.
    static let tileShapes: [(nBatch: Int, nIn: Int)] = [
        (1, 8224), (2, 8224), (3, 1536), (4, 1536), (7, 576), (40, 1536), (67, 64), (130, 96),
    ]

    @Test(arguments: supportedVariants, [ASTH_TYPE_Q4_0, ASTH_TYPE_Q4_1, ASTH_TYPE_Q8_0])
    func matchesScalarAcrossTiles(variant: asth_variant, type: asth_type) {
        var rng = SeededGenerator(seed: 200 + UInt64(type.rawValue))
        for (nBatch, nIn) in Self.tileShapes {
            let problem = MatmulProblem(type: type, nIn: nIn, nOut: 21, nBatch: nBatch, using: &rng)
            let rows = 1..<20
            let got = problem.run(kernels(variant), rows: rows)
            let expected = problem.run(scalar, rows: rows)
            let label = "\(variant) \(type) n_batch=\(nBatch) n_in=\(nIn)"
            #expect(bitDifferences(got, expected) == 0, "\(label)")
            for b in 0..<nBatch {
                for r in rows {
                    let exact = problem.reference(row: r, batch: b)
                    let bound = matmulRelativeErrorMax * exact.magnitude + 1e-30
                    let value = Double(expected[b * problem.outStride + r])
                    #expect(abs(value - exact.value) <= bound, "\(label)")
                }
            }
        }
    }

    /// Float weights at widths around the vec order's steps of 64 and the
    /// tile order's 16 lanes, with tails of every length class (F32 fuses
    /// only the last tail % 8 products), one and several batch rows.
    @Test(arguments: supportedVariants, [ASTH_TYPE_F16, ASTH_TYPE_F32])
    func floatWidthsMatchScalar(variant: asth_variant, type: asth_type) {
        var rng = SeededGenerator(seed: 300 + UInt64(type.rawValue))
        let widths = [1, 7, 8, 9, 15, 16, 17, 48, 63, 64, 65, 72, 100, 128, 135, 192, 200, 576]
        for nIn in widths {
            for nBatch in [1, 2, 3, 6] {
                let problem = MatmulProblem(
                    type: type, nIn: nIn, nOut: 11, nBatch: nBatch, using: &rng)
                let got = problem.run(kernels(variant), rows: 0..<11)
                let expected = problem.run(scalar, rows: 0..<11)
                #expect(
                    bitDifferences(got, expected) == 0,
                    "\(variant) \(type) n_in=\(nIn) n_batch=\(nBatch)")
            }
        }
    }

    /// Integer-valued blocks (d = 1, x = q) make every product exact.
    @Test(arguments: supportedVariants, [ASTH_TYPE_Q4_0, ASTH_TYPE_Q4_1, ASTH_TYPE_Q8_0])
    func isExactOnIntegerBlocks(variant: asth_variant, type: asth_type) {
        // x: one block with amax 127, so its scale is exactly 1.
        let x = (0..<32).map { Float(($0 * 37) % 255 - 127) }
        var xq = [asth_block_q8a](repeating: asth_block_q8a(), count: 1)
        scalar.quantize_row_q8a(x, &xq, 32)

        // w: nibbles j and 15 − j; d = 1 (0x3C00), m = −8 (0xC800).
        let nibbles = (0..<16).map { UInt8($0 | (15 - $0) << 4) }
        let w: [UInt8]
        let weights: [Float]
        switch type {
        case ASTH_TYPE_Q4_0, ASTH_TYPE_Q4_1:
            let header: [UInt8] = type == ASTH_TYPE_Q4_0 ? [0x00, 0x3C] : [0x00, 0x3C, 0x00, 0xC8]
            w = header + nibbles
            weights = (0..<16).map { Float($0 - 8) } + (0..<16).map { Float(7 - $0) }
        default:
            w = [0x00, 0x3C] + (0..<32).map { UInt8(bitPattern: Int8($0 * 7 - 100)) }
            weights = (0..<32).map { Float($0 * 7 - 100) }
        }

        var out: Float = .nan
        kernels(variant).matmul(type, w, 32, 0, 1, xq, Int64(q8aBlockBytes), 1, &out, 1)
        #expect(out == zip(weights, x).map(*).reduce(0, +))
    }
}

/// Sentinel in outputs no call should write.
let sentinel = Float(bitPattern: 0x7FC0_DEAD)

/// One random matmul: weights, activations in the layout `type` needs,
/// padded strides, and an exact reference.
struct MatmulProblem {
    let type: asth_type
    let nIn: Int
    let nOut: Int
    let nBatch: Int
    let weights: AlignedBuffer  // nOut rows of rowBytes
    let rowBytes: Int
    let activations: AlignedBuffer  // nBatch rows of xStrideBytes
    let xStrideBytes: Int
    var outStride: Int { nOut + 3 }

    /// - Parameter activations: another problem's activations (same type
    ///   family, width and batch) to share, or nil for new ones.
    init(
        type: asth_type, nIn: Int, nOut: Int, nBatch: Int, using rng: inout SeededGenerator,
        activations shared: AlignedBuffer? = nil
    ) {
        self.type = type
        self.nIn = nIn
        self.nOut = nOut
        self.nBatch = nBatch
        rowBytes = asth_row_bytes(type, Int64(nIn))
        weights = randomWeights(type, rows: nOut, nIn: nIn, using: &rng)

        // Activations: float rows, or q8a blocks for quantized weights; the
        // stride leaves a gap (and, for floats, breaks 32-byte alignment).
        let quantizedX = rowBytes != nIn * 4 && rowBytes != nIn * 2
        xStrideBytes = quantizedX ? (nIn / 32 + 1) * q8aBlockBytes : nIn * 4 + 12
        if let shared {
            activations = shared
            return
        }
        activations = AlignedBuffer(byteCount: nBatch * xStrideBytes)
        for b in 0..<nBatch {
            let x = randomFloats(nIn, in: -2...2, using: &rng).map { $0 * Float(b % 3 + 1) }
            let row = activations.pointer + b * xStrideBytes
            if quantizedX {
                let blocks = row.bindMemory(to: asth_block_q8a.self, capacity: nIn / 32)
                scalar.quantize_row_q8a(x, blocks, Int64(nIn))
            } else {
                row.copyMemory(from: x, byteCount: nIn * 4)
            }
        }
    }

    /// The pool's description of this matmul over all rows, into `out`.
    func job(into out: UnsafeMutablePointer<Float>) -> asth_matmul_job {
        asth_matmul_job(
            type: type, w: weights.pointer, n_in: Int64(nIn), n_out: Int64(nOut),
            x: activations.pointer, x_stride_bytes: Int64(xStrideBytes), n_batch: Int64(nBatch),
            out: out, out_stride: Int64(outStride))
    }

    /// Runs `table`'s matmul over `rows`; returns the whole output buffer.
    func run(_ table: asth_kernel_table, rows: Range<Int>) -> [Float] {
        var out = [Float](repeating: sentinel, count: nBatch * outStride)
        table.matmul(
            type, weights.pointer, Int64(nIn), Int64(rows.lowerBound), Int64(rows.upperBound),
            activations.pointer, Int64(xStrideBytes), Int64(nBatch), &out, Int64(outStride))
        return out
    }

    /// The exact dot product of weight row `row` and batch row `batch`, and
    /// Σ|terms|, in double from the raw bytes.
    func reference(row: Int, batch: Int) -> (value: Double, magnitude: Double) {
        let w = UnsafeRawPointer(weights.pointer + row * rowBytes)
        let x = UnsafeRawPointer(activations.pointer + batch * xStrideBytes)
        switch type {
        case ASTH_TYPE_F32, ASTH_TYPE_F16:
            return referenceFloatDot(w: w, x: x)
        default:
            return (0..<nIn / 32).reduce((0.0, 0.0)) { sum, b in
                let block = referenceBlockDot(w: w, x: x, block: b)
                return (sum.0 + block.value, sum.1 + block.magnitude)
            }
        }
    }

    private func referenceFloatDot(w: UnsafeRawPointer, x: UnsafeRawPointer)
        -> (value: Double, magnitude: Double)
    {
        var value = 0.0
        var magnitude = 0.0
        for i in 0..<nIn {
            var xi = x.loadUnaligned(fromByteOffset: i * 4, as: Float.self)
            let wi: Float
            if type == ASTH_TYPE_F16 {
                wi = f16Value(w.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))
                xi = Float(Float16(xi))
            } else {
                wi = w.loadUnaligned(fromByteOffset: i * 4, as: Float.self)
            }
            value += Double(wi) * Double(xi)
            magnitude += abs(Double(wi) * Double(xi))
        }
        return (value, magnitude)
    }

    /// Block b: d_w·d_x·Σ(q_w·q_x), plus m_w·s_x for Q4_1.
    private func referenceBlockDot(w: UnsafeRawPointer, x: UnsafeRawPointer, block b: Int)
        -> (value: Double, magnitude: Double)
    {
        let xb = x + b * q8aBlockBytes
        let dx = Double(xb.loadUnaligned(as: Float.self))
        let sx = Double(xb.loadUnaligned(fromByteOffset: 4, as: Float.self))
        let wb = w + b * (rowBytes / (nIn / 32))
        let dw = Double(f16Value(wb.loadUnaligned(as: UInt16.self)))
        let hasMin = type == ASTH_TYPE_Q4_1
        let mw = hasMin ? Double(f16Value(wb.loadUnaligned(fromByteOffset: 2, as: UInt16.self))) : 0

        var sum = 0
        var sumAbs = 0
        for j in 0..<32 {
            let qx = Int(xb.loadUnaligned(fromByteOffset: 8 + j, as: Int8.self))
            let qw: Int
            if type == ASTH_TYPE_Q8_0 {
                qw = Int(wb.loadUnaligned(fromByteOffset: 2 + j, as: Int8.self))
            } else {
                let byte = Int(wb.load(fromByteOffset: (hasMin ? 4 : 2) + j % 16, as: UInt8.self))
                qw = (j < 16 ? byte & 15 : byte >> 4) - (hasMin ? 0 : 8)
            }
            sum += qw * qx
            sumAbs += abs(qw * qx)
        }
        return (dw * dx * Double(sum) + mw * sx, abs(dw * dx) * Double(sumAbs) + abs(mw * sx))
    }
}

/// Random weights for `rows` rows of `nIn` elements, with ggml-like scales:
/// signed d for Q4_0 and Q8_0, positive d and mostly negative m for Q4_1.
func randomWeights(_ type: asth_type, rows: Int, nIn: Int, using rng: inout SeededGenerator)
    -> AlignedBuffer
{
    let rowBytes = asth_row_bytes(type, Int64(nIn))
    let buffer = AlignedBuffer(byteCount: rows * rowBytes)
    let p = buffer.pointer
    func put16(_ offset: Int, _ value: UInt16) {
        p.storeBytes(of: value, toByteOffset: offset, as: UInt16.self)
    }
    func putBytes(
        _ offset: Int, _ count: Int, _ range: ClosedRange<Int>, _ rng: inout SeededGenerator
    ) {
        for i in 0..<count {
            let value = Int.random(in: range, using: &rng)
            p.storeBytes(
                of: UInt8(truncatingIfNeeded: value), toByteOffset: offset + i, as: UInt8.self)
        }
    }

    let blockCount = rows * nIn / 32
    switch type {
    case ASTH_TYPE_F32:
        for i in 0..<rows * nIn {
            p.storeBytes(
                of: Float.random(in: -1...1, using: &rng), toByteOffset: i * 4, as: Float.self)
        }
    case ASTH_TYPE_F16:
        for i in 0..<rows * nIn { put16(i * 2, randomF16(in: -1...1, using: &rng)) }
    case ASTH_TYPE_Q4_0:
        for b in 0..<blockCount {
            put16(b * 18, randomF16(in: -0.05...0.05, using: &rng))
            putBytes(b * 18 + 2, 16, 0...255, &rng)
        }
    case ASTH_TYPE_Q4_1:
        for b in 0..<blockCount {
            put16(b * 20, randomF16(in: 0.001...0.05, using: &rng))
            put16(b * 20 + 2, randomF16(in: -0.5...0.1, using: &rng))
            putBytes(b * 20 + 4, 16, 0...255, &rng)
        }
    default:
        for b in 0..<blockCount {
            put16(b * 34, randomF16(in: -0.01...0.01, using: &rng))
            putBytes(b * 34 + 2, 32, -127...127, &rng)
        }
    }
    return buffer
}
