import Foundation
import Inference
import Testing

/// The sampler on logits built by hand: determinism, greedy, the filters,
/// the repetition penalty and the distribution of its draws.
@Suite("Sampler")
struct SamplerTests {
    /// Draws from one sampler over the same logits.
    static func draws(
        _ logits: [Float], _ settings: SamplingSettings, count: Int, history: [Int] = []
    ) -> [Int] {
        var sampler = Sampler(settings: settings)
        return logits.withUnsafeBufferPointer { buffer in
            (0..<count).map { _ in sampler.sample(buffer, history: history) }
        }
    }

    /// Settings with no filter at all: top-k, top-p and min-p off.
    static func unfiltered(temperature: Float, seed: UInt64 = 1) -> SamplingSettings {
        SamplingSettings(temperature: temperature, topK: 0, topP: 1, minP: 0, seed: seed)
    }

    /// Natural logs of `probabilities`: logits whose softmax is exactly them.
    static func logits(probabilities: [Double]) -> [Float] {
        probabilities.map { Float(log($0)) }
    }

    // MARK: Determinism and greedy

    static let seededSettings: [SamplingSettings] = [
        SamplingSettings(seed: 42),
        SamplingSettings(temperature: 1.5, topK: 10, topP: 0.9, minP: 0, seed: 42),
        SamplingSettings(temperature: 1, topK: 0, topP: 1, minP: 0, repeatPenalty: 1.3, seed: 42),
    ]

    @Test("the same seed draws the same ids; another seed does not", arguments: seededSettings)
    func seeded(_ settings: SamplingSettings) {
        let logits: [Float] = (0..<32).map { Float($0 % 7) * 0.3 - Float($0 % 3) }
        let history = [3, 9, 27]
        let first = Self.draws(logits, settings, count: 200, history: history)
        let again = Self.draws(logits, settings, count: 200, history: history)
        var other = settings
        other.seed = 43
        let different = Self.draws(logits, other, count: 200, history: history)

        #expect(first == again)
        #expect(first != different)
        #expect(Set(first).count > 3, "a flat-ish distribution should give varied ids")
    }

    static let greedyCases: [(logits: [Float], expected: Int)] = [
        ([0, 1, 3, 2], 2),
        ([5, 5, 1], 0),
        ([1, 7, 7, 7], 1),
        ([-3, -1, -2, -1], 1),
        ([-.infinity, -5, -.infinity], 1),
        ([2], 0),
    ]

    @Test("greedy picks the argmax, the lowest id on ties", arguments: greedyCases)
    func greedy(_ logits: [Float], expected: Int) {
        #expect(Self.draws(logits, .greedy, count: 3) == [expected, expected, expected])
        // Filters do not matter at temperature 0.
        let filtered = SamplingSettings(temperature: 0, topK: 2, topP: 0.1, minP: 0.9, seed: 1)
        #expect(Self.draws(logits, filtered, count: 1) == [expected])
    }

    @Test("topK = 1 is greedy at any temperature", arguments: [0.05, 0.7, 1, 5, 1000] as [Float])
    func topKOne(temperature: Float) {
        for (logits, expected) in Self.greedyCases {
            let settings = SamplingSettings(
                temperature: temperature, topK: 1, topP: 1, minP: 0, seed: 9)
            #expect(
                Self.draws(logits, settings, count: 50) == Array(repeating: expected, count: 50))
        }
    }

    // MARK: Filters

    /// Probabilities at temperature 1, in scrambled id order so that a
    /// filter that kept the first ids rather than the likeliest would fail.
    static let probabilities: [Double] = [0.03, 0.25, 0.07, 0.5, 0.15]
    // Ids by probability: 3 (0.5), 1 (0.25), 4 (0.15), 2 (0.07), 0 (0.03).

    /// A filter setting and the ids it must keep, none of the others.
    struct FilterCase: CustomTestStringConvertible, Sendable {
        let name: String
        var topK = 0
        var topP: Float = 1
        var minP: Float = 0
        let kept: Set<Int>
        var testDescription: String { name }
    }

    static let filterCases: [FilterCase] = [
        FilterCase(name: "no filter", kept: [0, 1, 2, 3, 4]),
        FilterCase(name: "top-k 2", topK: 2, kept: [3, 1]),
        FilterCase(name: "top-k 4", topK: 4, kept: [3, 1, 4, 2]),
        FilterCase(name: "top-p 0.4: the first alone reaches it", topP: 0.4, kept: [3]),
        FilterCase(name: "top-p 0.7: 0.5 + 0.25", topP: 0.7, kept: [3, 1]),
        FilterCase(name: "top-p 0.8: 0.5 + 0.25 + 0.15", topP: 0.8, kept: [3, 1, 4]),
        FilterCase(name: "top-p 0.95", topP: 0.95, kept: [3, 1, 4, 2]),
        FilterCase(name: "min-p 0.2: floor 0.1", minP: 0.2, kept: [3, 1, 4]),
        FilterCase(name: "min-p 0.1: floor 0.05", minP: 0.1, kept: [3, 1, 4, 2]),
        FilterCase(name: "min-p 0.6: floor 0.3", minP: 0.6, kept: [3]),
        FilterCase(name: "top-k 3, then min-p 0.4", topK: 3, minP: 0.4, kept: [3, 1]),
        FilterCase(name: "top-p 0.95, then min-p 0.2", topP: 0.95, minP: 0.2, kept: [3, 1, 4]),
    ]

    /// 4,000 draws: a kept id of probability ≥ 0.03 is missed with
    /// probability below 10⁻⁵² (and the seed is fixed besides).
    @Test("top-k, top-p and min-p keep exactly what they should", arguments: filterCases)
    func filters(_ c: FilterCase) {
        let settings = SamplingSettings(
            temperature: 1, topK: c.topK, topP: c.topP, minP: c.minP, seed: 5)
        let seen = Set(
            Self.draws(Self.logits(probabilities: Self.probabilities), settings, count: 4_000))
        #expect(seen == c.kept)
    }

    // MARK: Repetition penalty

    /// Logits, history and penalty, and the greedy pick after the penalty.
    struct PenaltyCase: CustomTestStringConvertible, Sendable {
        let name: String
        let logits: [Float]
        let history: [Int]
        let penalty: Float
        var lastN = 64
        let expected: Int
        var testDescription: String { name }
    }

    /// Token 0 leads token 1 by a margin that one penalty crosses and a
    /// smaller one does not: 3 / 1.4 > 2 > 3 / 1.6, and −1 · 1.4 > −1.5 > −1 · 1.6.
    static let penaltyCases: [PenaltyCase] = [
        PenaltyCase(
            name: "positive, divided: not enough", logits: [3, 2, -4], history: [0], penalty: 1.4,
            expected: 0),
        PenaltyCase(
            name: "positive, divided: enough", logits: [3, 2, -4], history: [0], penalty: 1.6,
            expected: 1),
        PenaltyCase(
            name: "negative, multiplied: not enough", logits: [-1, -1.5, -4], history: [0],
            penalty: 1.4, expected: 0),
        PenaltyCase(
            name: "negative, multiplied: enough", logits: [-1, -1.5, -4], history: [0],
            penalty: 1.6, expected: 1),
        PenaltyCase(
            name: "only the last N", logits: [3, 2, -4], history: [0, 2, 2], penalty: 2,
            lastN: 2, expected: 0),
        PenaltyCase(
            name: "the last N include it", logits: [3, 2, -4], history: [0, 2, 2], penalty: 2,
            lastN: 3, expected: 1),
        PenaltyCase(
            name: "once per distinct token", logits: [3, 2, -4], history: [0, 0, 0],
            penalty: 1.2, expected: 0),
        PenaltyCase(
            name: "other tokens untouched", logits: [3, 2, -4], history: [2], penalty: 10,
            expected: 0),
        PenaltyCase(
            name: "lastN 0 is off", logits: [3, 2, -4], history: [0], penalty: 2, lastN: 0,
            expected: 0),
        PenaltyCase(
            name: "ids outside the vocabulary ignored", logits: [3, 2, -4], history: [-1, 7, 0],
            penalty: 1.6, expected: 1),
    ]

    @Test(
        "the repetition penalty divides positive, multiplies negative, recent only",
        arguments: penaltyCases)
    func repetitionPenalty(_ c: PenaltyCase) {
        let settings = SamplingSettings(
            temperature: 0, topK: 0, topP: 1, minP: 0, repeatPenalty: c.penalty,
            repeatLastN: c.lastN)
        #expect(Self.draws(c.logits, settings, count: 1, history: c.history) == [c.expected])
    }

    // MARK: Distribution

    /// Pearson's χ² of the draws against softmax(logits / T), 5 degrees of
    /// freedom. The bound is the 1 − 10⁻⁶ quantile of χ²(5), 35.9: a fair
    /// sampler exceeds it once in a million seeds, while sampling at the
    /// wrong temperature or off by one id gives thousands here.
    static let chiSquareBound = 35.9
    static let drawCount = 12_000

    @Test(
        "draws without filters follow the softmax at the temperature",
        arguments: [0.5, 1, 2] as [Float])
    func followsSoftmax(temperature: Float) {
        let logits: [Float] = [1, 0.5, 0, -0.5, 2, -1]
        let draws = Self.draws(
            logits, Self.unfiltered(temperature: temperature), count: Self.drawCount)

        // Expected counts from the softmax, in Double.
        let scaled = logits.map { Double($0) / Double(temperature) }
        let exponentials = scaled.map { exp($0 - scaled.max()!) }
        let total = exponentials.reduce(0, +)
        let expected = exponentials.map { $0 / total * Double(Self.drawCount) }

        var observed = [Int](repeating: 0, count: logits.count)
        for id in draws {
            observed[id] += 1
        }
        let chiSquare = zip(observed, expected).reduce(0.0) { sum, pair in
            let difference = Double(pair.0) - pair.1
            return sum + difference * difference / pair.1
        }
        #expect(chiSquare < Self.chiSquareBound, "χ² = \(chiSquare), counts \(observed)")
    }
}
