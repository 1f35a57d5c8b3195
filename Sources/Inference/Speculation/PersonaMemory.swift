import Support
import Synchronization

/// What a persona's past replies taught: for each context of two, three,
/// four or six tokens, the tokens that followed it and how often.
///
/// Personas repeat themselves (a pirate's greeting, a tutor's "Step 1:",
/// a support bot's sign-off); the table turns those habits into drafts.
/// One table per persona and model, never shared: ids mean nothing across
/// vocabularies, and one persona's text must never surface in another's
/// drafts. The table holds at most `Limits.Speculation.memoryEntriesMax`
/// (context, successor) pairs; past that the least used are forgotten.
public final class PersonaMemory: Sendable {
    public let persona: String
    public let model: String
    /// Ids the model knows; successors outside `0..<vocabularySize` are
    /// never proposed (a damaged file cannot make the device throw).
    public let vocabularySize: Int
    /// The entry bound this table enforces.
    public let entriesMax: Int

    /// Context lengths learned and looked up, longest first. Short contexts
    /// alone are ambiguous in lists and templates ("2nd to" and "3rd to"
    /// share their last tokens), so a recurring reply drafted from them
    /// goes astray at every fork; six tokens of context follow the reply
    /// the persona gave before through them.
    static let orders = [6, 4, 3, 2]

    private let state: Mutex<NGramTable>
    private let store: PersonaMemoryStore?
    /// Held through a save, so that saves go to the file in the order their
    /// replies were learned; holds what earlier saves failed to write.
    private let saving = Mutex(UnsavedRows())

    /// A table read from `store`, or empty and in memory only when `store`
    /// is nil.
    init(
        persona: String, model: String, vocabularySize: Int, store: PersonaMemoryStore?,
        entriesMax: Int = Limits.Speculation.memoryEntriesMax
    ) throws {
        precondition(vocabularySize > 0 && entriesMax > 0, "memory of an empty vocabulary")
        self.persona = persona
        self.model = model
        self.vocabularySize = vocabularySize
        self.entriesMax = entriesMax
        self.store = store
        var table = NGramTable()
        if let store {
            let rows = try store.load(
                persona: persona, model: model, limit: entriesMax, vocabularySize: vocabularySize)
            for row in rows {
                table.insert(row)
            }
        }
        state = Mutex(table)
    }

    /// A table for tests and one-off runs: nothing is read or written.
    public static func inMemory(
        persona: String, model: String, vocabularySize: Int,
        entriesMax: Int = Limits.Speculation.memoryEntriesMax
    ) -> PersonaMemory {
        // Without a store nothing can throw.
        try! PersonaMemory(
            persona: persona, model: model, vocabularySize: vocabularySize, store: nil,
            entriesMax: entriesMax)
    }

    /// (context, successor) pairs held.
    public var entryCount: Int {
        state.withLock { $0.entryCount }
    }

    /// Up to `countMax` tokens, each the most frequent successor of the
    /// longest remembered context before it.
    public func predict(after history: [Int], countMax: Int) -> [Int] {
        predictWithOrder(after: history, countMax: countMax).tokens
    }

    /// `predict`, and the context length that chose the first token.
    func predictWithOrder(after history: [Int], countMax: Int) -> (tokens: [Int], order: Int) {
        state.withLock { table in
            var window = Array(history.suffix(Self.orders[0]))
            var tokens: [Int] = []
            var firstOrder = 0
            while tokens.count < countMax, let (next, order) = table.best(after: window) {
                if tokens.isEmpty {
                    firstOrder = order
                }
                tokens.append(next)
                window.append(next)
                window.removeFirst(max(0, window.count - Self.orders[0]))
            }
            return (tokens, firstOrder)
        }
    }

    /// Learns every successor in `reply`, its contexts reaching back into
    /// `context` (the prompt's tail) so that the opening is learned too,
    /// then forgets the least used pairs past the bound and saves.
    ///
    /// Drafting reads the table under its own lock, which is let go before
    /// the save: a file another process holds locked delays this call, not
    /// the replies drafting meanwhile. What a failed save did not write
    /// rides with the next one.
    public func learn(reply: [Int], after context: [Int]) throws {
        guard !reply.isEmpty else { return }
        let tokens = Array(context.suffix(Self.orders[0])) + reply
        let first = tokens.count - reply.count
        try saving.withLock { unsaved in
            let (touched, forgotten) = state.withLock { table in
                table.round = min(table.round + 1, NGramTable.roundMax)
                var touched: [NGramTable.Pair: NGramTable.Row] = [:]
                for end in first..<tokens.count where tokens[end] < vocabularySize {
                    for order in Self.orders where end >= order {
                        let key = NGramTable.key(tokens[(end - order)..<end])
                        let row = table.bump(key, successor: tokens[end])
                        touched[NGramTable.Pair(context: key, token: row.token)] = row
                    }
                }
                return (touched, table.evict(toFit: entriesMax))
            }
            unsaved.add(touched: touched, forgotten: forgotten, bound: entriesMax)
            try store?.save(
                persona: persona, model: model, rows: Array(unsaved.rows.values),
                forgetting: Array(unsaved.forgotten.values))
            unsaved = UnsavedRows()
        }
    }
}

/// Rows learned or forgotten since the last save that went through.
struct UnsavedRows {
    var rows: [NGramTable.Pair: NGramTable.Row] = [:]
    var forgotten: [NGramTable.Pair: NGramTable.Row] = [:]

    /// Adds one reply's changes: a pair forgotten after it was learned is
    /// only forgotten, and the other way round. Past twice `bound` pairs
    /// (a file that refuses every write) the oldest changes are dropped:
    /// the file then lacks some lessons, which costs drafts, not replies.
    mutating func add(
        touched: [NGramTable.Pair: NGramTable.Row], forgotten gone: [NGramTable.Row], bound: Int
    ) {
        if rows.count + forgotten.count > 2 * bound {
            self = UnsavedRows()
        }
        for (pair, row) in touched {
            rows[pair] = row
            forgotten[pair] = nil
        }
        for row in gone {
            let pair = NGramTable.Pair(context: row.context, token: row.token)
            rows[pair] = nil
            forgotten[pair] = row
        }
    }
}

/// The table behind `PersonaMemory`: context key to successors.
struct NGramTable {
    /// One (context, successor) pair as stored.
    struct Row: Equatable {
        /// The packed context (see `key`).
        var context: Int64
        var token: Int
        /// Times the successor followed the context.
        var count: Int64
        /// The learning round that last saw it: eviction forgets old pairs first.
        var round: Int64

        /// Whether a table could have written it for a model of
        /// `vocabularySize` ids: a damaged or edited file holds others.
        func isSound(vocabularySize: Int) -> Bool {
            NGramTable.isValid(context: context) && token >= 0
                && token < min(1 << NGramTable.idBits, vocabularySize) && count > 0
                && count <= NGramTable.countMax && round >= 0 && round <= NGramTable.roundMax
        }
    }

    /// A row's identity: its context and successor.
    struct Pair: Hashable {
        var context: Int64
        var token: Int
    }

    private var successors: [Int64: [Row]] = [:]
    private(set) var entryCount = 0
    /// Incremented at each `learn`; starts past every loaded round.
    var round: Int64 = 0

    /// Bounds on a row's count and round, far past what any persona's
    /// replies reach (2^40 replies), so that arithmetic on them cannot
    /// overflow; the store deletes rows beyond them as damaged.
    static let countMax: Int64 = 1 << 40
    static let roundMax: Int64 = 1 << 40

    /// Bits per id in a packed context: vocabularies stay below 2^20
    /// (`LlamaConfig.vocabularySizeMax`).
    static let idBits: Int64 = 20

    /// Packs a context and its length into one integer, the length in bits
    /// 60-62: two or three ids exactly, in 20-bit fields, oldest highest;
    /// longer ones as a 60-bit hash (a collision only costs a wrong draft,
    /// which verification rejects).
    static func key(_ context: ArraySlice<Int>) -> Int64 {
        precondition(PersonaMemory.orders.contains(context.count), "context of \(context.count)")
        var key: Int64 = 0
        if context.count <= 3 {
            for id in context {
                precondition(id >= 0 && id < 1 << idBits, "token id \(id) past 20 bits")
                key = key << idBits | Int64(id)
            }
        } else {
            key = Int64(bitPattern: hash(context) & (1 << 60 - 1))
        }
        return Int64(context.count) << 60 | key
    }

    /// FNV-1a over the ids, then SplitMix64's finalizer so that every bit
    /// of the result depends on every id.
    private static func hash(_ context: ArraySlice<Int>) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for id in context {
            h = (h ^ UInt64(truncatingIfNeeded: id)) &* 0x0000_0100_0000_01b3
        }
        return SplitMix64.mix(h)
    }

    /// Whether `context` could come from `key`: a length the table learns.
    static func isValid(context: Int64) -> Bool {
        context >= 0 && PersonaMemory.orders.contains(Int(context >> 60))
    }

    mutating func insert(_ row: Row) {
        guard row.isSound(vocabularySize: 1 << Self.idBits) else { return }
        successors[row.context, default: []].append(row)
        entryCount += 1
        round = max(round, row.round)
    }

    /// Counts one more `successor` after `context`; returns the updated row.
    mutating func bump(_ context: Int64, successor: Int) -> Row {
        var rows = successors[context, default: []]
        let row: Row
        if let index = rows.firstIndex(where: { $0.token == successor }) {
            rows[index].count = min(rows[index].count + 1, Self.countMax)
            rows[index].round = round
            row = rows[index]
        } else {
            row = Row(context: context, token: successor, count: 1, round: round)
            rows.append(row)
            entryCount += 1
        }
        successors[context] = rows
        return row
    }

    /// The most frequent successor of the longest context of `window` that
    /// has one, and that context's length; the latest seen wins a tie.
    func best(after window: [Int]) -> (token: Int, order: Int)? {
        for order in PersonaMemory.orders where window.count >= order {
            let key = Self.key(window[(window.count - order)...])
            let rows = successors[key] ?? []
            if let top = rows.max(by: { ($0.count, $0.round) < ($1.count, $1.round) }) {
                return (top.token, order)
            }
        }
        return nil
    }

    /// Forgets the least counted, then oldest, pairs until `entriesMax` hold,
    /// going down to seven eighths so that eviction is not paid every reply.
    mutating func evict(toFit entriesMax: Int) -> [Row] {
        guard entryCount > entriesMax else { return [] }
        let keep = entriesMax - entriesMax / 8
        let all = successors.values.joined().sorted { ($0.count, $0.round) < ($1.count, $1.round) }
        let forgotten = Array(all.prefix(all.count - keep))
        for row in forgotten {
            successors[row.context]?.removeAll { $0.token == row.token }
            if successors[row.context]?.isEmpty == true {
                successors[row.context] = nil
            }
        }
        entryCount = keep
        return forgotten
    }
}
