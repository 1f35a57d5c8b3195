/// The merge half of byte-level BPE: turns the bytes of one word into
/// token ids by applying merge rules, lowest rank first.
///
/// Symbols are numbered once at load time, so merging compares integers, not
/// strings. A symbol is a byte string some token or merge spells: ids below
/// the vocabulary size are the tokens themselves; ids above it name strings
/// that only merges produce and that must fall back to bytes if they survive.
struct MergeTable: Sendable {
    /// One merge rule: its rank in the list and the symbol it produces.
    struct Merge: Sendable {
        /// Position in the merge list; lower merges first.
        let rank: Int32
        /// The symbol spelled by left followed by right.
        let result: Int32
    }

    /// Rules keyed by `left << 32 | right` symbol ids.
    private let merges: [UInt64: Merge]
    /// The symbol spelling each byte in the GPT-2 alphabet; 256 entries.
    private let byteSymbols: [Int32]
    /// The token for each byte, or -1 when the vocabulary lacks it; 256
    /// entries. Such a byte is dropped on encode, as llama.cpp drops it.
    let byteTokens: [Int32]
    /// Number of tokens; symbols at or above it are not tokens.
    private let tokenCount: Int32

    /// Numbers every token and merge string and indexes the rules.
    ///
    /// - Parameters:
    ///   - symbols: token texts to ids, extended here with merge-only strings.
    ///   - tokenCount: the vocabulary size.
    ///   - rules: the merge rules as split UTF-8, in rank order.
    init(symbols: inout [[UInt8]: Int32], tokenCount: Int, rules: [([UInt8], [UInt8])]) {
        var nextSymbol = Int32(tokenCount)
        func intern(_ text: [UInt8]) -> Int32 {
            if let symbol = symbols[text] { return symbol }
            symbols[text] = nextSymbol
            nextSymbol += 1
            return nextSymbol - 1
        }

        // The 256 byte spellings are the symbols every word starts from.
        byteSymbols = ByteAlphabet.utf8ForByte.map(intern)
        byteTokens = byteSymbols.map { $0 < Int32(tokenCount) ? $0 : -1 }

        // The first rule for a pair wins, as in llama.cpp's rank map.
        var merges: [UInt64: Merge] = [:]
        merges.reserveCapacity(rules.count)
        for (rank, (left, right)) in rules.enumerated() {
            let key = Self.key(intern(left), intern(right))
            if merges[key] == nil {
                merges[key] = Merge(rank: Int32(rank), result: intern(left + right))
            }
        }
        self.merges = merges
        self.tokenCount = Int32(tokenCount)
    }

    /// The dictionary key of a symbol pair.
    private static func key(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }

    /// Appends the tokens of the word `bytes[range]` to `output`.
    func encodeWord(
        _ bytes: UnsafeBufferPointer<UInt8>, range: Range<Int>, scratch: inout Scratch,
        into output: inout [Int]
    ) {
        // One byte needs no merging.
        if range.count == 1 {
            appendBytes(bytes, range, into: &output)
            return
        }

        // Every byte starts as its own symbol in a linked list.
        scratch.reset(symbols: range.lazy.map { self.byteSymbols[Int(bytes[$0])] })
        for left in 0..<(range.count - 1) {
            pushPair(at: Int32(left), scratch: &scratch)
        }

        // Apply the lowest-ranked, then leftmost, merge until none is left.
        while let entry = scratch.heap.popMin() {
            let left = Int32(truncatingIfNeeded: entry)
            let rank = Int32(truncatingIfNeeded: entry >> 32)
            let right = scratch.next[Int(left)]
            guard scratch.symbols[Int(left)] >= 0, right >= 0 else { continue }
            let pair = Self.key(scratch.symbols[Int(left)], scratch.symbols[Int(right)])
            guard let merge = merges[pair], merge.rank == rank else { continue }
            scratch.merge(left, right, into: merge.result)
            if scratch.previous[Int(left)] >= 0 {
                pushPair(at: scratch.previous[Int(left)], scratch: &scratch)
            }
            pushPair(at: left, scratch: &scratch)
        }

        // Emit each surviving symbol, spelling non-tokens byte by byte.
        var symbol: Int32 = 0
        while symbol >= 0 {
            let next = scratch.next[Int(symbol)]
            let id = scratch.symbols[Int(symbol)]
            let start = range.lowerBound + Int(symbol)
            let end = next >= 0 ? range.lowerBound + Int(next) : range.upperBound
            if id < tokenCount {
                output.append(Int(id))
            } else {
                appendBytes(bytes, start..<end, into: &output)
            }
            symbol = next
        }
    }

    /// Queues the pair that starts at symbol `left`, if a rule merges it.
    private func pushPair(at left: Int32, scratch: inout Scratch) {
        let right = scratch.next[Int(left)]
        guard right >= 0 else { return }
        let key = Self.key(scratch.symbols[Int(left)], scratch.symbols[Int(right)])
        guard let merge = merges[key] else { return }
        scratch.heap.push(UInt64(UInt32(merge.rank)) << 32 | UInt64(UInt32(left)))
    }

    /// Appends the byte tokens of `bytes[range]`, skipping bytes that have none.
    private func appendBytes(
        _ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, into output: inout [Int]
    ) {
        for index in range {
            let token = byteTokens[Int(bytes[index])]
            if token >= 0 {
                output.append(Int(token))
            }
        }
    }
}

extension MergeTable {
    /// Working memory for one word, reused across words to avoid allocation.
    ///
    /// Symbol `i` starts at byte `i` of the word; a merged-away symbol has
    /// id -1 and is unlinked from the list.
    struct Scratch {
        /// Symbol id at each byte position, -1 once merged into its left.
        var symbols: [Int32] = []
        /// Index of the previous live symbol, -1 at the start.
        var previous: [Int32] = []
        /// Index of the next live symbol, -1 at the end.
        var next: [Int32] = []
        /// Candidate merges as `rank << 32 | left index`, smallest first.
        var heap = MinHeap()

        /// Starts a word whose bytes spell `initial`.
        mutating func reset(symbols initial: some Collection<Int32>) {
            symbols.removeAll(keepingCapacity: true)
            previous.removeAll(keepingCapacity: true)
            next.removeAll(keepingCapacity: true)
            heap.removeAll()
            symbols.append(contentsOf: initial)
            let count = Int32(symbols.count)
            for index in 0..<count {
                previous.append(index - 1)
                next.append(index + 1 < count ? index + 1 : -1)
            }
        }

        /// Replaces symbols `left` and `right` (adjacent) by `result`.
        mutating func merge(_ left: Int32, _ right: Int32, into result: Int32) {
            precondition(next[Int(left)] == right, "MergeTable: merging non-adjacent symbols")
            symbols[Int(left)] = result
            symbols[Int(right)] = -1
            let after = next[Int(right)]
            next[Int(left)] = after
            if after >= 0 {
                previous[Int(after)] = left
            }
        }
    }

    /// A binary min-heap of packed keys.
    struct MinHeap {
        private var items: [UInt64] = []

        mutating func removeAll() {
            items.removeAll(keepingCapacity: true)
        }

        mutating func push(_ item: UInt64) {
            items.append(item)
            var child = items.count - 1
            while child > 0 {
                let parent = (child - 1) / 2
                guard items[child] < items[parent] else { break }
                items.swapAt(child, parent)
                child = parent
            }
        }

        mutating func popMin() -> UInt64? {
            guard let last = items.popLast() else { return nil }
            guard !items.isEmpty else { return last }
            let top = items[0]
            items[0] = last
            siftDown()
            return top
        }

        private mutating func siftDown() {
            var parent = 0
            while true {
                let left = 2 * parent + 1
                guard left < items.count else { return }
                let right = left + 1
                let child = right < items.count && items[right] < items[left] ? right : left
                guard items[child] < items[parent] else { return }
                items.swapAt(child, parent)
                parent = child
            }
        }
    }
}
