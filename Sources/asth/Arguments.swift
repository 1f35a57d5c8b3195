/// The words after the subcommand, consumed by name as a command reads
/// them; whatever is left over at the end is a usage error.
struct Arguments {
    private var words: [String]
    /// The command, for messages: "asth complete".
    let command: String

    init(_ words: [String], command: String) {
        self.words = words
        self.command = command
    }

    /// The words left, for a subcommand named `command` in messages.
    func subcommand(_ command: String) -> Arguments {
        Arguments(words, command: command)
    }

    /// True when `--name` is present (and removes it).
    mutating func flag(_ name: String) -> Bool {
        guard let index = words.firstIndex(of: name) else { return false }
        words.remove(at: index)
        return true
    }

    /// The value after `--name` (or in `--name=value`), if present.
    mutating func option(_ name: String) throws(UsageError) -> String? {
        if let index = words.firstIndex(where: { $0.hasPrefix(name + "=") }) {
            let value = String(words[index].dropFirst(name.count + 1))
            words.remove(at: index)
            return value
        }
        guard let index = words.firstIndex(of: name) else { return nil }
        guard index + 1 < words.count else {
            throw UsageError("\(command): \(name) needs a value")
        }
        let value = words[index + 1]
        words.removeSubrange(index...index + 1)
        return value
    }

    /// For an option whose value may be left out: nil when `--name` is
    /// absent, `.some(nil)` when it is present without a value (last, or
    /// followed by another option), else its value.
    mutating func optionalValue(_ name: String) -> String?? {
        if let index = words.firstIndex(where: { $0.hasPrefix(name + "=") }) {
            let value = String(words[index].dropFirst(name.count + 1))
            words.remove(at: index)
            return .some(value)
        }
        guard let index = words.firstIndex(of: name) else { return nil }
        guard index + 1 < words.count, !words[index + 1].hasPrefix("--") else {
            words.remove(at: index)
            return .some(nil)
        }
        let value = words[index + 1]
        words.removeSubrange(index...index + 1)
        return .some(value)
    }

    /// The value of `--name` as a number within `range`.
    mutating func number<T: LosslessStringConvertible & Comparable>(
        _ name: String, in range: ClosedRange<T>
    ) throws(UsageError) -> T? {
        guard let text = try option(name) else { return nil }
        guard let value = T(text), range.contains(value) else {
            throw UsageError(
                "\(command): \(name) = \(text): expected a number from \(range.lowerBound)"
                    + " to \(range.upperBound)")
        }
        return value
    }

    /// The next positional word, if any (words starting with `--` are not).
    mutating func positional() -> String? {
        guard let index = words.firstIndex(where: { !$0.hasPrefix("--") || $0 == "--" }) else {
            return nil
        }
        if words[index] == "--" {
            words.remove(at: index)
            return words.isEmpty ? nil : words.removeFirst()
        }
        return words.remove(at: index)
    }

    /// A positional word the command cannot do without.
    mutating func required(_ what: String) throws(UsageError) -> String {
        guard let value = positional() else {
            throw UsageError("\(command): missing \(what)")
        }
        return value
    }

    /// The remaining positional words.
    mutating func rest() -> [String] {
        var out: [String] = []
        while let word = positional() {
            out.append(word)
        }
        return out
    }

    /// Fails on anything no one consumed.
    func finish() throws(UsageError) {
        if let word = words.first {
            throw UsageError("\(command): unexpected argument '\(word)'")
        }
    }
}

/// A mistake in how the command was called: exit code 1.
struct UsageError: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}

/// A request the host refused (over budget, busy): exit code 2.
struct RefusedError: Error, CustomStringConvertible {
    let description: String
}
