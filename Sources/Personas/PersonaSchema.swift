import Foundation
import Support

/// The persona file format: which keys exist, their types, ranges and
/// defaults (documented for people in `Personas/README.md`).
///
/// `read` walks a parsed file once and collects every issue, so that `check`
/// reports all of a file's problems together rather than one per run.
enum PersonaSchema {
    /// The ranges of the numeric keys, stated once for reading and messages.
    enum Bounds {
        static let maxTokens = Bound<Int64>.closed(1, Int64(Limits.Personas.replyTokensMax))
        static let temperature = Bound<Double>.closed(0, 2)
        static let topK = Bound<Int64>.closed(0, Int64(Limits.Personas.topKMax))
        static let topP = Bound<Double>.openBelow(0, 1)
        static let minP = Bound<Double>.openAbove(0, 1)
        static let repeatPenalty = Bound<Double>.closed(1, 2)
        static let repeatLastN = Bound<Int64>.closed(0, Int64(Limits.Personas.repeatWindowMax))
        static let seed = Bound<Int64>.closed(0, Int64.max)
        static let allowanceMotes = Bound<Double>.openBelow(0, Limits.Personas.allowanceMotesMax)
        static let priority = Bound<Int64>.closed(1, Int64(Limits.Personas.priorityMax))
    }

    /// What one pass over a file yields: the persona when nothing is wrong,
    /// the name it claims either way, and every issue.
    struct Outcome {
        var persona: Persona?
        /// The `name` key when it is a string, else the file's stem: how
        /// `asth personas show NAME` finds a broken file to explain it.
        var claimedName: String
        /// The line of the `name` key; nil when the name is the file's stem.
        var nameLine: Int? = nil
        var issues: [PersonaIssue]
    }

    /// Reads a persona from the root table of a parsed file.
    ///
    /// - Parameters:
    ///   - root: the parsed file.
    ///   - file: the file as shown in messages.
    ///   - stem: the file name without `.toml`, the default name.
    ///   - folder: where relative model paths start.
    static func read(root: TOMLNode, file: String, stem: String, folder: URL) -> Outcome {
        guard case .table(let entries) = root.value else {
            preconditionFailure("PersonaSchema.read: a TOML document's root is always a table")
        }
        var reader = TableReader(file: file, path: "", entries: entries)

        // Identity and voice.
        let name = readName(&reader, stem: stem)
        let description = reader.string(
            "description", default: "", bytesMax: Limits.Personas.descriptionBytesMax)
        let model = readModel(&reader, key: "model", folder: folder)
        if model == nil, entries["model"] == nil {
            let message =
                "missing; name a model from the store (such as smollm2-135m-instruct) "
                + "or a path to a .gguf file"
            reader.report("model", line: 1, .modelMustBeGiven, message)
        }
        let systemPrompt = reader.string(
            "system_prompt", default: "", bytesMax: Limits.Personas.systemPromptBytesMax)
        let maxTokens = reader.integer(
            "max_tokens", default: Int64(Persona.defaultMaxTokens), bound: Bounds.maxTokens)

        // The tables, each defaulted as a whole when absent.
        let sampling = reader.table("sampling", read: readSampling) ?? Persona.Sampling()
        let economy = reader.table("economy", read: readEconomy) ?? Persona.Economy()
        let speculation =
            reader.table("speculation") { readSpeculation(&$0, folder: folder) }
            ?? Persona.Speculation()
        reader.finish()

        // A persona only when every key passed.
        let claimed: String
        if case .string(let text)? = entries["name"]?.value {
            claimed = text
        } else {
            claimed = stem
        }
        let issues = reader.issues.sorted {
            ($0.line ?? 0, $0.column ?? 0) < ($1.line ?? 0, $1.column ?? 0)
        }
        guard issues.isEmpty, let name, let model else {
            return Outcome(
                persona: nil, claimedName: claimed, nameLine: entries["name"]?.line,
                issues: issues)
        }
        let persona = Persona(
            name: name, model: model, description: description, systemPrompt: systemPrompt,
            maxTokens: Int(maxTokens), sampling: sampling, economy: economy,
            speculation: speculation, file: file)
        return Outcome(
            persona: persona, claimedName: name, nameLine: entries["name"]?.line, issues: [])
    }

    /// `name`, or the file's stem; either must be a valid persona name.
    private static func readName(_ reader: inout TableReader, stem: String) -> String? {
        let rule =
            "must be 1 to \(Limits.Personas.nameBytesMax) of a-z, 0-9 and -, not starting with -"
        guard let node = reader.node("name") else {
            if Persona.isValidName(stem) { return stem }
            let found = TOMLSpelling.string(stem)
            reader.report(
                "name", line: 1, .nameMustBeValid,
                "the file name \(found) is not a valid name: it \(rule); "
                    + "rename the file or set name")
            return nil
        }
        guard case .string(let name) = node.value else {
            reader.report(
                "name", at: node, .typeMustMatch, "must be a string, found \(node.value.kind)")
            return nil
        }
        guard Persona.isValidName(name) else {
            reader.report("name", at: node, .nameMustBeValid, rule)
            return nil
        }
        return name
    }

    /// A model reference: a store name, or a path to a `.gguf` file that is
    /// made absolute against `folder`. Existence is checked when the model is
    /// loaded, not here, so a persona stays valid while a model downloads.
    static func readModel(
        _ reader: inout TableReader, key: String, folder: URL
    ) -> ModelReference? {
        guard let node = reader.node(key) else { return nil }
        guard case .string(let text) = node.value else {
            reader.report(
                key, at: node, .typeMustMatch, "must be a string, found \(node.value.kind)")
            return nil
        }
        guard !text.isEmpty, text.utf8.count <= Limits.Personas.modelBytesMax else {
            let message =
                "must be 1 to \(Limits.Personas.modelBytesMax) bytes: a store name "
                + "or a path to a .gguf file"
            reader.report(key, at: node, .valueMustBeAllowed, message)
            return nil
        }

        // A path names a .gguf file; anything else is a store name.
        if text.contains("/") || text.hasSuffix(".gguf") {
            guard text.hasSuffix(".gguf") else {
                reader.report(key, at: node, .valueMustBeAllowed, "a model path must end in .gguf")
                return nil
            }
            let url =
                text.hasPrefix("/")
                ? URL(fileURLWithPath: text) : folder.appendingPathComponent(text)
            return .file(path: url.standardizedFileURL.path)
        }
        guard isValidStoreName(text) else {
            let message =
                "a store name is letters, digits, '.', '_' and '-' (such as "
                + "smollm2-135m-instruct); a path must end in .gguf"
            reader.report(key, at: node, .valueMustBeAllowed, message)
            return nil
        }
        return .store(name: text)
    }

    /// Letters, digits, `.`, `_` and `-`, not starting with `.` or `-`: a
    /// name that stays inside the model store's folder.
    static func isValidStoreName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first != ".", first != "-" else {
            return false
        }
        return name.unicodeScalars.allSatisfy { scalar in
            scalar.isASCII
                && (CharacterSet.alphanumerics.contains(scalar)
                    || "._-".unicodeScalars.contains(scalar))
        }
    }

    private static func readSampling(_ reader: inout TableReader) -> Persona.Sampling {
        let defaults = Persona.Sampling()
        let seed = reader.optionalInteger("seed", bound: Bounds.seed)
        return Persona.Sampling(
            temperature: reader.number(
                "temperature", default: defaults.temperature, bound: Bounds.temperature),
            topK: Int(reader.integer("top_k", default: Int64(defaults.topK), bound: Bounds.topK)),
            topP: reader.number("top_p", default: defaults.topP, bound: Bounds.topP),
            minP: reader.number("min_p", default: defaults.minP, bound: Bounds.minP),
            repeatPenalty: reader.number(
                "repeat_penalty", default: defaults.repeatPenalty, bound: Bounds.repeatPenalty),
            repeatLastN: Int(
                reader.integer(
                    "repeat_last_n", default: Int64(defaults.repeatLastN),
                    bound: Bounds.repeatLastN)),
            seed: seed.map { UInt64($0) })
    }

    private static func readEconomy(_ reader: inout TableReader) -> Persona.Economy {
        let defaults = Persona.Economy()
        return Persona.Economy(
            allowanceMotes: reader.number(
                "allowance_motes", default: defaults.allowanceMotes, bound: Bounds.allowanceMotes),
            refillPeriod: reader.choice("refill_period", default: defaults.refillPeriod),
            priority: Int(
                reader.integer(
                    "priority", default: Int64(defaults.priority), bound: Bounds.priority)))
    }

    /// `mode`, and `draft_model`, which `draft` needs, `auto` may use, and
    /// the others would silently ignore, so they refuse it.
    private static func readSpeculation(
        _ reader: inout TableReader, folder: URL
    ) -> Persona.Speculation {
        let issuesBefore = reader.issues.count
        let mode = reader.choice("mode", default: Persona.Speculation().mode)
        let modeIsValid = reader.issues.count == issuesBefore
        let draftNode = reader.entries["draft_model"]
        let draftModel = readModel(&reader, key: "draft_model", folder: folder)

        // A broken mode is reported once, not again as a disagreement.
        guard modeIsValid else { return Persona.Speculation(mode: mode, draftModel: draftModel) }
        switch (mode, draftNode) {
        case (.draft, nil):
            let line = reader.entries["mode"]?.line ?? 1
            reader.report(
                "draft_model", line: line, .keysMustAgree,
                "missing; mode = \"draft\" needs a draft model")
        case (.off, let node?), (.ngram, let node?), (.memory, let node?):
            reader.report(
                "draft_model", at: node, .keysMustAgree,
                "only used when mode is \"draft\" or \"auto\", not \"\(mode.rawValue)\"")
        default:
            break
        }
        return Persona.Speculation(mode: mode, draftModel: draftModel)
    }
}
