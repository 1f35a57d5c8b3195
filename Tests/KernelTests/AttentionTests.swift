import CPUKernels
import Foundation
import Testing

/// Error bound of one attention output element against an exact reference
/// built from the same fp16 roundings: a fraction of Σ_p prob_p·|v_p|.
let attentionRelativeErrorMax = 2e-5

/// One head of attention over an fp16 KV cache.
@Suite struct AttentionTests {
    /// With one position the probability is 1, so the output is v_0.
    @Test(arguments: supportedVariants)
    func singlePositionReturnsValueRow(variant: asth_variant) {
        var rng = SeededGenerator(seed: 20)
        let cache = KVCache(nPos: 1, headDim: 64, kvStride: 192, using: &rng)
        let q = randomFloats(64, using: &rng)
        let out = cache.attend(q, scale: 0.125, kernels(variant))
        #expect(out == (0..<64).map { f16Value(cache.v[$0]) })
    }

    /// Equal keys give equal weights: the output is the mean of v.
    @Test func equalKeysAverageValues() {
        var rng = SeededGenerator(seed: 21)
        var cache = KVCache(nPos: 4, headDim: 64, kvStride: 64, using: &rng)
        for p in 1..<4 { for d in 0..<64 { cache.k[p * 64 + d] = cache.k[d] } }
        let out = cache.attend(randomFloats(64, using: &rng), scale: 0.125, scalar)
        for d in 0..<64 {
            let mean = (0..<4).map { f16Value(cache.v[$0 * 64 + d]) }.reduce(0, +) / 4
            #expect(abs(out[d] - mean) <= 1e-6)
        }
    }

    /// Every variant against an exact reference, many lengths and strides.
    @Test(arguments: supportedVariants)
    func matchesReference(variant: asth_variant) {
        var rng = SeededGenerator(seed: 22)
        for (nPos, headDim, kvStride) in [
            (1, 64, 192), (7, 64, 64), (33, 64, 192), (200, 64, 192), (17, 32, 40), (513, 64, 64),
        ] {
            let cache = KVCache(nPos: nPos, headDim: headDim, kvStride: kvStride, using: &rng)
            let q = randomFloats(headDim, in: -3...3, using: &rng)
            let out = cache.attend(q, scale: 0.125, kernels(variant))
            let exact = cache.reference(q, scale: 0.125)
            for d in 0..<headDim {
                let bound = attentionRelativeErrorMax * exact.magnitude[d] + 1e-30
                #expect(abs(Double(out[d]) - exact.value[d]) <= bound, "\(variant) n_pos=\(nPos)")
            }
        }
    }
}

/// Both of llama.cpp's orders, every variant against the scalar reference.
@Suite struct AttentionOrderTests {
    /// Window lengths around the 16-lane groups, the padding to 32 and the
    /// vec order's steps of 64 (n_pos 70 pads to 96: 64 positions in lanes,
    /// the rest in the double tail), and head widths around steps of 16
    /// and 64 (40 and 520 take the scalar path in every variant).
    static let positions = [
        1, 2, 15, 16, 17, 31, 32, 33, 63, 64, 65, 70, 96, 97, 128, 129, 200, 300,
    ]
    static let headDims = [16, 32, 40, 48, 64, 80, 128, 144, 256, 520]

    @Test(arguments: supportedVariants, [false, true])
    func matchesScalarBitForBit(variant: asth_variant, batched: Bool) {
        var rng = SeededGenerator(seed: 23)
        for headDim in Self.headDims {
            for nPos in Self.positions where headDim <= 256 || nPos <= 33 {
                let kvStride = headDim * 3 + 8 * (nPos % 2)
                let cache = KVCache(nPos: nPos, headDim: headDim, kvStride: kvStride, using: &rng)
                let q = randomFloats(headDim, in: -4...4, using: &rng)
                let got = cache.attend(q, scale: 0.125, kernels(variant), batched: batched)
                let expected = cache.attend(q, scale: 0.125, scalar, batched: batched)
                #expect(
                    bitDifferences(got, expected) == 0,
                    "\(variant) batched=\(batched) head_dim=\(headDim) n_pos=\(nPos)")
            }
        }
    }

    /// Groups of query heads sharing one KV head (1 to 5: more than one
    /// pass takes at a time) give each head's scalar bits, in both orders.
    static let groups: [(group: Int, headDim: Int, nPos: Int)] = [
        (1, 64, 40), (3, 64, 70), (3, 64, 576), (4, 128, 33), (5, 64, 100), (3, 80, 65),
        (2, 48, 129),
    ]

    @Test(arguments: supportedVariants, [false, true])
    func groupsMatchSingleHeads(variant: asth_variant, batched: Bool) throws {
        var rng = SeededGenerator(seed: 25)
        let attendGroup = try #require(kernels(variant).attention_group)
        for (group, headDim, nPos) in Self.groups {
            let cache = KVCache(nPos: nPos, headDim: headDim, kvStride: 3 * headDim, using: &rng)
            let q = randomFloats(group * headDim, in: -4...4, using: &rng)
            var got = [Float](repeating: .nan, count: group * headDim)
            var scratch = [Float](repeating: .nan, count: group * nPos)
            attendGroup(
                q, Int64(group), cache.k, cache.v, Int64(cache.kvStride), Int64(nPos),
                Int64(headDim), 0.125, batched ? 1 : 0, &scratch, &got)

            // Each head alone, through the scalar reference's one-head entry.
            let expected = (0..<group).flatMap { h in
                cache.attend(
                    Array(q[h * headDim..<(h + 1) * headDim]), scale: 0.125, scalar,
                    batched: batched)
            }
            #expect(
                bitDifferences(got, expected) == 0,
                "\(variant) group=\(group) head_dim=\(headDim) n_pos=\(nPos)")
        }
    }

    /// Sharp scores: most probabilities underflow, some round to fp16
    /// subnormals or to zero.
    @Test(arguments: supportedVariants, [false, true])
    func matchesScalarOnSharpScores(variant: asth_variant, batched: Bool) {
        var rng = SeededGenerator(seed: 24)
        for nPos in [20, 70, 150] {
            let cache = KVCache(nPos: nPos, headDim: 64, kvStride: 64, using: &rng)
            let q = randomFloats(64, in: -40...40, using: &rng)
            let got = cache.attend(q, scale: 1, kernels(variant), batched: batched)
            let expected = cache.attend(q, scale: 1, scalar, batched: batched)
            #expect(bitDifferences(got, expected) == 0, "\(variant) n_pos=\(nPos)")
        }
    }
}

/// A random fp16 KV cache for one KV head: nPos rows of kvStride halves.
struct KVCache {
    let nPos: Int
    let headDim: Int
    let kvStride: Int
    var k: [UInt16]
    var v: [UInt16]

    init(nPos: Int, headDim: Int, kvStride: Int, using rng: inout SeededGenerator) {
        self.nPos = nPos
        self.headDim = headDim
        self.kvStride = kvStride
        k = (0..<nPos * kvStride).map { _ in randomF16(in: -2...2, using: &rng) }
        v = (0..<nPos * kvStride).map { _ in randomF16(in: -2...2, using: &rng) }
    }

    /// One head through `table`, in the one-token order or (batched) the
    /// order of several tokens.
    func attend(_ q: [Float], scale: Float, _ table: asth_kernel_table, batched: Bool = false)
        -> [Float]
    {
        var scratch = [Float](repeating: .nan, count: nPos)
        var out = [Float](repeating: .nan, count: headDim)
        let head = batched ? table.attention_head_batched : table.attention_head
        guard let head else { preconditionFailure("\(table.variant) has no batched attention") }
        head(q, k, v, Int64(kvStride), Int64(nPos), Int64(headDim), scale, &scratch, &out)
        return out
    }

    /// The output in double from fp16 q and fp16 probabilities (from the
    /// exact softmax), and per element Σ_p prob_p·|v_p|.
    func reference(_ q: [Float], scale: Float) -> (value: [Double], magnitude: [Double]) {
        let q16 = q.map { Double(Float(Float16($0))) }
        let scores = (0..<nPos).map { p in
            (0..<headDim).map { q16[$0] * Double(f16Value(k[p * kvStride + $0])) }.reduce(0, +)
                * Double(scale)
        }
        let top = scores.max()!
        let weights = scores.map { exp($0 - top) }
        let total = weights.reduce(0, +)
        let probs = weights.map { Double(Float(Float16(Float($0 / total)))) }
        var value = [Double](repeating: 0, count: headDim)
        var magnitude = [Double](repeating: 0, count: headDim)
        for p in 0..<nPos {
            for d in 0..<headDim {
                let term = probs[p] * Double(f16Value(v[p * kvStride + d]))
                value[d] += term
                magnitude[d] += abs(term)
            }
        }
        return (value, magnitude)
    }
}
