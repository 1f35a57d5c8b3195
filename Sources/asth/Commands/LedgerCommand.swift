import Foundation
import Ledger
import Personas

/// `asth ledger ACTION`: what a person can read and check in the ledger.
///
/// `balance` and `history` read accounts; `grant` funds one; `audit`,
/// `verify`, `checkpoint` and `export` (in `LedgerAuditCommand` and
/// `LedgerVerifyCommand`) report on the whole ledger.
enum LedgerCommand {
    struct BalanceRow: Encodable {
        let persona: String
        let balance_motes: Double
        let balance_micro_motes: Int64
    }

    struct HistoryRow: Encodable {
        let persona: String
        let time: String
        let kind: String
        let change_micro_motes: Int64
        let model: String?
        let prompt_tokens: Int64?
        let cached_prompt_tokens: Int64?
        let output_tokens: Int64?
        let elapsed_ms: Int64?
        let schedule_version: Int?
    }

    static let actions = "balance, history, grant, audit, verify, checkpoint, export"

    static func run(_ arguments: inout Arguments) throws {
        let context = try Context(&arguments)
        let json = arguments.flag("--json")
        let action = try arguments.required("action (\(actions))")
        arguments = arguments.subcommand("asth ledger \(action)")
        switch action {
        case "balance":
            let persona = arguments.positional()
            try arguments.finish()
            try balance(try Ledger(home: context.home), persona: persona, json: json)
        case "history":
            let limit = try arguments.number("--limit", in: 1...10_000) ?? 50
            let persona = arguments.positional()
            try arguments.finish()
            try history(
                try Ledger(home: context.home), persona: persona, limit: limit, json: json)
        case "grant":
            try grant(&arguments, context: context, json: json)
        case "audit":
            try LedgerAuditCommand.run(&arguments, context: context, json: json)
        case "verify":
            try LedgerVerifyCommand.verify(&arguments, context: context, json: json)
        case "checkpoint":
            try LedgerVerifyCommand.checkpoint(&arguments, context: context, json: json)
        case "export":
            try LedgerVerifyCommand.export(&arguments, context: context, json: json)
        default:
            throw UsageError("asth ledger: unknown action '\(action)' (\(actions))")
        }
    }

    static func balance(_ ledger: Ledger, persona: String?, json: Bool) throws {
        let names = try persona.map { [$0] } ?? ledger.personaNames()
        let rows = try names.map { name in
            let balance = try ledger.balance(persona: name)
            return BalanceRow(
                persona: name, balance_motes: Double(balance.rawValue) / 1e6,
                balance_micro_motes: balance.rawValue)
        }
        if json {
            try printJSON(rows)
            return
        }
        if rows.isEmpty {
            print("no accounts yet: chat with a persona first")
        }
        for row in rows {
            let name = row.persona.padding(toLength: 16, withPad: " ", startingAt: 0)
            print("\(name) \(MicroMotes(row.balance_micro_motes)) Motes")
        }
    }

    static func history(_ ledger: Ledger, persona: String?, limit: Int, json: Bool) throws {
        let names = try persona.map { [$0] } ?? ledger.personaNames()
        var entries: [(name: String, entry: HistoryEntry)] = []
        for name in names {
            for entry in try ledger.history(persona: name, limit: limit) {
                entries.append((name, entry))
            }
        }
        // The journal's order: times have whole seconds, and a hold and its
        // post often share one.
        entries.sort { $0.entry.transfer.sequence < $1.entry.transfer.sequence }
        let rows = entries.map { row($0.name, $0.entry) }
        if json {
            try printJSON(rows)
            return
        }
        for r in rows {
            var line = "\(r.time)  \(r.persona.padding(toLength: 12, withPad: " ", startingAt: 0))"
            line += " \(r.kind.padding(toLength: 7, withPad: " ", startingAt: 0))"
            line += " \(MicroMotes(r.change_micro_motes)) Motes"
            if let model = r.model, let out = r.output_tokens, let prompt = r.prompt_tokens {
                line += "  \(model) prompt \(prompt) (+\(r.cached_prompt_tokens ?? 0) cached)"
                line += " out \(out) in \(r.elapsed_ms ?? 0) ms"
            }
            print(line)
        }
    }

    static func row(_ persona: String, _ e: HistoryEntry) -> HistoryRow {
        let time = Date(timeIntervalSince1970: Double(e.transfer.createdMs) / 1000)
        return HistoryRow(
            persona: persona, time: time.formatted(.iso8601), kind: e.transfer.kind.rawValue,
            change_micro_motes: e.change.rawValue, model: e.usage?.model,
            prompt_tokens: e.usage?.promptTokens, cached_prompt_tokens: e.usage?.cachedPromptTokens,
            output_tokens: e.usage?.outputTokens, elapsed_ms: e.usage?.elapsedMs,
            schedule_version: e.scheduleVersion)
    }
}

// MARK: - Grant

extension LedgerCommand {
    struct GrantResult: Encodable {
        let persona: String
        let transfer_id: String
        let sequence: Int64
        let amount_micro_motes: Int64
        /// True when this id had already granted, and nothing new was.
        let already_granted: Bool
        let balance_micro_motes: Int64
    }

    /// `asth ledger grant PERSONA MOTES [--id ID]`: Motes from the treasury.
    /// With `--id`, running the same grant again grants nothing and says so.
    static func grant(_ arguments: inout Arguments, context: Context, json: Bool) throws {
        let catalog = try Context.catalog(&arguments)
        let id = try arguments.option("--id")
        let persona = try arguments.required("PERSONA")
        let amountText = try arguments.required("MOTES")
        try arguments.finish()
        guard let amount = MicroMotes(motes: amountText), amount > .zero else {
            throw UsageError(
                "\(arguments.command): MOTES = '\(amountText)': expected a positive number"
                    + " of Motes with at most six decimals, such as 12.5")
        }
        let ledger = try Ledger(home: context.home)
        try requireKnown(persona, catalog: catalog, ledger: ledger, command: arguments.command)

        // A new transfer comes after every transfer the persona had; a repeat
        // of an earlier grant is one of them.
        let newestBefore = try ledger.history(persona: persona, limit: 1).first?.transfer
        let transfer = try ledger.grant(
            persona: persona, amount: amount, id: id.map { grantIdPrefix + $0 })
        let result = GrantResult(
            persona: persona, transfer_id: transfer.id, sequence: transfer.sequence,
            amount_micro_motes: transfer.amount.rawValue,
            already_granted: transfer.sequence <= newestBefore?.sequence ?? 0,
            balance_micro_motes: try ledger.balance(persona: persona).rawValue)
        if json {
            try printJSON(result)
            return
        }
        let balance = MicroMotes(result.balance_micro_motes)
        if result.already_granted {
            print(
                "already granted: \(transfer.id) gave \(persona) \(transfer.amount) Motes"
                    + " (transfer \(transfer.sequence)); nothing new was granted;"
                    + " balance \(balance) Motes")
        } else {
            print(
                "granted \(transfer.amount) Motes to \(persona) (transfer \(transfer.sequence),"
                    + " \(transfer.id)); balance \(balance) Motes")
        }
    }

    /// Grant ids given with `--id` are stored under this prefix, so that no
    /// choice of id can collide with the ids the host gives holds and posts.
    static let grantIdPrefix = "grant:"

    /// Fails unless `persona` is defined in the catalog or already has an
    /// account: a typo must not open an account that no persona can spend.
    static func requireKnown(
        _ persona: String, catalog: PersonaCatalog, ledger: Ledger, command: String
    ) throws {
        if catalog.list().contains(where: { $0.name == persona }) { return }
        if try ledger.personaNames().contains(persona) { return }
        throw UsageError(
            "\(command): no persona '\(persona)' in \(catalog.directories.joined(separator: ", "))"
                + " and no account in the ledger; see `asth personas list`")
    }
}
