/// One problem with a persona file or folder, with the evidence to fix it.
///
/// It prints as one line: the file, the line (and, for syntax, the column),
/// the dotted key, the value found and the rule broken, e.g.
/// `Personas/pirate.toml:7: sampling.temperature = 5.0: must be between 0 and 2`.
public struct PersonaIssue: Error, Sendable, Equatable, CustomStringConvertible {
    /// The persona file (or folder) as the catalog was given it.
    public var file: String
    /// 1-based line of the key at fault; nil for problems of the whole file.
    public var line: Int?
    /// 1-based column (in characters); nil when unknown.
    public var column: Int?
    /// The dotted key at fault, e.g. `sampling.temperature`.
    public var key: String?
    /// The value found, written as TOML and cut short when long.
    public var found: String?
    /// The rule broken.
    public var rule: Rule
    /// What the rule asks for, and what to do where there is one thing to do.
    public var message: String

    /// The rules a persona file or folder can break, named after what they ask.
    public enum Rule: String, Sendable, CaseIterable {
        /// The file could be opened and read.
        case fileMustBeReadable
        /// The file is at most `Limits.Personas.fileBytesMax` bytes.
        case fileMustFitLimit
        /// toml++ accepts the text: syntax, UTF-8, no key defined twice.
        case tomlMustParse
        /// Tables and arrays nest at most `Limits.Personas.nestingDepthMax` deep.
        case nestingMustFitLimit
        /// Every key is one the format defines.
        case keyMustBeKnown
        /// The value has the type the key takes.
        case typeMustMatch
        /// A number lies in the key's range.
        case valueMustBeInRange
        /// A string is one of the key's choices, or fits its length limit.
        case valueMustBeAllowed
        /// The name (given, or the file's stem) is a valid persona name.
        case nameMustBeValid
        /// `model` is present.
        case modelMustBeGiven
        /// Keys that depend on each other agree (`speculation.draft_model`).
        case keysMustAgree
        /// No two files define the same persona name.
        case nameMustBeUnique
        /// A folder named explicitly (`--personas DIR`) exists.
        case directoryMustExist
        /// A folder holds at most `Limits.Personas.filesPerDirectoryMax` files.
        case directoryMustFitLimit
    }

    public init(
        file: String, line: Int? = nil, column: Int? = nil, key: String? = nil,
        found: String? = nil, rule: Rule, message: String
    ) {
        self.file = file
        self.line = line
        self.column = column
        self.key = key
        self.found = found
        self.rule = rule
        self.message = message
    }

    /// `file:line[:column]: key = found: message`, leaving out what is unknown.
    /// Columns are shown for syntax and nesting, where the key alone does not
    /// say where toml++ stopped.
    public var description: String {
        var text = file
        if let line {
            text += ":\(line)"
            let showsColumn = rule == .tomlMustParse || rule == .nestingMustFitLimit
            if showsColumn, let column, column > 0 { text += ":\(column)" }
        }
        if let key {
            text += ": \(key)"
            if let found { text += " = \(found)" }
        }
        return text + ": " + message
    }
}

/// Why a persona could not be had.
public enum PersonaError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file (or files) that define it are broken; every issue, by line.
    case invalid([PersonaIssue])
    /// No persona by this name in any folder searched.
    case notFound(name: String, searched: [String])

    /// One line per issue, or one line saying where the catalog looked.
    public var description: String {
        switch self {
        case .invalid(let issues):
            return issues.map(\.description).joined(separator: "\n")
        case .notFound(let name, let searched):
            let folders = searched.isEmpty ? "no folder" : searched.joined(separator: ", ")
            return "no persona named \"\(name)\" in \(folders); "
                + "`asth personas list` shows the ones there"
        }
    }
}

/// TOML spellings of values for messages: strings quoted and escaped, long
/// ones cut, so that a hostile file cannot flood a terminal.
enum TOMLSpelling {
    /// Characters of a value shown before it is cut short with `…`.
    static let charactersMax = 48

    static func string(_ text: String) -> String {
        var body = ""
        for scalar in text.unicodeScalars.prefix(charactersMax) {
            switch scalar {
            case "\"": body += "\\\""
            case "\\": body += "\\\\"
            case "\n": body += "\\n"
            case "\t": body += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                body += "\\u" + hex4(scalar.value)
            default: body.unicodeScalars.append(scalar)
            }
        }
        let cut = text.unicodeScalars.count > charactersMax ? "…" : ""
        return "\"" + body + cut + "\""
    }

    static func value(_ value: TOMLValue) -> String {
        switch value {
        case .table(let entries): return entries.isEmpty ? "{}" : "{…}"
        case .array(let items): return array(items)
        case .string(let text): return string(text)
        case .integer(let number): return String(number)
        case .float(let number): return float(number)
        case .boolean(let flag): return flag ? "true" : "false"
        case .date(let text), .time(let text), .dateTime(let text): return text
        }
    }

    /// TOML's own spellings for the values JSON and Swift spell differently.
    static func float(_ number: Double) -> String {
        if number.isNaN { return "nan" }
        if number.isInfinite { return number < 0 ? "-inf" : "inf" }
        return String(number)
    }

    /// A number as a limit is written in a message: `2`, not `2.0`.
    static func bound(_ number: Double) -> String {
        if number == number.rounded(), abs(number) < 1e15 { return String(Int64(number)) }
        return String(number)
    }

    private static func array(_ items: [TOMLNode]) -> String {
        var text = "["
        for (index, item) in items.enumerated() {
            let next = (index > 0 ? ", " : "") + value(item.value)
            if text.count + next.count > charactersMax {
                return index == 0 ? "[…]" : text + ", …]"
            }
            text += next
        }
        return text + "]"
    }

    private static func hex4(_ value: UInt32) -> String {
        let digits = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}
