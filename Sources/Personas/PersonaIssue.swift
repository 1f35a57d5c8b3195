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
