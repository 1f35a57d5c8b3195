import CPUKernels
import Foundation
import Testing

/// The element-wise and normalisation ops: known values, then every
/// variant against the scalar reference, bit for bit.
@Suite struct OpsTests {
    /// Lengths that cover whole vectors, tails and the model's widths.
    static let lengths = [1, 7, 8, 16, 17, 33, 64, 100, 576, 1536]

    @Test func rmsnormOfConstantVector() {
        let x = [Float](repeating: 3, count: 576)
        let w = (0..<576).map { Float($0 % 5) - 2 }
        var out = [Float](repeating: .nan, count: 576)
        asth_rmsnorm(x, w, &out, 576, 1e-5)
        let scale = 1 / (9 + 1e-5 as Float).squareRoot()
        for i in 0..<576 { #expect(abs(out[i] - 3 * scale * w[i]) <= 1e-6) }
    }

    @Test func softmaxSumsToOneAndKeepsOrder() {
        var rng = SeededGenerator(seed: 3)
        var x = randomFloats(1000, in: -30...30, using: &rng)
        x[10] = -.infinity
        let input = x
        asth_softmax(&x, 1000)
        #expect(abs(x.reduce(0, +) - 1) <= 1e-5)
        #expect(x[10] == 0)
        let order = input.indices.sorted { input[$0] < input[$1] }
        #expect(zip(order, order.dropFirst()).allSatisfy { x[$0.0] <= x[$0.1] })
    }

    @Test func siluMulKnownValues() {
        let g: [Float] = [0, 1, -1, 20, -20]
        let u: [Float] = [5, 2, 2, 0.5, 3]
        var out = [Float](repeating: .nan, count: 5)
        asth_silu_mul(g, u, &out, 5)
        let expected = zip(g, u).map { g, u in Double(g) / (1 + exp(-Double(g))) * Double(u) }
        for i in 0..<5 {
            #expect(abs(Double(out[i]) - expected[i]) <= 1e-6 * max(1, abs(expected[i])))
        }
    }

    @Test func addIsExact() {
        var x: [Float] = (0..<19).map { Float($0) * 0.5 }
        let y: [Float] = (0..<19).map { Float($0) * -0.25 }
        asth_add(&x, y, 19)
        #expect(x == (0..<19).map { Float($0) * 0.25 })
    }

    /// Position 0 turns nothing; the values must come back bit for bit.
    @Test func ropeAtPositionZeroIsIdentity() {
        var rng = SeededGenerator(seed: 4)
        let x = randomFloats(9 * 64, using: &rng)
        var y = x
        asth_rope_norm(&y, 9, 64, 64, 0, 10000)
        #expect(y == x)
    }

    /// Angles made once and turned per head give `asth_rope_norm`'s numbers
    /// bit for bit, for partial and full rotary widths and far positions.
    @Test(arguments: [(Int64(64), Int64(0)), (64, 1), (64, 151), (32, 300), (64, 8191)])
    func ropeInTwoStepsMatchesOneStep(ropeDims: Int64, pos: Int64) {
        var rng = SeededGenerator(seed: 6)
        let x = randomFloats(9 * 64, using: &rng)
        var oneStep = x
        asth_rope_norm(&oneStep, 9, 64, ropeDims, pos, 10000)
        var angles = [Float](repeating: .nan, count: Int(ropeDims))
        asth_rope_angles(ropeDims, pos, 10000, &angles)
        var twoSteps = x
        asth_rope_turn(&twoSteps, 9, 64, ropeDims, angles)
        #expect(twoSteps.map(\.bitPattern) == oneStep.map(\.bitPattern))
        #expect(twoSteps != x || pos == 0)
    }

    /// Each pair turns by pos·base^(−2i/dims): norms stay, angles match a
    /// double reference, and elements past rope_dims stay untouched.
    @Test(arguments: [(Int64(64), Int64(1)), (64, 17), (32, 300)])
    func ropeTurnsPairs(ropeDims: Int64, pos: Int64) {
        var rng = SeededGenerator(seed: 5)
        let x = randomFloats(3 * 64, using: &rng)
        var y = x
        asth_rope_norm(&y, 3, 64, ropeDims, pos, 10000)
        for h in 0..<3 {
            for i in stride(from: 0, to: 64, by: 2) {
                let (a, b) = (Double(x[h * 64 + i]), Double(x[h * 64 + i + 1]))
                let (c, d) = (Double(y[h * 64 + i]), Double(y[h * 64 + i + 1]))
                guard i < ropeDims else {
                    #expect(c == a && d == b)
                    continue
                }
                let theta = Double(pos) * pow(10000, -Double(i) / Double(ropeDims))
                let expected = (a * cos(theta) - b * sin(theta), a * sin(theta) + b * cos(theta))
                #expect(abs((a * a + b * b).squareRoot() - (c * c + d * d).squareRoot()) <= 1e-6)
                #expect(abs(c - expected.0) <= 1e-4 && abs(d - expected.1) <= 1e-4)
            }
        }
    }

    /// Every variant gives the scalar reference's bits for every op, on
    /// lengths around the 8- and 16-lane groups and inputs that reach the
    /// vector exp's edges: results that underflow to subnormals and zero,
    /// overflow to infinity, signed zeros.
    @Test(arguments: supportedVariants)
    func elementwiseMatchesScalar(variant: asth_variant) {
        var rng = SeededGenerator(seed: 6)
        let table = kernels(variant)
        for n in Self.lengths + [15, 31, 32, 48, 1000] {
            for range: ClosedRange<Float> in [-8...8, -200...200] {
                var x = randomFloats(n, in: range, using: &rng)
                let w = randomFloats(n, in: -2...2, using: &rng)
                for (i, special) in [Float(0), -0.0, 88.7, -104, 140].enumerated() where i < n {
                    x[(i * 7) % n] = special
                }
                expectSameBits(table, x, w, label: "\(variant) n=\(n) range=\(range)")
            }
        }
    }

    /// Softmax over rows whose spread sends most values to subnormals or
    /// zero, with −inf entries (masked cells give exactly 0).
    @Test(arguments: supportedVariants)
    func softmaxMatchesScalarOnWideRows(variant: asth_variant) {
        var rng = SeededGenerator(seed: 7)
        for n in [16, 17, 40, 100] {
            var x = randomFloats(n, in: -150...0, using: &rng)
            x[n / 2] = -.infinity
            var got = x
            var expected = x
            kernels(variant).softmax(&got, Int64(n))
            scalar.softmax(&expected, Int64(n))
            #expect(bitDifferences(got, expected) == 0, "\(variant) n=\(n)")
        }
    }

    /// rmsnorm, silu_mul, softmax, add and rope of `table` against the
    /// scalar reference, bit for bit.
    private func expectSameBits(
        _ table: asth_kernel_table, _ x: [Float], _ w: [Float], label: String
    ) {
        let n = x.count
        let count = Int64(n)
        var got = [Float](repeating: .nan, count: n)
        var expected = got
        table.rmsnorm(x, w, &got, count, 1e-5)
        scalar.rmsnorm(x, w, &expected, count, 1e-5)
        #expect(bitDifferences(got, expected) == 0, "rmsnorm \(label)")

        table.silu_mul(x, w, &got, count)
        scalar.silu_mul(x, w, &expected, count)
        #expect(bitDifferences(got, expected) == 0, "silu_mul \(label)")

        got = x
        expected = x
        table.softmax(&got, count)
        scalar.softmax(&expected, count)
        #expect(bitDifferences(got, expected) == 0, "softmax \(label)")

        got = x
        expected = x
        table.add(&got, w, count)
        scalar.add(&expected, w, count)
        #expect(bitDifferences(got, expected) == 0, "add \(label)")

        got = x + x
        expected = got
        table.rope_norm(&got, Int64(2 * n / 8), 8, 8, 77, 10000)
        scalar.rope_norm(&expected, Int64(2 * n / 8), 8, 8, 77, 10000)
        #expect(bitDifferences(got, expected) == 0, "rope \(label)")
    }
}
