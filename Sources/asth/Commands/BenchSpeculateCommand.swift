import Foundation
import Inference
import Tokenizer

/// `asth bench --speculate [MODE]` (alias `asth bench-speculate`): plain
/// against speculative decoding on the same prompts, the same model and
/// machine, interleaved run by run, and the ratios the speculation issue
/// sets targets for.
enum BenchSpeculateCommand {
    /// Which target a workload counts towards.
    enum Kind: String, Encodable {
        /// Lists, code edits, replies that repeat, a persona's habits:
        /// eff tok/s at least 2x plain, acceptance at least 70%.
        case structured
        /// Free prose: eff tok/s at least 0.95x plain.
        case prose
    }

    /// One prompt, and for persona phrases, the earlier questions whose
    /// replies the persona's memory learned before the measured one.
    struct Workload {
        let name: String
        let kind: Kind
        let system: String?
        let user: String
        let learnedFrom: [String]
    }

    /// What one workload measured: medians over the repeats.
    struct Row: Encodable {
        let workload: String
        let kind: Kind
        let mode: String
        let tokens: Int
        let plain_tok_s: Double
        let eff_tok_s: Double
        /// Speculative eff tok/s over plain, by wall time and by CPU time.
        let ratio: Double
        let cpu_ratio: Double
        let acceptance: Double?
        let mean_accepted_length: Double
        let plain_dispatches: Int
        let dispatches: Int
        let pauses: Int
        let identical: Bool
        /// The plain greedy reply, so that a reader can see what was measured.
        let reply: String
    }

    /// A target and how the run did against it.
    struct Summary: Encodable {
        let kind: Kind
        /// Geometric mean of the workloads' ratios, by wall and CPU time.
        let ratio: Double
        let cpu_ratio: Double
        /// The clock the target was judged on.
        let clock: String
        let ratio_target: Double
        let acceptance: Double?
        let acceptance_target: Double?
        let met: Bool
    }

    struct Output: Encodable {
        let model: String
        let device: String
        let repeats: Int
        let max_tokens: Int
        /// The calibrated cost of a dispatch by the rows of one sequence.
        let dispatch_ms_by_rows: [String: Double]
        let workloads: [Row]
        let summaries: [Summary]
    }

    /// Runs the workloads; `mode` is the drafter, read from `--speculate`
    /// (default auto) when nil.
    static func run(_ arguments: inout Arguments, mode given: String? = nil) throws {
        let context = try Context(&arguments)
        let json = arguments.flag("--json")
        let modelName = try arguments.option("--model") ?? ModelStore.defaultModelName
        let modeText = try given ?? arguments.option("--speculate") ?? "auto"
        let draftName = try arguments.option("--draft-model")
        let maxTokens = try arguments.number("--max-tokens", in: 1...4096) ?? 128
        let repeats = try arguments.number("--repeats", in: 1...100) ?? 3
        let clock = try arguments.option("--clock") ?? "wall"
        let only = try arguments.option("--workload")
        try arguments.finish()
        let chosen = workloads.filter { only == nil || $0.name == only }
        guard !chosen.isEmpty else {
            throw UsageError(
                "asth bench --speculate: --workload \(only ?? ""): expected one of "
                    + workloads.map(\.name).joined(separator: ", "))
        }
        guard clock == "wall" || clock == "cpu" else {
            throw UsageError("asth bench --speculate: --clock \(clock): expected wall or cpu")
        }
        guard let mode = SpeculationMode(rawValue: modeText), mode != .off else {
            throw UsageError(
                "asth bench --speculate: --speculate \(modeText): expected ngram, memory, draft or"
                    + " auto")
        }

        let host = context.host()
        let model = try host.model(modelName)
        let draft = try draftName.map { try host.model($0) }
        let costs = try MeasuredCostModel.calibrated(device: model.device)
        let bench = Bench(
            model: model, draftModel: draft, mode: mode, costs: costs, maxTokens: maxTokens)
        var rows: [Row] = []
        for workload in chosen {
            let row = try bench.measure(workload, repeats: repeats)
            rows.append(row)
            if !json {
                StatusLine.note(describe(row))
            }
        }
        let output = Output(
            model: model.name, device: "\(model.device.name) (\(model.device.detail))",
            repeats: repeats, max_tokens: maxTokens,
            dispatch_ms_by_rows: Dictionary(
                uniqueKeysWithValues: costs.observed().map {
                    (String($0.rows), rounded($0.cost.milliseconds, 2))
                }),
            workloads: rows,
            summaries: [Kind.structured, .prose].compactMap { summarize(rows, $0, clock: clock) })
        if json {
            try printJSON(output)
        } else {
            print(report(output))
        }
    }

    /// The targets of the issue for `kind`; nil when no workload ran.
    static func summarize(_ rows: [Row], _ kind: Kind, clock: String) -> Summary? {
        let mine = rows.filter { $0.kind == kind }
        guard !mine.isEmpty else { return nil }
        func geometricMean(_ values: [Double]) -> Double {
            values.isEmpty ? 0 : exp(values.map { log($0) }.reduce(0, +) / Double(values.count))
        }
        let wallRatio = geometricMean(mine.map(\.ratio))
        let cpuRatio = geometricMean(mine.map(\.cpu_ratio))
        let ratio = clock == "cpu" ? cpuRatio : wallRatio
        let acceptances = mine.compactMap(\.acceptance)
        let acceptance =
            acceptances.isEmpty ? nil : acceptances.reduce(0, +) / Double(acceptances.count)
        let ratioTarget = kind == .structured ? 2.0 : 0.95
        let acceptanceTarget: Double? = kind == .structured ? 0.7 : nil
        let met =
            ratio >= ratioTarget && (acceptanceTarget.map { (acceptance ?? 0) >= $0 } ?? true)
            && mine.allSatisfy(\.identical)
        return Summary(
            kind: kind, ratio: rounded(wallRatio, 2), cpu_ratio: rounded(cpuRatio, 2),
            clock: clock, ratio_target: ratioTarget,
            acceptance: acceptance.map { rounded($0, 3) }, acceptance_target: acceptanceTarget,
            met: met)
    }

    static func describe(_ row: Row) -> String {
        let acceptance = row.acceptance.map { "\(Int(($0 * 100).rounded()))%" } ?? "-"
        return "\(row.workload) (\(row.kind.rawValue), \(row.mode)): \(row.tokens) tokens,"
            + " plain \(row.plain_tok_s) tok/s, speculative \(row.eff_tok_s) eff tok/s,"
            + " \(row.ratio)x (cpu \(row.cpu_ratio)x), acceptance \(acceptance),"
            + " \(row.plain_dispatches) -> \(row.dispatches) dispatches"
            + (row.identical ? "" : ", OUTPUT DIFFERS")
    }

    static func report(_ output: Output) -> String {
        var lines = [
            "bench --speculate: \(output.model) on \(output.device),"
                + " \(output.repeats) interleaved runs each, median; decoding timed, the"
                + " prompt prefilled before the clocks start"
        ]
        let costs = output.dispatch_ms_by_rows.sorted { Int($0.key)! < Int($1.key)! }
        lines.append(
            "dispatch ms by rows: " + costs.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
        )
        for row in output.workloads {
            lines.append("  " + describe(row))
        }
        for summary in output.summaries {
            var line =
                "\(summary.kind.rawValue): \(summary.ratio)x plain by wall time,"
                + " \(summary.cpu_ratio)x by CPU time (target >= \(summary.ratio_target)x by"
                + " \(summary.clock) time)"
            if let acceptance = summary.acceptance, let target = summary.acceptance_target {
                line +=
                    ", acceptance \(Int((acceptance * 100).rounded()))%"
                    + " (target >= \(Int(target * 100))%)"
            }
            lines.append(line + (summary.met ? " - met" : " - not met"))
        }
        return lines.joined(separator: "\n")
    }

    static func rounded(_ value: Double, _ places: Int) -> Double {
        let scale = pow(10, Double(places))
        return (value * scale).rounded() / scale
    }
}
