import Foundation
import Host
import Support

/// `asth report --html`: one self-contained page (inline CSS and SVG, no
/// scripts, no fetches) with the averages and six charts.
///
/// Legends and titles are HTML, which wraps by itself on a narrow screen;
/// only tick labels live inside the SVGs, whose layout does not depend on
/// the window (see `SVGChart`).
public enum Dashboard {
    /// Persona colours: the Okabe–Ito palette, told apart by people with
    /// the common colour-vision deficiencies, less its yellow (too pale on
    /// white).
    static let palette = [
        "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
    ]

    /// Time buckets of the utilisation chart.
    static let utilisationBuckets = 24

    /// The page for everything in `store` (or `persona`'s part of it).
    public static func html(store: MetricsStore, persona: String? = nil, now: Date = Date())
        throws -> String
    {
        let counters = try store.counters()
        let replies = try store.replies(persona: persona, limit: Limits.Metrics.reportRepliesMax)
        let dispatches = try store.dispatches(limit: Limits.Metrics.reportDispatchesMax)
        let personas = Set(
            counters.values.keys.filter { $0.family == .replies && !$0.persona.isEmpty }
                .map(\.persona)
        ).union(replies.map(\.persona)).sorted().filter { persona == nil || $0 == persona }
        let colors = Dictionary(
            uniqueKeysWithValues: personas.enumerated().map {
                ($1, palette[$0 % palette.count])
            })

        var body = header(replies: replies, personas: personas, now: now)
        body += averagesSection(counters: counters, personas: personas, colors: colors)
        body += "<div class=\"grid\">"
        body += throughputFigures(replies: replies, personas: personas, colors: colors)
        body += motesFigure(counters: counters, personas: personas, colors: colors)
        body += latencyFigure(counters: counters, persona: persona)
        body += utilisationFigure(dispatches: dispatches)
        body += "</div>"
        return page(body)
    }

    // MARK: - Sections

    static func header(replies: [ReplyRecord], personas: [String], now: Date) -> String {
        var line = "generated \(ReadableTime.stamp(now)) · \(personas.count) personas"
        if let first = replies.first, let last = replies.last {
            line += " · replies from \(ReadableTime.stamp(first.time))"
            line += " to \(ReadableTime.stamp(last.time))"
        }
        return "<header><h1>Asthenosphere metrics</h1><p class=\"note\">\(html(line))</p></header>"
    }

    /// Cards of all-time averages: one for everyone, one per persona.
    static func averagesSection(counters: Counters, personas: [String], colors: [String: String])
        -> String
    {
        var out = "<section><h2>Averages per message, all time</h2>"
        out += "<p class=\"note\">eff tok/s, mean of replies: each reply's rate, averaged (short"
        out += " fast replies lift it). eff tok/s, overall: Σ output tokens ÷ Σ reply time.</p>"
        out += "<div class=\"cards\">"
        let all = Averages(counters: counters) { key in
            personas.contains(key.persona)
        }
        out += card(title: "all personas", color: nil, averages: all)
        for persona in personas {
            let averages = Averages(counters: counters) { $0.persona == persona }
            out += card(title: persona, color: colors[persona], averages: averages)
        }
        return out + "</div></section>"
    }

    static func card(title: String, color: String?, averages a: Averages) -> String {
        let rows = [("replies", "\(a.replies)")] + a.readableLines
        let swatch = color.map { "<span class=\"swatch\" style=\"background:\($0)\"></span>" } ?? ""
        var out = "<article class=\"card\"><h3>\(swatch)\(html(title))</h3><dl>"
        for (label, value) in rows {
            out += "<dt>\(html(label))</dt><dd>\(html(value))</dd>"
        }
        return out + "</dl></article>"
    }

    /// eff tok/s, tok/s and acceptance over time, a line per persona.
    static func throughputFigures(
        replies: [ReplyRecord], personas: [String], colors: [String: String]
    ) -> String {
        func series(_ value: (ReplyRecord) -> Double?) -> [SVGChart.Series] {
            personas.map { persona in
                let points = replies.filter { $0.persona == persona }.compactMap { r in
                    value(r).map { (x: r.time.timeIntervalSince1970, y: $0) }
                }
                return SVGChart.Series(
                    name: persona, color: colors[persona] ?? "#000", points: points)
            }
        }
        let eff = series { ReplyRates($0.usage).effTokensPerSecond }
        let plain = series { ReplyRates($0.usage).dispatchesPerSecond }
        let acceptance = series { ReplyRates($0.usage).acceptance.map { $0 * 100 } }
        let legend = legendList(personas, colors)
        return figure(
            "eff tok/s over time",
            "Each reply's output tokens ÷ its wall time, tokens per second.",
            SVGChart.lines(eff, yUnit: "tok/s", title: "eff tok/s over time"), legend)
            + figure(
                "tok/s over time",
                "Each reply's dispatches ÷ its wall time, dispatches per second.",
                SVGChart.lines(plain, yUnit: "dispatches/s", title: "tok/s over time"), legend)
            + figure(
                "Acceptance over time",
                "Accepted ÷ drafted tokens per reply, percent; replies that drafted nothing"
                    + " are left out.",
                SVGChart.lines(
                    acceptance, yUnit: "%", yMax: 100, title: "Acceptance over time"),
                legend)
    }

    static func motesFigure(counters: Counters, personas: [String], colors: [String: String])
        -> String
    {
        let bars = personas.map { persona in
            let motes = counters.sum(.microMotes) { $0.persona == persona } / 1e6
            return SVGChart.Bar(
                label: persona, value: motes, valueText: Readable.motes(motes) + " Motes",
                color: colors[persona] ?? "#000")
        }
        return figure(
            "Motes per persona", "Motes charged, all time.",
            SVGChart.bars(bars, title: "Motes per persona"), "")
    }

    static func latencyFigure(counters: Counters, persona: String?) -> String {
        let bounds = Counters.latencyBoundsSeconds + [.infinity]
        var bars = bounds.map { bound in
            let detail = Counters.boundLabel(bound)
            let count = counters.sum(.latencyBucket) {
                $0.detail == detail && (persona == nil || $0.persona == persona)
            }
            let label =
                bound.isInfinite
                ? ">" + SVGChart.tickLabel(bounds[bounds.count - 2])
                : "≤" + SVGChart.tickLabel(bound)
            return SVGChart.Bar(
                label: label, value: count, valueText: "\(Int(count)) replies", color: "#0072B2")
        }
        // Drop empty buckets past the last one in use, keeping at least four.
        while bars.count > 4, bars.last?.value == 0 {
            bars.removeLast()
        }
        return figure(
            "Latency distribution", "Replies by wall time, seconds (all time).",
            SVGChart.columns(bars, yUnit: "replies", title: "Latency distribution"), "")
    }

    /// Busy time ÷ wall time per time bucket, from the dispatch rows.
    static func utilisationFigure(dispatches: [DispatchRecord]) -> String {
        var bars: [SVGChart.Bar] = []
        if let first = dispatches.first, let last = dispatches.last {
            let start = first.time.timeIntervalSince1970
            let end = max(
                last.time.timeIntervalSince1970 + last.elapsedMs / 1000, start + 1)
            let bucketSeconds = (end - start) / Double(utilisationBuckets)
            var busyMs = [Double](repeating: 0, count: utilisationBuckets)
            for d in dispatches {
                let index = Int((d.time.timeIntervalSince1970 - start) / bucketSeconds)
                busyMs[min(max(index, 0), utilisationBuckets - 1)] += d.elapsedMs
            }
            bars = busyMs.enumerated().map { index, busy in
                let percent = min(100, busy / (bucketSeconds * 10))
                let time = Date(timeIntervalSince1970: start + bucketSeconds * Double(index))
                return SVGChart.Bar(
                    label: ReadableTime.axis(time, spanSeconds: end - start), value: percent,
                    valueText: Readable.fixed(percent, 1) + " %", color: "#009E73")
            }
        }
        let name = dispatches.first.map { "\($0.device), " } ?? ""
        return figure(
            "Device utilisation",
            "\(name)time in dispatches ÷ wall time, percent, in \(utilisationBuckets) slices of"
                + " the recorded span.",
            SVGChart.columns(bars, yUnit: "%", yMax: 100, title: "Device utilisation"), "")
    }

    // MARK: - Pieces

    static func figure(_ title: String, _ note: String, _ svg: String, _ legend: String) -> String {
        "<figure class=\"chart-card\"><h2>\(html(title))</h2><p class=\"note\">\(html(note))</p>"
            + svg + legend + "</figure>"
    }

    static func legendList(_ personas: [String], _ colors: [String: String]) -> String {
        var out = "<ul class=\"legend\">"
        for persona in personas {
            let color = colors[persona] ?? "#000"
            out += "<li><span class=\"swatch\" style=\"background:\(color)\"></span>"
            out += "\(html(persona))</li>"
        }
        return out + "</ul>"
    }

    static func html(_ text: String) -> String {
        SVGChart.escape(text)
    }

    static func page(_ body: String) -> String {
        """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Asthenosphere metrics</title>
        <style>\(style)</style>
        </head>
        <body>
        \(body)
        </body>
        </html>

        """
    }

    /// The page's only style sheet. Grid columns are at least 340 px or the
    /// whole width, whichever is less, so a phone gets one column.
    static let style = """
        body { margin: 0; padding: 16px; font-family: "DejaVu Sans", sans-serif; line-height: 1.35;
          color: #1b1f24; background: #f6f7f9; overflow-wrap: anywhere; }
        h1 { font-size: 22px; margin: 0 0 4px; }
        h2 { font-size: 16px; margin: 0 0 4px; }
        h3 { font-size: 14px; margin: 0 0 8px; }
        .note { font-size: 12px; color: #4a5562; margin: 0 0 8px; }
        section { margin: 16px 0; }
        .cards, .grid { display: grid; gap: 12px;
          grid-template-columns: repeat(auto-fill, minmax(min(100%, 340px), 1fr)); }
        .cards { grid-template-columns: repeat(auto-fill, minmax(min(100%, 270px), 1fr)); }
        .card, .chart-card { background: #fff; border: 1px solid #d8dde3; border-radius: 6px;
          padding: 12px; margin: 0; min-width: 0; }
        dl { display: grid; grid-template-columns: 1fr auto; gap: 2px 12px; margin: 0;
          font-size: 12px; }
        dt { color: #4a5562; } dd { margin: 0; text-align: right; white-space: nowrap; }
        svg.chart { display: block; width: 100%; height: auto; }
        svg .label { font-size: 11px; fill: #4a5562; }
        svg .placeholder { font-size: 13px; fill: #4a5562; }
        svg .grid { stroke: #e3e7ec; stroke-width: 1; }
        .legend { list-style: none; padding: 0; margin: 8px 0 0; font-size: 12px;
          display: flex; flex-wrap: wrap; gap: 4px 14px; }
        .swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px;
          margin-right: 6px; vertical-align: baseline; }
        """
}
