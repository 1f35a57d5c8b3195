import Foundation
import Personas

/// `asth personas list | show NAME | check [FILE...]`.
enum PersonasCommand {
    struct Summary: Encodable {
        let name: String
        let description: String
        let model: String
        let file: String?
        let max_tokens: Int
        let temperature: Double
        let top_k: Int
        let top_p: Double
        let min_p: Double
        let repeat_penalty: Double
        let repeat_last_n: Int
        let seed: UInt64?
        let allowance_motes: Double
        let refill_period: String
        let priority: Int
        /// The `[speculation]` table: the drafter, and the draft model if named.
        let speculation: String
        let draft_model: String?
        let system_prompt: String
    }

    static func run(_ arguments: inout Arguments) throws {
        let json = arguments.flag("--json")
        let catalog = try Context.catalog(&arguments)
        let action = try arguments.required("list | show NAME | check [FILE...]")
        switch action {
        case "list":
            try arguments.finish()
            try list(catalog, json: json)
        case "show":
            let name = try arguments.required("NAME")
            try arguments.finish()
            try show(try catalog.persona(named: name), json: json)
        case "check":
            let files = arguments.rest()
            try arguments.finish()
            try check(catalog, files: files)
        default:
            throw UsageError("asth personas: unknown action '\(action)' (list, show, check)")
        }
    }

    static func summary(_ p: Persona) -> Summary {
        Summary(
            name: p.name, description: p.description, model: p.model.description, file: p.file,
            max_tokens: p.maxTokens, temperature: p.sampling.temperature,
            top_k: p.sampling.topK, top_p: p.sampling.topP, min_p: p.sampling.minP,
            repeat_penalty: p.sampling.repeatPenalty, repeat_last_n: p.sampling.repeatLastN,
            seed: p.sampling.seed,
            allowance_motes: p.economy.allowanceMotes,
            refill_period: p.economy.refillPeriod.rawValue, priority: p.economy.priority,
            speculation: p.speculation.mode.rawValue,
            draft_model: p.speculation.draftModel?.description, system_prompt: p.systemPrompt)
    }

    static func list(_ catalog: PersonaCatalog, json: Bool) throws {
        let scan = catalog.scan()
        if json {
            try printJSON(scan.personas.map(summary))
        } else {
            for p in scan.personas {
                let name = p.name.padding(toLength: 14, withPad: " ", startingAt: 0)
                print("\(name) \(p.model)  \(p.description)")
            }
        }
        for issue in scan.issues {
            StatusLine.note("skipped: \(issue)")
        }
    }

    static func show(_ p: Persona, json: Bool) throws {
        if json {
            try printJSON(summary(p))
            return
        }
        let s = p.sampling
        print(
            """
            name          \(p.name)
            description   \(p.description)
            file          \(p.file ?? "-")
            model         \(p.model)
            max_tokens    \(p.maxTokens)
            sampling      temperature \(s.temperature), top_k \(s.topK), top_p \(s.topP), \
            min_p \(s.minP), repeat_penalty \(s.repeatPenalty), repeat_last_n \(s.repeatLastN)\
            \(s.seed.map { ", seed \($0)" } ?? "")
            economy       \(p.economy.allowanceMotes) Motes per \(p.economy.refillPeriod.rawValue), \
            priority \(p.economy.priority)
            speculation   \(p.speculation.mode.rawValue)\
            \(p.speculation.draftModel.map { ", draft_model \($0)" } ?? "")
            system prompt
            """)
        for line in p.systemPrompt.split(separator: "\n", omittingEmptySubsequences: false) {
            print("  \(line)")
        }
    }

    /// Reports every problem, one per line; exit code 1 if there is any.
    static func check(_ catalog: PersonaCatalog, files: [String]) throws {
        let scan = files.isEmpty ? catalog.scan() : PersonaCatalog.scan(files: files)
        for p in scan.personas {
            print("ok     \(p.name) (\(p.file ?? "-"))")
        }
        guard scan.issues.isEmpty else {
            for issue in scan.issues.dropLast() {
                FileHandle.standardError.write(Data("asth: \(issue)\n".utf8))
            }
            throw PersonaError.invalid([scan.issues.last!])
        }
    }
}
