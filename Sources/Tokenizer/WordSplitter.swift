/// The pre-tokenizer: cuts text into the words that BPE merges within.
///
/// GPT-2 describes its split as the regex
/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`;
/// the "smollm" family first puts every `\p{N}` scalar in a word of its own
/// and applies that pattern to the runs between. This is a hand port of the
/// behaviour llama.cpp implements (`unicode_regex_split` and its custom GPT-2
/// matcher in `unicode.cpp`): one forward pass over the scalars, each step
/// taking the longest run of one class, so hostile input costs linear time.
/// Swift's `Regex` was rejected: it matches grapheme clusters unless told
/// otherwise, and its lookahead for `\s+(?!\S)` backtracks; one pass is
/// simpler to bound.
struct WordSplitter {
    /// What the pattern distinguishes about a scalar.
    enum ScalarClass: UInt8 {
        /// `\p{L}`: general category Lu, Ll, Lt, Lm or Lo.
        case letter
        /// `\p{N}`: general category Nd, Nl or No.
        case number
        /// `\s`: the Unicode White_Space property.
        case whitespace
        /// Anything else: marks, punctuation, symbols, controls, unassigned.
        case other
    }

    /// Whether number scalars become words of their own before the GPT-2
    /// pattern runs.
    let singleDigits: Bool

    /// Scalar values of the text being split; reused between calls.
    private var scalars: [UInt32] = []
    /// Class of each scalar; same count as `scalars`.
    private var classes: [ScalarClass] = []
    /// UTF-8 offset of each scalar in the caller's buffer, plus the end
    /// offset; `scalars.count + 1` entries.
    private var offsets: [Int] = []

    init(singleDigits: Bool) {
        self.singleDigits = singleDigits
    }

    /// Appends the UTF-8 byte ranges of the words of `bytes[range]` to `words`.
    ///
    /// - Precondition: `bytes[range]` is well-formed UTF-8, as every Swift
    ///   string is, and `range` starts and ends on scalar boundaries.
    mutating func split(
        _ bytes: UnsafeBufferPointer<UInt8>, range: Range<Int>, into words: inout [Range<Int>]
    ) {
        decodeScalars(bytes, range: range)
        let count = scalars.count
        guard singleDigits else {
            splitGPT2(0..<count, into: &words)
            return
        }

        // Each number scalar is a word; the runs between go to the pattern.
        var runStart = 0
        for index in 0..<count where classes[index] == .number {
            splitGPT2(runStart..<index, into: &words)
            words.append(offsets[index]..<offsets[index + 1])
            runStart = index + 1
        }
        splitGPT2(runStart..<count, into: &words)
    }

    /// Fills `scalars`, `classes` and `offsets` from well-formed UTF-8.
    private mutating func decodeScalars(_ bytes: UnsafeBufferPointer<UInt8>, range: Range<Int>) {
        scalars.removeAll(keepingCapacity: true)
        classes.removeAll(keepingCapacity: true)
        offsets.removeAll(keepingCapacity: true)
        var index = range.lowerBound
        while index < range.upperBound {
            let (value, length) = Self.decodeScalar(bytes, at: index)
            scalars.append(value)
            classes.append(Self.classify(value))
            offsets.append(index)
            index += length
        }
        precondition(index == range.upperBound, "WordSplitter: range ends inside a scalar")
        offsets.append(index)
    }

    /// The GPT-2 pattern over scalars `run` (indices into `scalars`); the run
    /// ends count as the end of text, as llama.cpp's matcher treats them.
    private func splitGPT2(_ run: Range<Int>, into words: inout [Range<Int>]) {
        var position = run.lowerBound
        while position < run.upperBound {
            let end = wordEnd(at: position, before: run.upperBound)
            precondition(end > position, "WordSplitter: no progress at \(position)")
            words.append(offsets[position]..<offsets[end])
            position = end
        }
    }

    /// Where the word starting at scalar `start` ends (exclusive), taking the
    /// pattern's alternatives in order; `limit` is the end of the run.
    private func wordEnd(at start: Int, before limit: Int) -> Int {
        // 's 't 're 've 'm 'll 'd, lower case only.
        if let end = contractionEnd(at: start, before: limit) {
            return end
        }

        // An optional space, then a run of letters, of numbers or of other.
        let lead = scalars[start] == ascii(" ") && start + 1 < limit ? start + 1 : start
        let leadClass = classes[lead]
        if leadClass != .whitespace {
            var end = lead + 1
            while end < limit && classes[end] == leadClass {
                end += 1
            }
            return end
        }

        // Whitespace: all of it at the end of the run, else all but the last
        // scalar, which then leads the next word (`\s+(?!\S)`, then `\s+`).
        var end = start
        while end < limit && classes[end] == .whitespace {
            end += 1
        }
        if end - start > 1 && end < limit {
            return end - 1
        }
        return end
    }

    /// The end of a contraction at `start`, or nil when there is none.
    private func contractionEnd(at start: Int, before limit: Int) -> Int? {
        guard scalars[start] == ascii("'"), start + 1 < limit else { return nil }
        let first = scalars[start + 1]
        let oneLetter = [ascii("s"), ascii("t"), ascii("m"), ascii("d")]
        if oneLetter.contains(first) {
            return start + 2
        }
        guard start + 2 < limit else { return nil }
        let second = scalars[start + 2]
        let twoLetter =
            (first == ascii("r") && second == ascii("e"))
            || (first == ascii("v") && second == ascii("e"))
            || (first == ascii("l") && second == ascii("l"))
        return twoLetter ? start + 3 : nil
    }

    /// The scalar value of an ASCII character.
    private func ascii(_ character: Unicode.Scalar) -> UInt32 {
        character.value
    }
}

extension WordSplitter {
    /// The scalar value and UTF-8 length at `index` of well-formed UTF-8.
    static func decodeScalar(_ bytes: UnsafeBufferPointer<UInt8>, at index: Int) -> (UInt32, Int) {
        let lead = UInt32(bytes[index])
        if lead < 0x80 {
            return (lead, 1)
        }
        let length = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2
        var value = lead & (0x7F >> UInt32(length))
        for offset in 1..<length {
            value = (value << 6) | (UInt32(bytes[index + offset]) & 0x3F)
        }
        return (value, length)
    }

    /// Classes of the ASCII scalars, indexed by value.
    private static let asciiClasses: [ScalarClass] = (0..<128).map { value in
        classifyByProperties(Unicode.Scalar(UInt8(value)))
    }

    /// The class of one scalar value.
    static func classify(_ value: UInt32) -> ScalarClass {
        if value < 128 {
            return asciiClasses[Int(value)]
        }
        guard let scalar = Unicode.Scalar(value) else { return .other }
        return classifyByProperties(scalar)
    }

    /// The class of one scalar from its Unicode properties.
    private static func classifyByProperties(_ scalar: Unicode.Scalar) -> ScalarClass {
        let properties = scalar.properties
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            return .letter
        case .decimalNumber, .letterNumber, .otherNumber:
            return .number
        default:
            return properties.isWhitespace ? .whitespace : .other
        }
    }
}
