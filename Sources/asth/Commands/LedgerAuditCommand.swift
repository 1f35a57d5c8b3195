import Foundation
import Ledger

/// `asth ledger audit [--largest N] [--json]`: where the Motes went, what is
/// held, how much of each budget is used, the largest charges, and whether
/// the ledger verifies. Exits 3 after the report when it does not.
enum LedgerAuditCommand {
    static func run(_ arguments: inout Arguments, context: Context, json: Bool) throws {
        let largest = try arguments.number("--largest", in: 0...1_000) ?? 10
        try arguments.finish()
        let (ledger, report) = try LedgerVerifyCommand.failingIfDamaged {
            let ledger = try Ledger(home: context.home)
            return (ledger, try ledger.audit(largest: largest))
        }
        if json {
            try printJSON(AuditJSON(report))
        } else {
            for line in lines(report, ledger: ledger.url.path) { print(line) }
        }
        if let failure = LedgerVerifyCommand.failure(report.verify) { throw failure }
    }

    /// The report as a person reads it: one titled table per section.
    static func lines(_ report: AuditReport, ledger path: String) -> [String] {
        var out = ["Ledger audit of \(path) at \(ReportFormat.time(ms: report.generatedAtMs))"]
        func section(_ title: String, _ table: Table, empty: String) {
            out.append("")
            out.append(table.isEmpty ? "\(title): \(empty)" : title)
            if !table.isEmpty { out += table.lines() }
        }
        section("Spend by persona", spend(report.spendByPersona, key: "persona"), empty: "none")
        section("Spend by model", spend(report.spendByModel, key: "model"), empty: "none")
        section("Spend by day", spend(report.spendByDay, key: "day (UTC)"), empty: "none")
        section("Open holds", holds(report.openHolds, now: report.generatedAtMs), empty: "none")
        section(
            "Budgets (Motes)", budgets(report.budgets, now: report.generatedAtMs), empty: "none")
        section("Largest charges", largest(report.largestCharges), empty: "none")
        out.append("")
        out.append("Issued \(report.issued) Motes; burned \(report.burned) Motes")
        out += LedgerVerifyCommand.summary(report.verify).enumerated().map {
            ($0.offset == 0 ? "Verify: " : "  ") + $0.element
        }
        return out
    }

    static func spend(_ lines: [SpendLine], key: String) -> Table {
        var table = Table([
            (key, .left), ("charges", .right), ("output tokens", .right), ("Motes", .right),
        ])
        for line in lines {
            table.add([line.key, "\(line.charges)", "\(line.outputTokens)", "\(line.amount)"])
        }
        return table
    }

    static func holds(_ holds: [Hold], now: Int64) -> Table {
        var table = Table([
            ("request", .left), ("persona", .left), ("device", .left), ("Motes held", .right),
            ("expires at (UTC)", .left),
        ])
        for hold in holds {
            table.add([
                hold.requestId, hold.persona, hold.device, "\(hold.amount)",
                "\(ReportFormat.time(ms: hold.expiresAtMs)) (\(relative(hold.expiresAtMs, now)))",
            ])
        }
        return table
    }

    /// Budget use in Motes: the allowance, the share of it spent this
    /// period, what is held and available, and when it refills.
    static func budgets(_ budgets: [Budget], now: Int64) -> Table {
        var table = Table([
            ("persona", .left), ("allowance", .right), ("period", .right), ("spent", .right),
            ("used", .right), ("held", .right), ("available", .right), ("refills at", .left),
        ])
        for budget in budgets {
            let refill = budget.refillsAtMs.map {
                "\(ReportFormat.time(ms: $0)) (\(relative($0, now)))"
            }
            table.add([
                budget.persona, "\(budget.allowance)",
                ReportFormat.duration(ms: budget.periodSeconds * 1000),
                "\(budget.spentThisPeriod)",
                percent(budget.spentThisPeriod.rawValue, of: budget.allowance.rawValue),
                "\(budget.held)", "\(budget.available)", refill ?? "never (no allowance)",
            ])
        }
        return table
    }

    /// `part` as a percentage of `whole` with one decimal; `-` for no whole.
    static func percent(_ part: Int64, of whole: Int64) -> String {
        guard whole > 0 else { return "-" }
        return String(format: "%.1f%%", Double(part) * 100 / Double(whole))
    }

    static func largest(_ charges: [ChargeLine]) -> Table {
        var table = Table([
            ("transfer", .right), ("persona", .left), ("model", .left),
            ("output tokens", .right), ("elapsed (ms)", .right), ("Motes", .right),
            ("at (UTC)", .left),
        ])
        for charge in charges {
            table.add([
                "\(charge.sequence)", charge.persona, charge.model, "\(charge.outputTokens)",
                "\(charge.elapsedMs)", "\(charge.amount)", ReportFormat.time(ms: charge.createdMs),
            ])
        }
        return table
    }

    /// `in 7 h 40 min` or `5 min ago`.
    static func relative(_ ms: Int64, _ now: Int64) -> String {
        ms >= now
            ? "in \(ReportFormat.duration(ms: ms - now))"
            : "\(ReportFormat.duration(ms: now - ms)) ago"
    }
}

/// The audit as `--json` prints it: amounts in integer micro-Motes (the
/// ledger's unit), times in Unix milliseconds and ISO 8601.
struct AuditJSON: Encodable {
    struct Spend: Encodable {
        let key: String
        let charges: Int
        let output_tokens: Int64
        let amount_micro_motes: Int64
    }

    struct OpenHold: Encodable {
        let request_id: String
        let transfer_id: String
        let sequence: Int64
        let persona: String
        let device: String
        let amount_micro_motes: Int64
        let expires_at_ms: Int64
        let expires_at: String
    }

    struct BudgetUse: Encodable {
        let persona: String
        let allowance_micro_motes: Int64
        let period_seconds: Int64
        let period_start_ms: Int64
        let refills_at_ms: Int64?
        let refills_at: String?
        let spent_this_period_micro_motes: Int64
        let held_micro_motes: Int64
        let available_micro_motes: Int64
    }

    struct Charge: Encodable {
        let sequence: Int64
        let transfer_id: String
        let persona: String
        let model: String
        let output_tokens: Int64
        let elapsed_ms: Int64
        let created_at: String
        let amount_micro_motes: Int64
    }

    let generated_at: String
    let spend_by_persona: [Spend]
    let spend_by_model: [Spend]
    let spend_by_day: [Spend]
    let open_holds: [OpenHold]
    let budgets: [BudgetUse]
    let largest_charges: [Charge]
    let issued_micro_motes: Int64
    let burned_micro_motes: Int64
    let verify: VerifyJSON

    init(_ report: AuditReport) {
        func spend(_ lines: [SpendLine]) -> [Spend] {
            lines.map {
                Spend(
                    key: $0.key, charges: $0.charges, output_tokens: $0.outputTokens,
                    amount_micro_motes: $0.amount.rawValue)
            }
        }
        generated_at = ReportFormat.time(ms: report.generatedAtMs)
        spend_by_persona = spend(report.spendByPersona)
        spend_by_model = spend(report.spendByModel)
        spend_by_day = spend(report.spendByDay)
        open_holds = report.openHolds.map {
            OpenHold(
                request_id: $0.requestId, transfer_id: $0.transferId, sequence: $0.sequence,
                persona: $0.persona, device: $0.device, amount_micro_motes: $0.amount.rawValue,
                expires_at_ms: $0.expiresAtMs, expires_at: ReportFormat.time(ms: $0.expiresAtMs))
        }
        budgets = report.budgets.map {
            BudgetUse(
                persona: $0.persona, allowance_micro_motes: $0.allowance.rawValue,
                period_seconds: $0.periodSeconds, period_start_ms: $0.periodStartMs,
                refills_at_ms: $0.refillsAtMs,
                refills_at: $0.refillsAtMs.map(ReportFormat.time(ms:)),
                spent_this_period_micro_motes: $0.spentThisPeriod.rawValue,
                held_micro_motes: $0.held.rawValue, available_micro_motes: $0.available.rawValue)
        }
        largest_charges = report.largestCharges.map {
            Charge(
                sequence: $0.sequence, transfer_id: $0.transferId, persona: $0.persona,
                model: $0.model, output_tokens: $0.outputTokens, elapsed_ms: $0.elapsedMs,
                created_at: ReportFormat.time(ms: $0.createdMs),
                amount_micro_motes: $0.amount.rawValue)
        }
        issued_micro_motes = report.issued.rawValue
        burned_micro_motes = report.burned.rawValue
        verify = VerifyJSON(report.verify)
    }
}
