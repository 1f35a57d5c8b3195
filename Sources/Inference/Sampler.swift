import Foundation
import Support

/// How the next token is chosen from the logits.
public struct SamplingSettings: Sendable, Equatable, Codable {
    /// 0 picks the most likely token (greedy); higher flattens the distribution.
    public var temperature: Float = 0.7
    /// Keep only the k most likely tokens; 0 keeps all.
    public var topK: Int = 40
    /// Keep the smallest set whose probability reaches p; 1 keeps all.
    public var topP: Float = 0.95
    /// Drop tokens less likely than min-p times the most likely one; 0 keeps all.
    public var minP: Float = 0.05
    /// Divides positive logits (multiplies negative ones) of recent tokens; 1 is off.
    public var repeatPenalty: Float = 1.0
    /// How many recent tokens the repetition penalty looks at.
    public var repeatLastN: Int = 64
    /// Same seed, same text; nil draws a fresh seed per reply.
    public var seed: UInt64?

    public init(
        temperature: Float = 0.7, topK: Int = 40, topP: Float = 0.95, minP: Float = 0.05,
        repeatPenalty: Float = 1.0, repeatLastN: Int = 64, seed: UInt64? = nil
    ) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.minP = minP
        self.repeatPenalty = repeatPenalty
        self.repeatLastN = repeatLastN
        self.seed = seed
    }

    /// Always the most likely token.
    public static let greedy = SamplingSettings(temperature: 0, topK: 0, topP: 1, minP: 0)
}

/// Picks tokens from logits: repetition penalty, then greedy or
/// top-k › top-p › min-p › temperature › a draw from the seeded generator.
///
/// The order follows llama.cpp's default sampler chain, so settings mean the
/// same thing to people who know it.
public struct Sampler: Sendable {
    public let settings: SamplingSettings
    private var random: SplitMix64
    private var candidates: [Candidate] = []

    private struct Candidate {
        var id: Int
        var logit: Float
        var probability: Float = 0
    }

    public init(settings: SamplingSettings) {
        self.settings = settings
        self.random = SplitMix64(seed: settings.seed ?? UInt64.random(in: .min ... .max))
    }

    /// The next token after `history` (the ids so far, prompt included).
    public mutating func sample(_ logits: UnsafeBufferPointer<Float>, history: [Int]) -> Int {
        load(logits, history: history)
        if settings.temperature <= 0 {
            return argmax()
        }
        truncate()
        return draw()
    }

    /// The distribution `sample` draws from after `history`: the candidates
    /// left by the penalty and the truncation, with their probabilities at
    /// the configured temperature. Greedy settings give a point mass on the
    /// argmax. Speculative sampling compares drafts against it.
    public mutating func distribution(_ logits: UnsafeBufferPointer<Float>, history: [Int])
        -> TokenDistribution
    {
        load(logits, history: history)
        if settings.temperature <= 0 {
            return .pointMass(argmax())
        }
        truncate()
        softmax(temperature: settings.temperature)
        return TokenDistribution(
            ids: candidates.map(\.id), probabilities: candidates.map(\.probability))
    }

    /// Candidates from the logits, with the repetition penalty applied.
    private mutating func load(_ logits: UnsafeBufferPointer<Float>, history: [Int]) {
        candidates.removeAll(keepingCapacity: true)
        candidates.reserveCapacity(logits.count)
        for (id, logit) in logits.enumerated() {
            candidates.append(Candidate(id: id, logit: logit))
        }
        applyRepeatPenalty(history: history)
    }

    /// Penalises every distinct token among the last `repeatLastN` of history.
    private mutating func applyRepeatPenalty(history: [Int]) {
        let penalty = settings.repeatPenalty
        guard penalty != 1, settings.repeatLastN > 0 else { return }
        var seen = Set<Int>()
        for id in history.suffix(settings.repeatLastN) where seen.insert(id).inserted {
            guard id >= 0 && id < candidates.count else { continue }
            let logit = candidates[id].logit
            candidates[id].logit = logit > 0 ? logit / penalty : logit * penalty
        }
    }

    /// The most likely token; the lowest id wins a tie.
    private func argmax() -> Int {
        var best = 0
        for i in candidates.indices where candidates[i].logit > candidates[best].logit {
            best = i
        }
        return candidates[best].id
    }

    /// top-k, then top-p and min-p over the softmax of what is left.
    private mutating func truncate() {
        candidates.sort { $0.logit > $1.logit }
        if settings.topK > 0 && settings.topK < candidates.count {
            candidates.removeLast(candidates.count - settings.topK)
        }
        softmax(temperature: 1)
        var cumulative: Float = 0
        var keep = candidates.count
        for (i, candidate) in candidates.enumerated() {
            cumulative += candidate.probability
            if cumulative >= settings.topP {
                keep = i + 1
                break
            }
        }
        let floor = candidates[0].probability * settings.minP
        while keep > 1 && candidates[keep - 1].probability < floor {
            keep -= 1
        }
        candidates.removeLast(candidates.count - keep)
    }

    /// Softmax of the candidates' logits divided by `temperature`.
    private mutating func softmax(temperature: Float) {
        let top = candidates.map(\.logit).max() ?? 0
        var sum: Float = 0
        for i in candidates.indices {
            let p = expf((candidates[i].logit - top) / temperature)
            candidates[i].probability = p
            sum += p
        }
        for i in candidates.indices {
            candidates[i].probability /= sum
        }
    }

    /// A draw from the candidates at the configured temperature.
    private mutating func draw() -> Int {
        softmax(temperature: settings.temperature)
        let target = Float(random.nextUnit())
        var cumulative: Float = 0
        for candidate in candidates {
            cumulative += candidate.probability
            if target < cumulative {
                return candidate.id
            }
        }
        return candidates[candidates.count - 1].id
    }
}
