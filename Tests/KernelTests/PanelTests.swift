import CPUKernels
import Testing

/// The quantized types that have a panel layout.
let panelledTypes = [ASTH_TYPE_Q4_0, ASTH_TYPE_Q4_1, ASTH_TYPE_Q8_0]

/// A problem's weights packed into panels (asth_panel_pack), in one
/// ASTH_PANEL_ALIGN-aligned buffer.
struct PackedWeights {
    let type: asth_type
    let buffer: AlignedBuffer

    /// Packs all of `problem`'s rows; `slices` packs them in that many
    /// pieces, last first, as a loader may.
    init(_ problem: MatmulProblem, slices: Int = 1) {
        type = asth_panel_type(problem.type)
        let nPanels = (problem.nOut + Int(ASTH_PANEL_ROWS) - 1) / Int(ASTH_PANEL_ROWS)
        buffer = AlignedBuffer(
            byteCount: asth_panel_bytes(type, Int64(problem.nIn), Int64(problem.nOut)))
        let share = (nPanels + slices - 1) / slices
        for begin in stride(from: 0, to: nPanels, by: share).reversed() {
            asth_panel_pack(
                problem.type, problem.weights.pointer, Int64(problem.nIn), Int64(problem.nOut),
                Int64(begin), Int64(min(begin + share, nPanels)), buffer.pointer)
        }
    }

    /// Runs `table`'s matmul on the panels over `rows`, as MatmulProblem.run.
    func run(_ table: asth_kernel_table, _ problem: MatmulProblem, rows: Range<Int>) -> [Float] {
        var out = [Float](repeating: sentinel, count: problem.nBatch * problem.outStride)
        table.matmul(
            type, buffer.pointer, Int64(problem.nIn), Int64(rows.lowerBound),
            Int64(rows.upperBound), problem.activations.pointer, Int64(problem.xStrideBytes),
            Int64(problem.nBatch), &out, Int64(problem.outStride))
        return out
    }
}

/// Weights packed into panels of 16 rows: the layout round-trips, and
/// every variant's matmul on panels gives the scalar reference's bits on
/// the file's rows.
@Suite struct PanelTests {
    /// Panel sizes: 16 rows of the file's bytes, padded to ASTH_PANEL_ALIGN;
    /// no panel type for float weights.
    @Test(arguments: panelledTypes)
    func sizes(type: asth_type) {
        let panelType = asth_panel_type(type)
        #expect(panelType.rawValue == type.rawValue | UInt32(ASTH_PANEL_TYPE_BIT))
        for nIn in [32, 64, 96, 576, 1536] {
            let rowBytes = asth_row_bytes(type, Int64(nIn))
            let stride = asth_panel_stride(panelType, Int64(nIn))
            let align = Int(ASTH_PANEL_ALIGN)
            #expect(stride == (16 * rowBytes + align - 1) / align * align, "\(type) \(nIn)")
            #expect(asth_panel_bytes(panelType, Int64(nIn), 17) == 2 * stride)
            #expect(asth_panel_bytes(panelType, Int64(nIn), 32) == 2 * stride)
        }
        #expect(asth_panel_stride(panelType, 33) == 0)
        #expect(asth_panel_type(ASTH_TYPE_F16) == ASTH_TYPE_F32)
        #expect(asth_panel_stride(type, 64) == 0)
    }

    /// Packing then unpacking gives the file's bytes back, for row counts
    /// below, at and past a panel, packed whole or in slices.
    @Test(arguments: panelledTypes)
    func roundTrips(type: asth_type) {
        var rng = SeededGenerator(seed: 400 + UInt64(type.rawValue))
        for (nOut, nIn, slices) in [
            (1, 32, 1), (15, 96, 1), (16, 64, 1), (37, 576, 2), (50, 160, 3),
        ] {
            let problem = MatmulProblem(type: type, nIn: nIn, nOut: nOut, nBatch: 1, using: &rng)
            let packed = PackedWeights(problem, slices: slices)
            let whole = PackedWeights(problem)
            let bytes = packed.buffer.byteCount
            #expect(
                sameBytes(packed.buffer.pointer, whole.buffer.pointer, bytes),
                "\(type) slices differ from one pass, \(nOut) rows")

            let rowBytes = asth_row_bytes(type, Int64(nIn))
            let back = AlignedBuffer(byteCount: nOut * rowBytes)
            asth_panel_unpack(
                packed.type, packed.buffer.pointer, Int64(nIn), Int64(nOut), back.pointer)
            #expect(
                sameBytes(back.pointer, problem.weights.pointer, nOut * rowBytes),
                "\(type) \(nOut) x \(nIn) does not round-trip")
        }
    }

    /// Every variant on panels against the scalar reference on the file's
    /// rows, bit for bit: row counts that leave a short last panel, batches
    /// of 1 to 5, 7, 8 and 17 rows (tiles of 2 and a last one of 1), row
    /// ranges on and off panel boundaries; outputs outside the range stay
    /// untouched.
    @Test(arguments: supportedVariants, panelledTypes)
    func matchesScalarOnFileRows(variant: asth_variant, type: asth_type) {
        var rng = SeededGenerator(seed: 500 + UInt64(type.rawValue))
        for nBatch in [1, 2, 3, 4, 5, 7, 8, 17] {
            for (nOut, nIn) in [(37, 576), (50, 96), (16, 1536), (7, 32)] {
                let problem = MatmulProblem(
                    type: type, nIn: nIn, nOut: nOut, nBatch: nBatch, using: &rng)
                let packed = PackedWeights(problem)
                for rows in [0..<nOut, (nOut / 16 * 16)..<nOut, 5..<max(5, nOut - 2)] {
                    let got = packed.run(kernels(variant), problem, rows: rows)
                    let expected = problem.run(scalar, rows: rows)
                    let label = "\(variant) \(type) n_batch=\(nBatch) \(nOut)x\(nIn) rows=\(rows)"
                    #expect(bitDifferences(got, expected) == 0, "\(label)")
                }
            }
        }
    }

    /// The pool splits panel matrices on panel boundaries: a pool of 3
    /// threads gives the single call's bits.
    @Test(arguments: panelledTypes)
    func poolMatchesSingleCall(type: asth_type) throws {
        var rng = SeededGenerator(seed: 600 + UInt64(type.rawValue))
        let pool = try #require(asth_pool_create(3))
        defer { asth_pool_destroy(pool) }
        for nBatch in [1, 8] {
            let problem = MatmulProblem(
                type: type, nIn: 576, nOut: 1000, nBatch: nBatch, using: &rng)
            let packed = PackedWeights(problem)
            let expected = problem.run(scalar, rows: 0..<problem.nOut)
            var got = [Float](repeating: sentinel, count: nBatch * problem.outStride)
            asth_pool_matmul(
                pool, packed.type, packed.buffer.pointer, Int64(problem.nIn), Int64(problem.nOut),
                problem.activations.pointer, Int64(problem.xStrideBytes), Int64(nBatch), &got,
                Int64(problem.outStride))
            #expect(bitDifferences(got, expected) == 0, "\(type) n_batch=\(nBatch)")
        }
    }

    /// Only the AVX-512 variant asks for packed weights.
    @Test func onlyAVX512PacksWeights() {
        #expect(asth_variant_packs_weights(ASTH_VARIANT_SCALAR) == 0)
        #expect(asth_variant_packs_weights(ASTH_VARIANT_AVX2) == 0)
        #expect(asth_variant_packs_weights(ASTH_VARIANT_AVX512) == 1)
    }
}

/// Whether `count` bytes at a and b are equal.
func sameBytes(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, _ count: Int) -> Bool {
    UnsafeRawBufferPointer(start: a, count: count).elementsEqual(
        UnsafeRawBufferPointer(start: b, count: count))
}
