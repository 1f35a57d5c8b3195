import Foundation

/// The text form of a `MetricsReport`: titled blocks of "label  value unit"
/// lines, then the reply log with its columns aligned.
extension MetricsReport {
    /// Columns a wrapped line may use.
    static let textWidth = 100

    public func text() -> String {
        var out: [String] = []
        let who = scope.persona.map { "persona \($0)" } ?? "all personas"
        out.append("asth metrics: \(who)")

        for device in devices {
            out += [""] + block("DEVICE", deviceLines(device))
        }
        for model in models {
            out += [""] + block("MODEL", modelLines(model))
        }
        if models.isEmpty {
            out += ["", "MODEL", "  no replies recorded yet"]
        }
        for pipeline in pipeline {
            out += [""] + pipelineLines(pipeline)
        }
        if let session {
            let title =
                "SESSION AVERAGES (session \(session.session.prefix(8)), \(session.persona),"
                + " \(session.averages.replies) replies)"
            out += [""] + block(title, session.averages.readableLines)
        }
        out += [""] + block("\(overallLabel) (\(overall.replies) replies)", overall.readableLines)
        out += ["", "RECENT REPLIES (newest last)"] + logLines()
        return out.joined(separator: "\n") + "\n"
    }

    /// Columns of the label in every block, so that all values line up:
    /// the longest label, "acceptance, mean of replies", and two spaces.
    static let labelWidth = 27

    /// A title, then `label  value` lines with the values in one column.
    func block(_ title: String, _ lines: [(String, String)]) -> [String] {
        let width = max(Self.labelWidth, lines.map(\.0.count).max() ?? 0)
        return [title]
            + lines.map { label, value in
                "  " + label.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + value
            }
    }

    func deviceLines(_ d: DeviceBlock) -> [(String, String)] {
        let reliability =
            d.reliabilityPercent.map {
                "\(Readable.fixed($0, 1)) % (\(d.dispatchesCompleted) of \(d.dispatchesStarted)"
                    + " dispatches completed)"
            } ?? "n/a (no dispatches recorded)"
        var lines = [("name", d.name)]
        if !d.detail.isEmpty {
            lines.append(("detail", d.detail))
        }
        lines += [
            ("compute units", d.computeUnits), ("status", d.status),
            ("reliability", reliability),
            ("busy time", "\(Readable.fixed(d.busyMs / 1000, 2)) s in dispatches"),
        ]
        return lines
    }

    func modelLines(_ m: ModelSummary) -> [(String, String)] {
        let unknown = "unknown"
        var lines = [
            ("name", m.name),
            ("architecture", m.architecture ?? unknown),
            ("parameters", m.parameters.map(Readable.parameters) ?? unknown),
            ("quantization", m.quantization ?? unknown),
            ("context", m.contextTokens.map { "\($0) tokens" } ?? unknown),
            ("layers", m.layers.map { "\($0) blocks" } ?? unknown),
            ("file size", m.sizeBytes.map(Readable.megabytes) ?? unknown),
            ("file hash", m.sha256.map { "sha256 \($0)" } ?? unknown),
        ]
        if let problem = m.problem {
            lines.append(("problem", problem))
        }
        return lines
    }

    func pipelineLines(_ p: PipelineBlock) -> [String] {
        let layers = p.layers.map { "× \($0) layers" } ?? "per layer"
        let title = "PIPELINE (\(p.architecture): \(p.layerOps.count) ops \(layers), then the head)"
        return [title] + wrap(p.layerOps, indent: "  ") + wrap(p.headOps, indent: "  head: ")
    }

    /// Joins `ops` with " › ", breaking lines before `textWidth`.
    func wrap(_ ops: [String], indent: String) -> [String] {
        var lines: [String] = []
        var line = indent
        var fresh = true
        for (index, op) in ops.enumerated() {
            let piece = index == ops.count - 1 ? op : op + " ›"
            if !fresh && line.count + 1 + piece.count > Self.textWidth {
                lines.append(line)
                line = String(repeating: " ", count: indent.count)
                fresh = true
            }
            line += (fresh ? "" : " ") + piece
            fresh = false
        }
        lines.append(line)
        return lines
    }

    /// The reply log: a header with units, then one aligned row per reply.
    func logLines() -> [String] {
        guard !replies.isEmpty else { return ["  no replies recorded yet"] }
        let header = [
            "time", "persona", "tokens", "dispatches", "elapsed s", "eff tok/s", "tok/s",
            "accept %", "acc len", "Motes", "TTFT ms", "stop",
        ]
        // Text columns align left, numbers right.
        let leftAligned: Set<Int> = [0, 1, 11]
        let rows = replies.map { r in
            [
                ReadableTime.short(r.time), r.persona, "\(r.tokens)", "\(r.dispatches)",
                Readable.fixed(r.elapsedMs / 1000, 2), Readable.fixed(r.effTokensPerSecond, 1),
                Readable.fixed(r.dispatchesPerSecond, 1),
                r.acceptancePercent.map { Readable.fixed($0, 1) } ?? "-",
                r.meanAcceptedLength.map { Readable.fixed($0, 2) } ?? "-",
                Readable.motes(r.motes), Readable.fixed(r.firstTokenMs, 1), r.stopReason,
            ]
        }
        return Columns.align([header] + rows, leftAligned: leftAligned).map { "  " + $0 }
    }
}

/// Aligns rows of cells into columns two spaces apart.
enum Columns {
    static func align(_ rows: [[String]], leftAligned: Set<Int>) -> [String] {
        let columnCount = rows.map(\.count).max() ?? 0
        var widths = [Int](repeating: 0, count: columnCount)
        for row in rows {
            for (index, cell) in row.enumerated() {
                widths[index] = max(widths[index], cell.count)
            }
        }
        return rows.map { row in
            row.enumerated().map { index, cell in
                let pad = String(repeating: " ", count: widths[index] - cell.count)
                return leftAligned.contains(index) ? cell + pad : pad + cell
            }.joined(separator: "  ").replacingOccurrences(
                of: "\\s+$", with: "", options: .regularExpression)
        }
    }
}
