/// Proposes tokens that the model will probably produce next, so that one
/// dispatch can verify several of them at once.
///
/// A drafter belongs to one sequence (or, for persona memory, reads one
/// persona's table); the decoder calls it between dispatches, never while
/// one runs. What it proposes never changes the output, only the speed:
/// every drafted token is checked against the model's own distribution.
public protocol Drafter: AnyObject {
    /// A short name for logs and reports: "ngram", "memory", "draft", "auto".
    var name: String { get }

    /// The names its drafts come out under (`Draft.source`): its own, or
    /// for `auto` those of the drafters it combines. The governor keeps
    /// acceptance per source.
    var sources: [String] { get }

    /// Up to `countMax` tokens expected to follow `history` (every id of the
    /// sequence so far, prompt included); fewer, or none, when it has no idea.
    func propose(after history: [Int], countMax: Int) throws -> Draft

    /// `propose`, for a drafter that chooses among sources: `lengths` says
    /// how many tokens the governor lets each source draft now, so that a
    /// source it does not trust yields to one it does. The default ignores
    /// it.
    func propose(after history: [Int], countMax: Int, lengths: (String) -> Int) throws -> Draft

    /// The reply that followed `context` is finished; drafters that learn
    /// from replies (persona memory) learn from it here.
    func finish(reply: [Int], after context: [Int]) throws
}

extension Drafter {
    public var sources: [String] { [name] }

    public func propose(after history: [Int], countMax: Int, lengths: (String) -> Int) throws
        -> Draft
    {
        try propose(after: history, countMax: countMax)
    }

    public func finish(reply: [Int], after context: [Int]) throws {}
}

/// Tokens a drafter proposes, and how it chose them.
public struct Draft: Sendable, Equatable {
    /// The proposed ids, in order.
    public var tokens: [Int]
    /// For each token, the distribution it was drawn from (`q` in the
    /// speculative-sampling rule); nil when the tokens were chosen
    /// deterministically, which makes `q` a point mass on each token.
    public var distributions: [TokenDistribution]?
    /// The drafter that proposed them; `auto` names the one it picked.
    public var source: String

    public init(tokens: [Int], distributions: [TokenDistribution]? = nil, source: String) {
        precondition(
            distributions == nil || distributions!.count == tokens.count,
            "one distribution per drafted token")
        self.tokens = tokens
        self.distributions = distributions
        self.source = source
    }

    /// Nothing proposed.
    public static func none(_ source: String) -> Draft {
        Draft(tokens: [], source: source)
    }

    /// `q(token)` at `index`: 1 for a deterministic draft.
    public func draftProbability(at index: Int) -> Float {
        guard let distributions else { return 1 }
        return distributions[index].probability(of: tokens[index])
    }

    /// The first `count` tokens.
    public func prefix(_ count: Int) -> Draft {
        Draft(
            tokens: Array(tokens.prefix(count)),
            distributions: distributions.map { Array($0.prefix(count)) }, source: source)
    }
}

/// A distribution over a few ids of the vocabulary: every id not listed has
/// probability 0. The sampler's truncation (top-k, top-p, min-p) leaves
/// tens of candidates out of tens of thousands, so this is what it returns.
public struct TokenDistribution: Sendable, Equatable {
    /// Ids with nonzero probability, most likely first.
    public let ids: [Int]
    /// Their probabilities, summing to 1 (within rounding).
    public let probabilities: [Float]

    public init(ids: [Int], probabilities: [Float]) {
        precondition(ids.count == probabilities.count && !ids.isEmpty, "ids and probabilities")
        self.ids = ids
        self.probabilities = probabilities
    }

    /// All mass on `id`.
    public static func pointMass(_ id: Int) -> TokenDistribution {
        TokenDistribution(ids: [id], probabilities: [1])
    }

    /// The probability of `id`: 0 when it is not among the candidates.
    public func probability(of id: Int) -> Float {
        guard let index = ids.firstIndex(of: id) else { return 0 }
        return probabilities[index]
    }

    /// The id that `unit` (a uniform draw in [0, 1)) selects by inverse CDF.
    public func draw(unit: Double) -> Int {
        let target = Float(unit)
        var cumulative: Float = 0
        for (id, probability) in zip(ids, probabilities) {
            cumulative += probability
            if target < cumulative {
                return id
            }
        }
        return ids[ids.count - 1]
    }
}
