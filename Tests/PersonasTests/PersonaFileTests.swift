import Foundation
import Support
import Testing

@testable import Personas

/// One broken persona file and the single issue it must give.
struct BadFile: Sendable, CustomTestStringConvertible {
    let label: String
    let bytes: [UInt8]
    let rule: PersonaIssue.Rule
    /// The line the issue names; nil for problems of the whole file.
    let line: Int?
    /// The dotted key the issue names; nil where there is none to name.
    let key: String?
    /// Words the message must contain.
    let mention: String
    var fileName = "case.toml"

    var testDescription: String { label }

    init(
        _ label: String, _ text: String, _ rule: PersonaIssue.Rule, line: Int?, key: String?,
        mention: String, fileName: String = "case.toml"
    ) {
        self.init(label, bytes: Array(text.utf8), rule, line: line, key: key, mention: mention)
        self.fileName = fileName
    }

    init(
        _ label: String, bytes: [UInt8], _ rule: PersonaIssue.Rule, line: Int?, key: String?,
        mention: String
    ) {
        precondition(!mention.isEmpty, "BadFile: every case names words its message must hold")
        self.label = label
        self.bytes = bytes
        self.rule = rule
        self.line = line
        self.key = key
        self.mention = mention
    }
}

/// Reading one persona file: the shipped ones, defaults, and every way a
/// file can be wrong, each giving one issue that names file, line and key.
@Suite struct PersonaFileTests {
    /// The first line of most cases: a valid model, so that each case has
    /// exactly one thing wrong.
    static let model = "model = \"smollm2-135m-instruct\"\n"

    /// `Personas/` at the repository root, found from this file.
    static let shippedFolder = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Personas").path

    static let shippedNames = ["assistant", "pirate", "poet", "tutor"]

    static func load(_ name: String, _ text: String, in folder: ScratchFolder) throws -> PersonaScan
    {
        PersonaCatalog.scan(files: [try folder.write(name, text)])
    }

    // MARK: - Shipped personas

    @Test(arguments: shippedNames)
    func shippedPersonaPassesCheck(name: String) throws {
        let file = Self.shippedFolder + "/\(name).toml"
        let scan = PersonaCatalog.scan(files: [file])
        #expect(scan.issues.map(\.description) == [])
        let persona = try #require(scan.personas.first)
        #expect(persona.name == name)
        #expect(persona.model == .store(name: "smollm2-135m-instruct"))
        #expect(!persona.systemPrompt.isEmpty)
        #expect(!persona.description.isEmpty)
    }

    /// The shipped folder as `asth personas check` sees it: clean, and only
    /// the shipped names (the README is not a persona).
    @Test func shippedFolderIsClean() {
        let scan = PersonaCatalog(directories: [Self.shippedFolder], isExplicit: true).scan()
        #expect(scan.issues.map(\.description) == [])
        #expect(scan.personas.map(\.name) == Self.shippedNames)
    }

    /// The voices the README promises: a near-greedy, well-funded assistant, a
    /// hot, seeded pirate, a cool, brief, low-priority tutor.
    @Test func shippedVoicesDiffer() throws {
        let catalog = PersonaCatalog(directories: [Self.shippedFolder], isExplicit: true)
        let assistant = try catalog.persona(named: "assistant")
        let pirate = try catalog.persona(named: "pirate")
        let tutor = try catalog.persona(named: "tutor")
        #expect(assistant.sampling.temperature <= 0.3)
        #expect(assistant.economy.allowanceMotes > Persona.Economy().allowanceMotes)
        #expect(pirate.sampling.temperature >= 1.0)
        #expect(pirate.sampling.seed != nil)
        #expect(tutor.sampling.temperature <= 0.3)
        #expect(tutor.maxTokens <= 128)
        #expect(tutor.economy.priority < assistant.economy.priority)
    }

    // MARK: - Defaults and values

    /// Only `model` is required; everything else takes its documented default.
    @Test func minimalFileTakesDefaults() throws {
        let folder = try ScratchFolder()
        let scan = try Self.load("minimal.toml", Self.model, in: folder)
        let expected = Persona(
            name: "minimal", model: .store(name: "smollm2-135m-instruct"), description: "",
            systemPrompt: "", maxTokens: 256,
            sampling: Persona.Sampling(
                temperature: 0.7, topK: 40, topP: 0.95, minP: 0.05, repeatPenalty: 1.1,
                repeatLastN: 64, seed: nil),
            economy: Persona.Economy(allowanceMotes: 50, refillPeriod: .day, priority: 10),
            speculation: Persona.Speculation(mode: .off, draftModel: nil),
            file: folder.path + "/minimal.toml")
        #expect(scan.issues == [])
        #expect(scan.personas == [expected])
        #expect(expected.economy.allowanceMicroMotes == 50_000_000)
    }

    /// Every key set away from its default, at the edges of the ranges.
    @Test func everyKeyIsRead() throws {
        let folder = try ScratchFolder()
        let text = """
            name = "edge-case-9"
            description = "Every key."
            model = "weights/tiny.gguf"
            system_prompt = \"\"\"
            Line one.
            Line two.\"\"\"
            max_tokens = 8192

            [sampling]
            temperature = 0
            top_k = 0
            top_p = 1
            min_p = 0.0
            repeat_penalty = 2
            repeat_last_n = 4096
            seed = 9223372036854775807

            [economy]
            allowance_motes = 1_000_000_000
            refill_period = "never"
            priority = 100

            [speculation]
            mode = "draft"
            draft_model = "/opt/models/draft.gguf"
            """
        let scan = try Self.load("file-name.toml", text, in: folder)
        #expect(scan.issues.map(\.description) == [])
        let persona = try #require(scan.personas.first)
        #expect(persona.name == "edge-case-9")
        #expect(persona.model == .file(path: folder.path + "/weights/tiny.gguf"))
        #expect(persona.systemPrompt == "Line one.\nLine two.")
        #expect(persona.maxTokens == 8192)
        #expect(
            persona.sampling
                == Persona.Sampling(
                    temperature: 0, topK: 0, topP: 1, minP: 0, repeatPenalty: 2,
                    repeatLastN: 4096, seed: UInt64(Int64.max)))
        #expect(
            persona.economy
                == Persona.Economy(allowanceMotes: 1e9, refillPeriod: .never, priority: 100))
        #expect(
            persona.speculation
                == Persona.Speculation(
                    mode: .draft, draftModel: .file(path: "/opt/models/draft.gguf")))
    }

    /// Files saved on Windows: a byte-order mark and CRLF line ends.
    @Test func byteOrderMarkAndCRLF() throws {
        let folder = try ScratchFolder()
        let text = "\u{FEFF}model = \"m\"\r\n[sampling]\r\ntop_k = 5\r\ncolour = 1\r\n"
        let scan = try Self.load("windows.toml", text, in: folder)
        #expect(scan.issues.map(\.line) == [4])
        #expect(scan.issues.map(\.key) == ["sampling.colour"])
    }

    @Test(arguments: [
        ("smollm2-135m-instruct", ModelReference.store(name: "smollm2-135m-instruct")),
        ("Qwen2.5_0.5B", .store(name: "Qwen2.5_0.5B")),
        ("tiny.gguf", .file(path: "/FOLDER/tiny.gguf")),
        ("../models/tiny.gguf", .file(path: "/models/tiny.gguf")),
        ("/abs/olute.gguf", .file(path: "/abs/olute.gguf")),
    ])
    func modelReferences(spelling: String, expected: ModelReference) throws {
        let folder = try ScratchFolder()
        let scan = try Self.load("sub/m.toml", "model = \"\(spelling)\"\n", in: folder)
        let resolved: ModelReference =
            switch expected {
            case .file(let path) where path.hasPrefix("/FOLDER/"):
                .file(path: folder.path + "/sub/" + path.dropFirst("/FOLDER/".count))
            case .file(let path) where path.hasPrefix("/models/"):
                .file(path: folder.path + path)
            default: expected
            }
        #expect(scan.issues == [])
        #expect(scan.personas.first?.model == resolved)
    }

    // MARK: - Broken files

    /// The brief's example, word for word but for the folder.
    @Test func messageShape() throws {
        let folder = try ScratchFolder()
        let text = Self.model + "\n[sampling]\n\n\n\ntemperature = 5.0\n"
        let scan = try Self.load("pirate.toml", text, in: folder)
        #expect(
            scan.issues.map(\.description) == [
                folder.path + "/pirate.toml:7: sampling.temperature = 5.0: must be between 0 and 2"
            ])
    }

    /// A file with several problems reports them all, by line.
    @Test func everyIssueInAFileIsReported() throws {
        let folder = try ScratchFolder()
        let text = """
            max_tokens = 0
            [sampling]
            top_p = 0
            colour = 1
            """
        let scan = try Self.load("many.toml", text, in: folder)
        #expect(
            scan.issues.map(\.rule) == [
                .modelMustBeGiven, .valueMustBeInRange, .valueMustBeInRange, .keyMustBeKnown,
            ])
        #expect(scan.issues.map(\.line) == [1, 1, 3, 4])
        #expect(scan.personas == [])
    }

    @Test(arguments: badFiles)
    func badFileGivesOneIssue(_ bad: BadFile) throws {
        let folder = try ScratchFolder()
        let file = try folder.write(bad.fileName, bytes: bad.bytes)
        let scan = PersonaCatalog.scan(files: [file])
        #expect(scan.personas == [])
        try #require(scan.issues.count == 1, "\(scan.issues.map(\.description))")

        // The issue names the rule, the file, the line and the key.
        let issue = scan.issues[0]
        let text = issue.description
        #expect(issue.rule == bad.rule)
        #expect(issue.file == file)
        #expect(issue.line == bad.line)
        #expect(issue.key == bad.key)
        #expect(text.hasPrefix(file + (bad.line.map { ":\($0):" } ?? ": ")), "\(text)")
        if let key = bad.key { #expect(text.contains(": \(key)"), "\(text)") }
        #expect(text.contains(bad.mention), "\(text)")
        #expect(!text.contains("\n"))
    }

    static let badFiles: [BadFile] = unknownKeys + wrongTypes + outOfRange + otherValues + wholeFile

    static let unknownKeys: [BadFile] = [
        BadFile(
            "unknown top-level key", model + "colour = \"red\"\n", .keyMustBeKnown, line: 2,
            key: "colour", mention: "this table takes name, description, model"),
        BadFile(
            "misspelled top-level key", model + "system_promt = \"hi\"\n", .keyMustBeKnown, line: 2,
            key: "system_promt", mention: "did you mean system_prompt?"),
        BadFile(
            "unknown nested key", model + "[sampling]\ntemprature = 0.5\n", .keyMustBeKnown,
            line: 3, key: "sampling.temprature", mention: "did you mean temperature?"),
        BadFile(
            "unknown dotted key", model + "economy.budget = 5\n", .keyMustBeKnown, line: 2,
            key: "economy.budget", mention: "allowance_motes"),
        BadFile(
            "unknown table", model + "[extras]\nx = 1\n", .keyMustBeKnown, line: 2, key: "extras",
            mention: "unknown key"),
        BadFile(
            "unknown key with a newline", model + "\"bad\\nkey\" = 1\n", .keyMustBeKnown,
            line: 2, key: "\"bad\\nkey\"", mention: "unknown key"),
    ]

    static let wrongTypes: [BadFile] = [
        BadFile(
            "string for integer", model + "max_tokens = \"many\"\n", .typeMustMatch, line: 2,
            key: "max_tokens", mention: "must be an integer, found a string"),
        BadFile(
            "float for integer", model + "max_tokens = 256.0\n", .typeMustMatch, line: 2,
            key: "max_tokens", mention: "found a float"),
        BadFile(
            "string for number", model + "[sampling]\ntemperature = \"hot\"\n", .typeMustMatch,
            line: 3, key: "sampling.temperature", mention: "must be a number"),
        BadFile(
            "float seed", model + "[sampling]\nseed = 1.5\n", .typeMustMatch, line: 3,
            key: "sampling.seed", mention: "integer"),
        BadFile(
            "integer for table", model + "sampling = 3\n", .typeMustMatch, line: 2, key: "sampling",
            mention: "must be a table, found an integer"),
        BadFile(
            "array of tables for table", model + "[[sampling]]\ntop_k = 1\n", .typeMustMatch,
            line: 2, key: "sampling", mention: "found an array"),
        BadFile(
            "integer model", "model = 7\n", .typeMustMatch, line: 1, key: "model",
            mention: "must be a string"),
        BadFile(
            "boolean name", model + "name = true\n", .typeMustMatch, line: 2, key: "name",
            mention: "found a boolean"),
        BadFile(
            "date description", model + "description = 1979-05-27\n", .typeMustMatch, line: 2,
            key: "description", mention: "found a date"),
        BadFile(
            "integer choice", model + "[economy]\nrefill_period = 7\n", .typeMustMatch, line: 3,
            key: "economy.refill_period", mention: "must be one of"),
    ]

    /// One case per end of every range.
    static let outOfRange: [BadFile] = [(String, String, String)]([
        ("max_tokens", "0", "between 1 and 8192"), ("max_tokens", "8193", "between 1 and 8192"),
        ("sampling.temperature", "-0.1", "between 0 and 2"),
        ("sampling.temperature", "2.01", "between 0 and 2"),
        ("sampling.temperature", "nan", "between 0 and 2"),
        ("sampling.temperature", "inf", "between 0 and 2"),
        ("sampling.top_k", "-1", "between 0 and 262144"),
        ("sampling.top_k", "262145", "between 0 and 262144"),
        ("sampling.top_p", "0", "more than 0 and at most 1"),
        ("sampling.top_p", "1.01", "more than 0 and at most 1"),
        ("sampling.min_p", "-0.01", "at least 0 and less than 1"),
        ("sampling.min_p", "1", "at least 0 and less than 1"),
        ("sampling.repeat_penalty", "0.99", "between 1 and 2"),
        ("sampling.repeat_penalty", "2.5", "between 1 and 2"),
        ("sampling.repeat_last_n", "-1", "between 0 and 4096"),
        ("sampling.repeat_last_n", "4097", "between 0 and 4096"),
        ("sampling.seed", "-1", "between 0 and 9223372036854775807"),
        ("economy.allowance_motes", "0", "more than 0 and at most 1000000000"),
        ("economy.allowance_motes", "-5", "more than 0"),
        ("economy.allowance_motes", "1e10", "at most 1000000000"),
        ("economy.priority", "0", "between 1 and 100"),
        ("economy.priority", "101", "between 1 and 100"),
    ]).map { key, value, mention in
        let parts = key.split(separator: ".")
        let text =
            parts.count == 1 ? "\(key) = \(value)\n" : "[\(parts[0])]\n\(parts[1]) = \(value)\n"
        return BadFile(
            "\(key) = \(value)", model + text, .valueMustBeInRange, line: parts.count + 1, key: key,
            mention: mention)
    }

    static let otherValues: [BadFile] = [
        BadFile(
            "unknown refill period", model + "[economy]\nrefill_period = \"fortnight\"\n",
            .valueMustBeAllowed, line: 3, key: "economy.refill_period",
            mention: "\"hour\", \"day\", \"week\", \"month\", \"never\""),
        BadFile(
            "unknown speculation mode", model + "[speculation]\nmode = \"fast\"\n",
            .valueMustBeAllowed, line: 3, key: "speculation.mode", mention: "\"auto\""),
        BadFile(
            "draft without model", model + "[speculation]\nmode = \"draft\"\n", .keysMustAgree,
            line: 3, key: "speculation.draft_model", mention: "needs a draft model"),
        BadFile(
            "draft model unused", model + "[speculation]\nmode = \"ngram\"\ndraft_model = \"d\"\n",
            .keysMustAgree, line: 4, key: "speculation.draft_model", mention: "not \"ngram\""),
        BadFile(
            "missing model", "name = \"x\"\n", .modelMustBeGiven, line: 1, key: "model",
            mention: "path to a .gguf file"),
        BadFile("empty file", "", .modelMustBeGiven, line: 1, key: "model", mention: "missing"),
        BadFile(
            "empty model", "model = \"\"\n", .valueMustBeAllowed, line: 1, key: "model",
            mention: "1 to 4096 bytes"),
        BadFile(
            "model path not gguf", "model = \"../weights/model.bin\"\n", .valueMustBeAllowed,
            line: 1, key: "model", mention: "must end in .gguf"),
        BadFile(
            "model store name with space", "model = \"my model\"\n", .valueMustBeAllowed, line: 1,
            key: "model", mention: "store name"),
        BadFile(
            "hidden store name", "model = \".hidden\"\n", .valueMustBeAllowed, line: 1,
            key: "model", mention: "store name"),
        BadFile(
            "name with space", model + "name = \"Bad Name\"\n", .nameMustBeValid, line: 2,
            key: "name", mention: "a-z, 0-9 and -"),
        BadFile(
            "name with dash first", model + "name = \"-x\"\n", .nameMustBeValid, line: 2,
            key: "name", mention: "not starting with -"),
        BadFile(
            "empty name", model + "name = \"\"\n", .nameMustBeValid, line: 2, key: "name",
            mention: "1 to 32"),
        BadFile(
            "long name", model + "name = \"\(String(repeating: "a", count: 33))\"\n",
            .nameMustBeValid, line: 2, key: "name", mention: "1 to 32"),
        BadFile(
            "accented name", model + "name = \"émile\"\n", .nameMustBeValid, line: 2, key: "name",
            mention: "a-z, 0-9 and -"),
        BadFile(
            "bad file stem", model, .nameMustBeValid, line: 1, key: "name",
            mention: "rename the file or set name", fileName: "Bad Name.toml"),
        BadFile(
            "long description",
            model + "description = \"\(String(repeating: "d", count: 1025))\"\n",
            .valueMustBeAllowed, line: 2, key: "description",
            mention: "1025 bytes; the limit is 1024"),
        BadFile(
            "long system prompt",
            model + "system_prompt = \"\(String(repeating: "p", count: 32 * 1024 + 1))\"\n",
            .valueMustBeAllowed, line: 2, key: "system_prompt", mention: "the limit is 32768"),
    ]

    static let wholeFile: [BadFile] = [
        BadFile(
            "syntax error", model + "[sampling]\ntemperature = \n", .tomlMustParse, line: 3,
            key: nil, mention: "expected"),
        BadFile(
            "duplicate key", model + "model = \"other\"\n", .tomlMustParse, line: 2, key: nil,
            mention: "'model'"),
        BadFile(
            "duplicate table", model + "[sampling]\ntop_k = 1\n[sampling]\ntop_p = 0.5\n",
            .tomlMustParse, line: 4, key: nil, mention: "'sampling'"),
        BadFile(
            "table defined twice, apart", model + "[sampling]\ntop_k = 1\n[economy]\n[sampling]\n",
            .tomlMustParse, line: 5, key: nil, mention: "'sampling'"),
        BadFile(
            "invalid UTF-8",
            bytes: Array((model + "description = \"caf").utf8) + [0xC3, 0x28] + Array("\"\n".utf8),
            .tomlMustParse, line: 2, key: nil, mention: "utf-8"),
        BadFile(
            "deep dotted key", model + "a.b.c.d.e.f.g.h.i = 1\n", .nestingMustFitLimit, line: 2,
            key: "a.b.c.d.e.f.g.h", mention: "more than 8 deep"),
        BadFile(
            "deep quoted keys", model + "a.\"b.c\".\"d\\te\".f.g.h.i.j.k = 1\n",
            .nestingMustFitLimit, line: 2, key: "a.\"b.c\".\"d\\te\".f.g.h.i.j",
            mention: "more than 8 deep"),
        BadFile(
            "deep arrays", model + "x = [[[[[[[[1]]]]]]]]\n", .nestingMustFitLimit, line: 2,
            key: "x[0][0][0][0][0][0][0]", mention: "more than 8 deep"),
        BadFile(
            "file too large",
            model + "system_prompt = \"\"\"\n"
                + String(repeating: "x", count: Limits.Personas.fileBytesMax) + "\"\"\"\n",
            .fileMustFitLimit, line: nil, key: nil, mention: "at most 262144 bytes"),
    ]
}
