import CPUKernels
import Testing

/// fp16 conversions against Swift's Float16, which rounds to nearest even.
@Suite struct Float16Tests {
    /// Every fp16 bit pattern widens exactly and narrows back to itself;
    /// NaNs come back quieted (bit 9 set) with sign and payload kept.
    @Test func roundTripsEveryBitPattern() {
        var failures = 0
        for bits in 0...UInt16.max {
            let widened = asth_f16_to_f32(bits)
            let expected = f16Value(bits)
            let narrowed = asth_f32_to_f16(widened)
            if expected.isNaN {
                if !widened.isNaN || narrowed != bits | 0x0200 { failures += 1 }
            } else if widened.bitPattern != expected.bitPattern || narrowed != bits {
                failures += 1
            }
        }
        #expect(failures == 0)
    }

    /// Floats halfway between neighbouring fp16 values, and one float ulp
    /// either side, round as Float16(_:) rounds them.
    @Test func roundsMidpointsToNearestEven() {
        var failures = 0
        for bits in UInt16(0)..<0x7C00 {
            let low = f16Value(bits)
            let high = f16Value(bits + 1)
            let middle = (low + high) / 2
            for f in [middle, middle.nextUp, middle.nextDown, -middle, -middle.nextUp] {
                if asth_f32_to_f16(f) != Float16(f).bitPattern { failures += 1 }
            }
        }
        #expect(failures == 0)
    }

    /// Random float bit patterns of every exponent, NaNs aside.
    @Test func matchesFloat16OnRandomFloats() {
        var rng = SeededGenerator(seed: 16)
        var failures = 0
        for _ in 0..<1_000_000 {
            let f = Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &rng))
            if f.isNaN { continue }
            if asth_f32_to_f16(f) != Float16(f).bitPattern { failures += 1 }
        }
        #expect(failures == 0)
    }

    /// Edges named one by one: zeros, subnormal limits, overflow, inf, NaN.
    @Test(arguments: float16Edges)
    func convertsEdges(value: Float, bits: UInt16) {
        #expect(asth_f32_to_f16(value) == bits)
    }

    /// Every variant's row conversion gives the scalar bits, NaNs included.
    @Test(arguments: supportedVariants)
    func rowConversionMatchesScalar(variant: asth_variant) {
        var rng = SeededGenerator(seed: 17)
        let count = 1031
        var input = (0..<count).map { _ in
            Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &rng))
        }
        input += randomFloats(count, in: -70000...70000, using: &rng)
        var expected = [UInt16](repeating: 0, count: input.count)
        var got = [UInt16](repeating: 0, count: input.count)
        scalar.f32_to_f16_row(input, &expected, Int64(input.count))
        kernels(variant).f32_to_f16_row(input, &got, Int64(input.count))
        #expect(got == expected)
    }
}

/// Floats and the fp16 bits they must convert to.
let float16Edges: [(Float, UInt16)] = [
    (0, 0x0000),
    (-0.0, 0x8000),
    (0x1p-24, 0x0001),
    (0x1p-25, 0x0000),
    (Float(0x1p-25).nextUp, 0x0001),
    (0x1p-14, 0x0400),
    (65504, 0x7BFF),
    (65519, 0x7BFF),
    (65520, 0x7C00),
    (1e10, 0x7C00),
    (-Float.infinity, 0xFC00),
    (Float(bitPattern: 0x7F80_2000), 0x7E01),
    (Float(bitPattern: 0xFFC0_0000), 0xFE00),
]
