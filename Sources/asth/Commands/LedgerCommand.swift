import Foundation
import Ledger

/// `asth ledger balance | history [PERSONA]`.
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

    static func run(_ arguments: inout Arguments) throws {
        let context = try Context(&arguments)
        let json = arguments.flag("--json")
        let action = try arguments.required("balance | history")
        let ledger = try Ledger(home: context.home)
        switch action {
        case "balance":
            let persona = arguments.positional()
            try arguments.finish()
            try balance(ledger, persona: persona, json: json)
        case "history":
            let persona = arguments.positional()
            let limit = try arguments.number("--limit", in: 1...10_000) ?? 50
            try arguments.finish()
            try history(ledger, persona: persona, limit: limit, json: json)
        default:
            throw UsageError("asth ledger: unknown action '\(action)' (balance, history)")
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
        var rows: [HistoryRow] = []
        for name in names {
            for entry in try ledger.history(persona: name, limit: limit) {
                rows.append(row(name, entry))
            }
        }
        rows.sort { $0.time < $1.time }
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
