import Support

/// The speculative-sampling rule (Leviathan, Kalman and Matias 2023; Chen
/// et al. 2023): a drafted token `x` drawn from `q` is kept with probability
/// `min(1, p(x) / q(x))`; when it is not, the replacement is drawn from the
/// residual `max(0, p - q)`, renormalised. Whatever `q` is, the token that
/// comes out is distributed exactly as `p`, the target's own distribution.
///
/// Deterministic drafts (a point mass) need no rule of their own: the
/// decoder keeps one when it is the very token plain decoding draws there
/// (`SpeculativeDecoder.verify`), which keeps it with probability `p(x)`.
struct AcceptanceRule {
    /// Uniform draws for the test and the residual; seeded, so a seeded
    /// reply is repeatable.
    private var random: SplitMix64

    /// Above this many candidates the residual looks `q` up in a dictionary
    /// rather than scanning it.
    private static let linearLookupMax = 64

    init(seed: UInt64) {
        random = SplitMix64(seed: seed)
    }

    /// What happens to one drafted token.
    enum Verdict: Equatable {
        /// The token stands.
        case accept
        /// The token is replaced by this one, and the rest of the draft is void.
        case reject(replacement: Int)
    }

    /// Whether `q` gives `token` a positive, finite mass, which the rule
    /// divides by.
    static func canJudge(_ token: Int, q: TokenDistribution) -> Bool {
        let mass = q.probability(of: token)
        return mass > 0 && mass.isFinite
    }

    /// Judges `token`, which the drafter drew from `q`, against the
    /// target's distribution `p`.
    ///
    /// - Precondition: `canJudge(token, q)`.
    mutating func judge(_ token: Int, q: TokenDistribution, p: TokenDistribution) -> Verdict {
        precondition(
            Self.canJudge(token, q: q), "the drafter proposed \(token), which its q gives no mass")
        let pOfToken = Double(p.probability(of: token))
        let qOfToken = Double(q.probability(of: token))

        // Keep with probability min(1, p/q).
        if random.nextUnit() * qOfToken < pOfToken {
            return .accept
        }
        return .reject(replacement: residual(p: p, q: q))
    }

    /// A draw from `max(0, p - q)` renormalised; from `p` itself when the
    /// residual has no mass (only when `q` covers `p` exactly, where a
    /// rejection cannot happen but rounding could make one).
    private mutating func residual(p: TokenDistribution, q: TokenDistribution) -> Int {
        let qOf: (Int) -> Float
        if q.ids.count > Self.linearLookupMax {
            let table = Dictionary(zip(q.ids, q.probabilities), uniquingKeysWith: +)
            qOf = { table[$0] ?? 0 }
        } else {
            qOf = { q.probability(of: $0) }
        }
        var ids: [Int] = []
        var masses: [Float] = []
        var total: Float = 0
        for (id, probability) in zip(p.ids, p.probabilities) {
            let mass = probability - qOf(id)
            if mass > 0 {
                ids.append(id)
                masses.append(mass)
                total += mass
            }
        }
        guard total > 0 else {
            return p.draw(unit: random.nextUnit())
        }
        let normalised = masses.map { $0 / total }
        return TokenDistribution(ids: ids, probabilities: normalised).draw(unit: random.nextUnit())
    }
}
