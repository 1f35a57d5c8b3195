/// Prompt lookup: finds the latest earlier place where the sequence's last
/// few tokens occurred and proposes what followed them there.
///
/// Replies that quote the prompt, repeat a list's pattern or edit code in
/// place are full of such repeats, and the lookup costs no device time.
/// Longer n-grams are tried first, since they predict better; a match
/// found close to the end continues periodically, so a run like `----`
/// or a repeated line can be drafted past the text seen so far.
///
/// How far the match reaches back (up to `matchBuckets.last`) names the
/// draft's source, "ngram/1" to "ngram/8": a reply that repeats a whole
/// line earns long drafts while a chance bigram in prose earns none. A lone
/// token is looked up only when every earlier occurrence had the same
/// successor ("quick" in "Teh quick brown fox", fixed to "The quick"): one
/// draft row costs little more than none on a CPU, where the weights'
/// memory stream dominates, so even a modest hit rate pays.
public final class PromptLookupDrafter: Drafter {
    public let name = "ngram"
    /// Match lengths that start a source bucket: 1, 2, 3, 4-7, 8 and more.
    static let matchBuckets = [1, 2, 3, 4, 8]
    public let sources = matchBuckets.map { "ngram/\($0)" }
    /// The longest and shortest n-grams looked up.
    public let orderMax: Int
    public let orderMin: Int

    /// For each order, the n-gram (hashed) to the index just past its
    /// latest occurrence that has a token after it.
    private var latestEnd: [[NGramKey: Int]]
    /// Single tokens seen followed by different tokens: a lone token that
    /// always had the same successor is worth drafting, one that had
    /// several is a guess.
    private var ambiguous: Set<Int> = []
    /// The prefix of the history indexed so far; must stay a prefix.
    private var indexed: [Int] = []

    /// - Parameters:
    ///   - orderMax: the longest n-gram matched (tokens).
    ///   - orderMin: the shortest; at 1 a lone token drafts only when its
    ///     earlier successors agree.
    public init(orderMax: Int = 4, orderMin: Int = 1) {
        precondition(
            orderMin >= 1 && orderMax >= orderMin, "n-gram orders \(orderMin)...\(orderMax)")
        self.orderMax = orderMax
        self.orderMin = orderMin
        latestEnd = Array(repeating: [:], count: orderMax + 1)
    }

    public func propose(after history: [Int], countMax: Int) -> Draft {
        guard countMax > 0 else { return .none(name) }
        index(history)

        // The longest order whose suffix occurred before with a successor.
        for order in stride(from: orderMax, through: orderMin, by: -1)
        where history.count > order {
            let key = NGramKey(history[(history.count - order)...])
            guard let end = latestEnd[order][key] else { continue }
            if order == 1 && ambiguous.contains(history[history.count - 1]) { continue }
            let match = matchLength(history, end: end)
            let bucket = Self.matchBuckets.last { $0 <= match } ?? Self.matchBuckets[0]
            return Draft(
                tokens: continuation(of: history, from: end, count: countMax),
                source: "ngram/\(bucket)")
        }
        return .none(name)
    }

    /// How many tokens before `end` equal those before the history's end,
    /// counted up to the last bucket's length.
    private func matchLength(_ history: [Int], end: Int) -> Int {
        let limit = Self.matchBuckets[Self.matchBuckets.count - 1]
        var length = 0
        while length < limit && length < end
            && history[end - 1 - length] == history[history.count - 1 - length]
        {
            length += 1
        }
        return length
    }

    /// `count` tokens from `start` on, reading the draft itself once the
    /// history runs out: the text repeats with period `history.count - start`.
    private func continuation(of history: [Int], from start: Int, count: Int) -> [Int] {
        var tokens: [Int] = []
        tokens.reserveCapacity(count)
        for i in 0..<count {
            let source = start + i
            tokens.append(source < history.count ? history[source] : tokens[source - history.count])
        }
        return tokens
    }

    /// Indexes every n-gram that ends before the last token, so that each
    /// indexed occurrence has a successor; starts over when the history is
    /// not an extension of what was indexed (a rolled-back or new sequence).
    ///
    /// Ends `1...indexed.count` are in the table; each call adds the ends up
    /// to `history.count - 1`.
    private func index(_ history: [Int]) {
        if history.count <= indexed.count || !history.starts(with: indexed) {
            latestEnd = Array(repeating: [:], count: orderMax + 1)
            ambiguous = []
            indexed = []
        }
        let last = history.count - 1
        guard last > indexed.count else { return }
        for end in (indexed.count + 1)...last {
            for order in orderMin...orderMax where order <= end {
                let key = NGramKey(history[(end - order)..<end])
                if order == 1, let earlier = latestEnd[1][key], history[earlier] != history[end] {
                    ambiguous.insert(history[end - 1])
                }
                latestEnd[order][key] = end
            }
        }
        indexed.append(contentsOf: history[indexed.count..<last])
    }
}

/// An n-gram of token ids, hashable as a dictionary key.
struct NGramKey: Hashable {
    let tokens: [Int]

    init(_ slice: ArraySlice<Int>) {
        tokens = Array(slice)
    }
}
