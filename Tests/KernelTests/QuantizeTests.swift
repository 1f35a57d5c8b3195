import CPUKernels
import Testing

/// Block layouts, dequantization and the activation quantizer.
@Suite struct QuantizeTests {
    @Test(arguments: [
        (ASTH_TYPE_F32, Int64(64), 256),
        (ASTH_TYPE_F16, 3, 6),
        (ASTH_TYPE_Q4_0, 64, 36),
        (ASTH_TYPE_Q4_1, 64, 40),
        (ASTH_TYPE_Q8_0, 64, 68),
        (ASTH_TYPE_Q4_1, 33, 0),
        (asth_type(rawValue: 7), 64, 0),
    ])
    func rowBytes(type: asth_type, count: Int64, bytes: Int) {
        #expect(asth_row_bytes(type, count) == bytes)
    }

    /// Q4_0 with d = 0.5: element j is (j − 8)·0.5, element 16 + j is (7 − j)·0.5.
    @Test func dequantizesQ4_0() {
        var block: [UInt8] = [0x00, 0x38]
        block += (0..<16).map { UInt8($0 | (15 - $0) << 4) }
        let low: [Float] = (0..<16).map { Float($0 - 8) * 0.5 }
        let high: [Float] = (0..<16).map { Float(7 - $0) * 0.5 }
        let expected = low + high
        #expect(dequantized(ASTH_TYPE_Q4_0, block) == expected)
    }

    /// Q4_1 with d = 0.25 and m = −1: element j is j·0.25 − 1.
    @Test func dequantizesQ4_1() {
        var block: [UInt8] = [0x00, 0x34, 0x00, 0xBC]
        block += (0..<16).map { UInt8($0 | (15 - $0) << 4) }
        let low: [Float] = (0..<16).map { Float($0) * 0.25 - 1 }
        let high: [Float] = (0..<16).map { Float(15 - $0) * 0.25 - 1 }
        let expected = low + high
        #expect(dequantized(ASTH_TYPE_Q4_1, block) == expected)
    }

    /// Q8_0 with d = 2: element j is (j − 16)·2.
    @Test func dequantizesQ8_0() {
        let block: [UInt8] = [0x00, 0x40] + (0..<32).map { UInt8(bitPattern: Int8($0 - 16)) }
        #expect(dequantized(ASTH_TYPE_Q8_0, block) == (0..<32).map { Float($0 - 16) * 2 })
    }

    @Test func dequantizesF16() {
        let halves: [UInt16] = [0x3C00, 0xC000, 0x0001, 0x7BFF]
        let bytes = halves.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
        var out = [Float](repeating: 0, count: 4)
        asth_dequantize_row(ASTH_TYPE_F16, bytes, &out, 4)
        #expect(out == [1, -2, 0x1p-24, 65504])
    }

    /// With amax = 127 the scale is exactly 1, so q is x rounded half to
    /// even and s is the plain sum of q.
    @Test(arguments: supportedVariants)
    func quantizesHandMadeBlock(variant: asth_variant) {
        var x = [Float](repeating: 0, count: 32)
        let halves: [Float] = [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.49, -3.51, 126.5, 127]
        for (i, value) in halves.enumerated() { x[i] = value }
        x[31] = -127
        let block = quantized(x, variant)[0]
        let q = withUnsafeBytes(of: block.qs) { Array($0.bindMemory(to: Int8.self)) }
        let expectedQ: [Int8] =
            [0, 2, 2, 0, -2, -2, 3, -4, 126, 127] + .init(repeating: 0, count: 21)
        #expect(q == expectedQ + [-127])
        #expect(block.d == 1)
        #expect(block.s == Float(expectedQ.reduce(0) { $0 + Int($1) } - 127))
    }

    /// d is amax/127 rounded through fp16; s is d·Σq from the unrounded d.
    @Test(arguments: supportedVariants)
    func storesScalesThroughF16(variant: asth_variant) {
        let x = (0..<32).map { Float($0) * 0.1 - 0.3 }
        let amax = x.map(abs).max()!
        let d = amax / 127
        let expectedQ = x.map { Int(($0 * (127 / amax)).rounded(.toNearestOrEven)) }

        let block = quantized(x, variant)[0]
        let q = withUnsafeBytes(of: block.qs) { $0.bindMemory(to: Int8.self).map { Int($0) } }
        #expect(q == expectedQ)
        #expect(block.d == Float(Float16(d)))
        #expect(block.d != d)
        #expect(block.s == Float(Float16(d * Float(expectedQ.reduce(0, +)))))
    }

    /// An all-zero block quantizes to zeros with d = s = 0.
    @Test(arguments: supportedVariants)
    func quantizesZeroBlock(variant: asth_variant) {
        let block = quantized([Float](repeating: 0, count: 32), variant)[0]
        #expect(block.d == 0 && block.s == 0)
        #expect(withUnsafeBytes(of: block.qs) { $0.allSatisfy { $0 == 0 } })
    }

    /// Every variant quantizes random rows, ties included, to the scalar bytes.
    @Test(arguments: supportedVariants)
    func quantizationMatchesScalar(variant: asth_variant) {
        var rng = SeededGenerator(seed: 8)
        for blocks in [1, 2, 3, 18, 48] {
            var x = randomFloats(32 * blocks, in: -4...4, using: &rng)
            // Halfway values: amax 127 makes the scale 1.
            x[0] = 127
            for i in stride(from: 1, to: 32, by: 3) {
                x[i] = Float(Int.random(in: -60...60, using: &rng)) + 0.5
            }
            let expected = quantized(x, ASTH_VARIANT_SCALAR)
            let got = quantized(x, variant)
            #expect(bytes(of: got) == bytes(of: expected), "blocks=\(blocks)")
        }
    }

    private func dequantized(_ type: asth_type, _ block: [UInt8]) -> [Float] {
        var out = [Float](repeating: .nan, count: 32)
        asth_dequantize_row(type, block, &out, 32)
        return out
    }

    private func quantized(_ x: [Float], _ variant: asth_variant) -> [asth_block_q8a] {
        var blocks = [asth_block_q8a](repeating: asth_block_q8a(), count: x.count / 32)
        kernels(variant).quantize_row_q8a(x, &blocks, Int64(x.count))
        return blocks
    }

    private func bytes(of blocks: [asth_block_q8a]) -> [UInt8] {
        blocks.withUnsafeBytes { Array($0) }
    }
}
