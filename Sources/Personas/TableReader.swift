/// Reads the keys of one TOML table against a schema, collecting an issue for
/// every value that is missing, of the wrong type or out of range.
///
/// Each accessor marks its key as known and returns the value, or the default
/// when the key is absent or broken, so that one pass reports every problem in
/// a file. `finish()` then reports the keys no accessor asked for.
struct TableReader {
    /// The file, as shown in messages.
    let file: String
    /// The dotted path of this table, `""` for the root.
    let path: String
    /// The table's entries.
    let entries: [String: TOMLNode]
    /// Keys an accessor asked for, in the order asked: the format's own list.
    private(set) var known: [String] = []
    /// Every problem found so far.
    private(set) var issues: [PersonaIssue] = []

    init(file: String, path: String, entries: [String: TOMLNode]) {
        self.file = file
        self.path = path
        self.entries = entries
    }

    /// The dotted key for `key` in this table, quoted where TOML would
    /// quote it, so that a hostile key cannot break a one-line message.
    func dotted(_ key: String) -> String {
        let spelled = TOMLSpelling.key(key)
        return path.isEmpty ? spelled : path + "." + spelled
    }

    /// Records a problem with `key`, found at `node`.
    mutating func report(
        _ key: String, at node: TOMLNode, _ rule: PersonaIssue.Rule, _ message: String
    ) {
        let found: String? =
            if case .table = node.value { nil } else { TOMLSpelling.value(node.value) }
        issues.append(
            PersonaIssue(
                file: file, line: node.line, column: node.column, key: dotted(key),
                found: found, rule: rule, message: message))
    }

    /// Records a problem that no single value shows, at `line`.
    mutating func report(
        _ key: String, line: Int, _ rule: PersonaIssue.Rule, _ message: String
    ) {
        issues.append(
            PersonaIssue(file: file, line: line, key: dotted(key), rule: rule, message: message))
    }

    /// Takes in the issues of a nested table's reader.
    mutating func absorb(_ nested: TableReader) {
        issues += nested.issues
    }

    /// The node for `key`, marking the key as known.
    mutating func node(_ key: String) -> TOMLNode? {
        known.append(key)
        return entries[key]
    }

    // MARK: - Accessors by type

    /// A string of at most `bytesMax` UTF-8 bytes.
    mutating func string(_ key: String, default fallback: String, bytesMax: Int) -> String {
        guard let node = node(key) else { return fallback }
        guard case .string(let text) = node.value else {
            report(key, at: node, .typeMustMatch, "must be a string, found \(node.value.kind)")
            return fallback
        }
        guard text.utf8.count <= bytesMax else {
            let message = "is \(text.utf8.count) bytes; the limit is \(bytesMax)"
            report(key, at: node, .valueMustBeAllowed, message)
            return fallback
        }
        return text
    }

    /// An integer within `bound`; floats are refused, even whole ones.
    mutating func integer(_ key: String, default fallback: Int64, bound: Bound<Int64>) -> Int64 {
        guard let node = node(key) else { return fallback }
        return checkedInteger(key, node, bound) ?? fallback
    }

    /// An integer within `bound`, or nil when the key is absent.
    mutating func optionalInteger(_ key: String, bound: Bound<Int64>) -> Int64? {
        guard let node = node(key) else { return nil }
        return checkedInteger(key, node, bound)
    }

    /// A number within `bound`; integers are taken as floats, since
    /// `temperature = 1` means what it says.
    mutating func number(_ key: String, default fallback: Double, bound: Bound<Double>) -> Double {
        guard let node = node(key) else { return fallback }
        let number: Double
        switch node.value {
        case .float(let value): number = value
        case .integer(let value): number = Double(value)
        default:
            report(key, at: node, .typeMustMatch, "must be a number, found \(node.value.kind)")
            return fallback
        }
        guard bound.contains(number) else {
            report(key, at: node, .valueMustBeInRange, bound.rule)
            return fallback
        }
        return number
    }

    /// One of the string choices of `Choice`.
    mutating func choice<Choice>(_ key: String, default fallback: Choice) -> Choice
    where Choice: RawRepresentable & CaseIterable, Choice.RawValue == String {
        guard let node = node(key) else { return fallback }
        let choices = Choice.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")
        guard case .string(let text) = node.value else {
            let message = "must be one of \(choices), found \(node.value.kind)"
            report(key, at: node, .typeMustMatch, message)
            return fallback
        }
        guard let choice = Choice(rawValue: text) else {
            report(key, at: node, .valueMustBeAllowed, "must be one of \(choices)")
            return fallback
        }
        return choice
    }

    /// A nested table, read by `read`; nil when absent or not a table.
    mutating func table<Value>(
        _ key: String, read: (inout TableReader) -> Value
    ) -> Value? {
        guard let node = node(key) else { return nil }
        guard case .table(let entries) = node.value else {
            report(key, at: node, .typeMustMatch, "must be a table, found \(node.value.kind)")
            return nil
        }
        var nested = TableReader(file: file, path: dotted(key), entries: entries)
        let value = read(&nested)
        nested.finish()
        absorb(nested)
        return value
    }

    /// Reports every key that no accessor asked for, naming the likely
    /// misspelling or else the keys this table takes.
    mutating func finish() {
        let unknown = entries.filter { !known.contains($0.key) }
        for (key, node) in unknown.sorted(by: { $0.value.line < $1.value.line }) {
            let message: String
            if let guess = Self.nearest(to: key, among: known) {
                message = "unknown key; did you mean \(guess)?"
            } else {
                message = "unknown key; this table takes " + known.joined(separator: ", ")
            }
            report(key, at: node, .keyMustBeKnown, message)
        }
    }

    private mutating func checkedInteger(
        _ key: String, _ node: TOMLNode, _ bound: Bound<Int64>
    ) -> Int64? {
        guard case .integer(let number) = node.value else {
            report(key, at: node, .typeMustMatch, "must be an integer, found \(node.value.kind)")
            return nil
        }
        guard bound.contains(number) else {
            report(key, at: node, .valueMustBeInRange, bound.rule)
            return nil
        }
        return number
    }

    /// The known key within two edits of `key`, if exactly one is nearest.
    static func nearest(to key: String, among candidates: [String]) -> String? {
        let scored = candidates.map { ($0, editDistance(key, $0)) }.filter { $0.1 <= 2 }
        guard let best = scored.min(by: { $0.1 < $1.1 }) else { return nil }
        let ties = scored.filter { $0.1 == best.1 }
        return ties.count == 1 ? best.0 : nil
    }

    /// Levenshtein distance over characters; keys are short, so the
    /// quadratic table costs nothing.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a)
        let b = Array(b)
        guard !a.isEmpty else { return b.count }
        guard !b.isEmpty else { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
                current[j] = min(previous[j] + 1, current[j - 1] + 1, substitution)
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}

/// A range of allowed numbers whose ends may be open, with the rule it
/// states in messages.
struct Bound<Value: Comparable & Sendable>: Sendable {
    let lower: Value
    let lowerIncluded: Bool
    let upper: Value
    let upperIncluded: Bool
    /// How a message states the bound: "must be between 0 and 2".
    let rule: String

    /// Whether `value` lies within; NaN never does.
    func contains(_ value: Value) -> Bool {
        let aboveLower = lowerIncluded ? value >= lower : value > lower
        let belowUpper = upperIncluded ? value <= upper : value < upper
        return aboveLower && belowUpper
    }
}

extension Bound where Value == Double {
    /// `[lower, upper]`.
    static func closed(_ lower: Double, _ upper: Double) -> Bound {
        let rule = "must be between \(TOMLSpelling.bound(lower)) and \(TOMLSpelling.bound(upper))"
        return Bound(
            lower: lower, lowerIncluded: true, upper: upper, upperIncluded: true, rule: rule)
    }

    /// `(lower, upper]`.
    static func openBelow(_ lower: Double, _ upper: Double) -> Bound {
        let rule =
            "must be more than \(TOMLSpelling.bound(lower)) "
            + "and at most \(TOMLSpelling.bound(upper))"
        return Bound(
            lower: lower, lowerIncluded: false, upper: upper, upperIncluded: true, rule: rule)
    }

    /// `[lower, upper)`.
    static func openAbove(_ lower: Double, _ upper: Double) -> Bound {
        let rule =
            "must be at least \(TOMLSpelling.bound(lower)) "
            + "and less than \(TOMLSpelling.bound(upper))"
        return Bound(
            lower: lower, lowerIncluded: true, upper: upper, upperIncluded: false, rule: rule)
    }
}

extension Bound where Value == Int64 {
    /// `[lower, upper]`.
    static func closed(_ lower: Int64, _ upper: Int64) -> Bound {
        Bound(
            lower: lower, lowerIncluded: true, upper: upper, upperIncluded: true,
            rule: "must be between \(lower) and \(upper)")
    }
}
