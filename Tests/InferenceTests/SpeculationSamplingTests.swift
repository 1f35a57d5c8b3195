import Foundation
import Inference
import Support
import Testing

/// The acceptance rule keeps the model's own distribution, and greedy
/// speculation is plain greedy, on a five-token Markov chain whose exact
/// distributions are known.
@Suite("Speculation: acceptance rule and equivalence on a small chain")
struct SpeculationSamplingTests {
    /// Logits after each token of a 5-token vocabulary; every transition
    /// has probability 0.05 or more, so no cell of the test is starved.
    static let table: [[Float]] = [
        [0.2, 1.1, -0.3, 0.7, 0.0],
        [1.0, -0.5, 0.4, 0.1, 0.9],
        [-0.2, 0.3, 1.2, -0.4, 0.5],
        [0.6, 0.6, -0.1, 0.8, -0.6],
        [0.0, 0.9, 0.3, -0.2, 1.0],
    ]

    /// A draft distribution unlike the target's: mass piled on token 3.
    static let q: [[Float]] = Array(repeating: [0.1, 0.1, 0.1, 0.6, 0.1], count: 5)

    /// Pure temperature sampling: no truncation, so `p` is the softmax.
    static let settings = SamplingSettings(temperature: 1, topK: 0, topP: 1, minP: 0)

    /// Runs of three tokens each; the chi-square bound below is generous for
    /// this count (124 degrees of freedom: mean 124, deviation ~16).
    static let runs = 12_000
    static let chiSquareMax = 230.0

    static func softmax(_ logits: [Float]) -> [Double] {
        let top = logits.max()!
        let e = logits.map { exp(Double($0 - top)) }
        let sum = e.reduce(0, +)
        return e.map { $0 / sum }
    }

    /// P(t1, t2, t3 | 0) under the chain, indexed t1 * 25 + t2 * 5 + t3.
    static func exactJoint() -> [Double] {
        var joint = Array(repeating: 0.0, count: 125)
        let p = table.map(softmax)
        for a in 0..<5 {
            for b in 0..<5 {
                for c in 0..<5 {
                    joint[a * 25 + b * 5 + c] = p[0][a] * p[a][b] * p[b][c]
                }
            }
        }
        return joint
    }

    static func chiSquare(_ counts: [Int], _ expected: [Double]) -> Double {
        let n = Double(counts.reduce(0, +))
        return zip(counts, expected).reduce(0) { sum, pair in
            let e = pair.1 * n
            return sum + (Double(pair.0) - e) * (Double(pair.0) - e) / e
        }
    }

    /// Three tokens after [0] with speculation, one seed per run.
    static func speculativeCounts(drafter: ScriptedDrafter) throws -> (counts: [Int], accepted: Int)
    {
        let device = MarkovDevice(table: table)
        var counts = Array(repeating: 0, count: 125)
        var accepted = 0
        let governor = SpeculationGovernor(costModel: FixedCostModel(base: 1, perRow: 0))
        for run in 0..<runs {
            var settings = Self.settings
            settings.seed = UInt64(run)
            var sampler = Sampler(settings: settings)
            let sequence = TokenSequence(cache: device.makeCache(capacity: 16))
            var ids: [Int] = []
            let stats = try Generator(
                device: device, speculator: Speculator(drafter: drafter, governor: governor)
            ).generate(
                prompt: [0], on: sequence, maxTokens: 3, sampler: &sampler, stopIDs: []
            ) { id in
                ids.append(id)
                return true
            }
            accepted += stats.acceptedTokens
            counts[ids[0] * 25 + ids[1] * 5 + ids[2]] += 1
        }
        return (counts, accepted)
    }

    @Test("a sampled draft (q unlike p) leaves the joint distribution of three tokens as p's")
    func sampledDraft() throws {
        let drafter = ScriptedDrafter()
        drafter.q = Self.q
        let (counts, accepted) = try Self.speculativeCounts(drafter: drafter)
        let chi = Self.chiSquare(counts, Self.exactJoint())
        #expect(chi < Self.chiSquareMax, "chi-square \(chi)")
        #expect(accepted > Self.runs / 4, "drafts were verified, not skipped: \(accepted)")
    }

    @Test("a deterministic draft (q a point mass) leaves the joint distribution as p's")
    func deterministicDraft() throws {
        let drafter = ScriptedDrafter()
        drafter.script = [
            0: [1, 0, 1], 1: [0, 4, 4], 2: [2, 2, 2], 3: [3, 0, 1], 4: [4, 1, 0],
        ]
        let (counts, accepted) = try Self.speculativeCounts(drafter: drafter)
        let chi = Self.chiSquare(counts, Self.exactJoint())
        #expect(chi < Self.chiSquareMax, "chi-square \(chi)")
        #expect(accepted > Self.runs / 4, "drafts were verified, not skipped: \(accepted)")
    }

    @Test("the test has power: the drafts themselves, all accepted, fail the bound")
    func negativeControl() {
        var random = SplitMix64(seed: 11)
        var counts = Array(repeating: 0, count: 125)
        for _ in 0..<Self.runs {
            var index = 0
            for _ in 0..<3 {
                let q = TokenDistribution(ids: Array(0..<5), probabilities: Self.q[0])
                index = index * 5 + q.draw(unit: random.nextUnit())
            }
            counts[index] += 1
        }
        let chi = Self.chiSquare(counts, Self.exactJoint())
        #expect(chi > Self.chiSquareMax * 10, "chi-square \(chi)")
    }

    /// `count` tokens after `prompt` at temperature 1 with `seed`, plainly
    /// or with `drafter`.
    static func seededReply(seed: UInt64, drafter: Drafter?, count: Int = 12) throws -> [Int] {
        let device = MarkovDevice(table: table)
        var settings = Self.settings
        settings.seed = seed
        var sampler = Sampler(settings: settings)
        let sequence = TokenSequence(cache: device.makeCache(capacity: 64))
        let governor = SpeculationGovernor(costModel: FixedCostModel(base: 1, perRow: 0))
        let speculator = drafter.map { Speculator(drafter: $0, governor: governor) }
        var ids: [Int] = []
        _ = try Generator(device: device, speculator: speculator).generate(
            prompt: [0, 2], on: sequence, maxTokens: count, sampler: &sampler, stopIDs: []
        ) { id in
            ids.append(id)
            return true
        }
        return ids
    }

    @Test("with a seed, deterministic drafts leave a sampled reply draw for draw plain's")
    func seededDeterministicDrafts() throws {
        var proposals = 0
        for seed in UInt64(0)..<40 {
            let drafter = ScriptedDrafter()
            drafter.script = [
                0: [1, 0, 1, 3], 1: [0, 4, 4], 2: [2, 2, 2], 3: [3, 0], 4: [4, 1],
            ]
            let plain = try Self.seededReply(seed: seed, drafter: nil)
            let speculative = try Self.seededReply(seed: seed, drafter: drafter)
            #expect(speculative == plain, "seed \(seed)")
            proposals += drafter.proposals
        }
        #expect(proposals > 40, "drafts were proposed")
    }

    @Test("a draft whose q gives its token no mass (NaN) is judged as a point mass")
    func damagedDraftDistribution() throws {
        for seed in UInt64(0)..<10 {
            let drafter = ScriptedDrafter()
            drafter.q = Array(repeating: Array(repeating: Float.nan, count: 5), count: 5)
            let plain = try Self.seededReply(seed: seed, drafter: nil)
            #expect(try Self.seededReply(seed: seed, drafter: drafter) == plain, "seed \(seed)")
        }
    }

    /// Generation endings that plain and speculative decoding must share.
    struct Ending: CustomTestStringConvertible, Sendable {
        let name: String
        let capacity: Int
        let maxTokens: Int
        let stopIDs: Set<Int>
        var testDescription: String { name }
    }

    static let endings = [
        Ending(name: "max tokens", capacity: 64, maxTokens: 20, stopIDs: []),
        Ending(name: "stop id", capacity: 64, maxTokens: 40, stopIDs: [1]),
        Ending(name: "context full", capacity: 12, maxTokens: 40, stopIDs: []),
        Ending(name: "one token", capacity: 64, maxTokens: 1, stopIDs: []),
    ]

    @Test("greedy speculation gives plain greedy's ids, stop and cache", arguments: endings)
    func greedyEquivalence(ending: Ending) throws {
        let prompt = [0, 2, 1]
        func run(_ speculator: Speculator?) throws -> ([Int], GenerationStats, [Int]) {
            let device = MarkovDevice(table: Self.table)
            let sequence = TokenSequence(cache: device.makeCache(capacity: ending.capacity))
            var sampler = Sampler(settings: .greedy)
            var ids: [Int] = []
            let stats = try Generator(device: device, speculator: speculator).generate(
                prompt: prompt, on: sequence, maxTokens: ending.maxTokens, sampler: &sampler,
                stopIDs: ending.stopIDs
            ) { id in
                ids.append(id)
                return true
            }
            return (ids, stats, sequence.ids)
        }
        let (plainIDs, plain, plainCache) = try run(nil)
        let drafter = ScriptedDrafter()
        drafter.script = [0: [1, 0, 1, 3], 1: [0, 1, 0], 2: [1, 0, 4], 3: [2], 4: [0, 1]]
        let governor = SpeculationGovernor(costModel: FixedCostModel(base: 1, perRow: 0))
        let (ids, stats, cache) = try run(Speculator(drafter: drafter, governor: governor))
        #expect(ids == plainIDs)
        #expect(stats.stopReason == plain.stopReason)
        #expect(stats.outputTokens == plain.outputTokens)
        #expect(cache == plainCache, "the cache ends where plain decoding leaves it")
        #expect(stats.dispatches <= plain.dispatches)
    }
}
