import Foundation

/// Small SVG charts drawn in a fixed 400 × 240 coordinate box that the page
/// scales to its column, so that the layout (and whether labels collide) is
/// the same at every window size; only the scale changes.
///
/// Text widths are estimated, not measured: `textWidth` assumes 0.65 em per
/// character, wider than DejaVu Sans's digits (0.64 em) and most of its
/// letters, so the estimate errs towards more room. The dashboard test then
/// measures the real boxes in Chromium.
struct SVGChart {
    /// The coordinate box.
    static let width = 400.0
    static let height = 240.0
    /// The plot area inside it: room on the left for y labels, below for x.
    static let plotLeft = 48.0
    static let plotRight = 390.0
    static let plotTop = 14.0
    static let plotBottom = 206.0
    /// Where x labels sit: far enough below the plot that the lowest y label
    /// ("0", centred on the bottom line) stays clear of them.
    static let xLabelBaseline = plotBottom + 20
    /// Tick label size, in box units.
    static let fontSize = 11.0
    /// Least space between two x labels.
    static let labelGap = 10.0

    /// A series of points.
    struct Series {
        var name: String
        var color: String
        var dashed = false
        /// (x, y) in data units, sorted by x.
        var points: [(x: Double, y: Double)]
    }

    /// One bar of a bar or column chart.
    struct Bar {
        var label: String
        var value: Double
        /// The value as printed beside the bar, with its unit.
        var valueText: String
        var color: String
    }

    static func textWidth(_ text: String, fontSize: Double = fontSize) -> Double {
        Double(text.count) * fontSize * 0.65
    }

    // MARK: - Line chart over time

    /// Lines with a dot per point, x as time (seconds since 1970).
    static func lines(_ series: [Series], yUnit: String, yMax: Double? = nil, title: String)
        -> String
    {
        let points = series.flatMap(\.points)
        guard !points.isEmpty else { return placeholder(title: title) }
        let xs = points.map(\.x)
        let (xMin, xMax) = (xs.min()!, xs.max()!)
        let ticks = niceTicks(max: yMax ?? points.map(\.y).max()!)
        let y = scale(0, ticks.last!, plotBottom, plotTop)
        let x =
            xMax > xMin
            ? scale(xMin, xMax, plotLeft + 6, plotRight - 6)
            : { _ in
                (plotLeft + plotRight) / 2
            }

        var body = yAxis(ticks, y: y) + timeAxis(xMin, xMax, x: x)
        for s in series where !s.points.isEmpty {
            let path = s.points.map { "\(f(x($0.x))),\(f(y($0.y)))" }.joined(separator: " ")
            let dash = s.dashed ? " stroke-dasharray=\"5 4\"" : ""
            body += "<polyline class=\"mark\" points=\"\(path)\" fill=\"none\""
            body += " stroke=\"\(s.color)\" stroke-width=\"2\"\(dash)/>"
            for p in s.points {
                body += "<circle class=\"mark\" cx=\"\(f(x(p.x)))\" cy=\"\(f(y(p.y)))\" r=\"2.5\""
                body += " fill=\"\(s.color)\"><title>\(escape(s.name)): \(f(p.y)) \(yUnit)</title>"
                body += "</circle>"
            }
        }
        return frame(title: title, body: body)
    }

    // MARK: - Bars

    /// Horizontal bars, one row each: the label and value above the bar.
    static func bars(_ bars: [Bar], title: String) -> String {
        guard !bars.isEmpty, bars.contains(where: { $0.value > 0 }) else {
            return placeholder(title: title)
        }
        let rowHeight = 36.0
        let height = 8 + rowHeight * Double(bars.count)
        let maxValue = bars.map(\.value).max()!
        var body = ""
        for (index, bar) in bars.enumerated() {
            let top = 8 + rowHeight * Double(index)
            let length = max(2, (width - 16) * bar.value / maxValue)
            let label = fitted(bar.label, room: width - 24 - textWidth(bar.valueText))
            body += text(label, x: 8, y: top + 12, anchor: "start")
            body += text(bar.valueText, x: width - 8, y: top + 12, anchor: "end")
            body += "<rect class=\"mark\" x=\"8\" y=\"\(f(top + 17))\" width=\"\(f(length))\""
            body += " height=\"12\" rx=\"2\" fill=\"\(bar.color)\"/>"
        }
        return frame(title: title, body: body, height: height)
    }

    /// Vertical columns with a label under each; labels that would collide
    /// are thinned to every second, third, … one.
    static func columns(_ bars: [Bar], yUnit: String, yMax: Double? = nil, title: String)
        -> String
    {
        guard !bars.isEmpty, bars.contains(where: { $0.value > 0 }) else {
            return placeholder(title: title)
        }
        let ticks = niceTicks(max: yMax ?? bars.map(\.value).max()!)
        let y = scale(0, ticks.last!, plotBottom, plotTop)
        let slot = (plotRight - plotLeft) / Double(bars.count)
        let widest = bars.map { textWidth($0.label) }.max()!
        let every = max(1, Int((widest + labelGap) / slot) + 1)

        var body = yAxis(ticks, y: y)
        for (index, bar) in bars.enumerated() {
            let left = plotLeft + slot * Double(index)
            let top = y(bar.value)
            body += "<rect class=\"mark\" x=\"\(f(left + slot * 0.12))\" y=\"\(f(top))\""
            body += " width=\"\(f(slot * 0.76))\" height=\"\(f(max(0, plotBottom - top)))\""
            body += " fill=\"\(bar.color)\"><title>\(escape(bar.label)): \(escape(bar.valueText))"
            body += "</title></rect>"
            if index % every == 0 {
                body += text(bar.label, x: left + slot / 2, y: xLabelBaseline, anchor: "middle")
            }
        }
        return frame(title: title, body: body)
    }

    // MARK: - Axes

    static func yAxis(_ ticks: [Double], y: (Double) -> Double) -> String {
        var out = ""
        for tick in ticks {
            let at = f(y(tick))
            out += "<line class=\"grid\" x1=\"\(f(plotLeft))\" x2=\"\(f(plotRight))\""
            out += " y1=\"\(at)\" y2=\"\(at)\"/>"
            out += text(tickLabel(tick), x: plotLeft - 6, y: y(tick) + 4, anchor: "end")
        }
        return out
    }

    /// Time labels: as many as fit, the first and last anchored inwards so
    /// that none runs past the box.
    static func timeAxis(_ xMin: Double, _ xMax: Double, x: (Double) -> Double) -> String {
        let span = xMax - xMin
        let sample = ReadableTime.axis(Date(timeIntervalSince1970: xMin), spanSeconds: span)
        guard span > 0 else {
            return text(sample, x: x(xMin), y: xLabelBaseline, anchor: "middle")
        }
        let room = plotRight - plotLeft
        let count = max(2, min(5, Int(room / (textWidth(sample) + labelGap * 2))))
        var out = ""
        for index in 0..<count {
            let value = xMin + span * Double(index) / Double(count - 1)
            let label = ReadableTime.axis(Date(timeIntervalSince1970: value), spanSeconds: span)
            let anchor = index == 0 ? "start" : index == count - 1 ? "end" : "middle"
            let at = index == 0 ? plotLeft : index == count - 1 ? plotRight : x(value)
            out += text(label, x: at, y: xLabelBaseline, anchor: anchor)
        }
        return out
    }

    /// 0 and up to four more round steps covering `max`.
    static func niceTicks(max: Double) -> [Double] {
        let top = max > 0 ? max : 1
        let raw = top / 4
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= raw }!
        let count = Int(ceil(top / step - 1e-9))
        return (0...count).map { Double($0) * step }
    }

    /// A tick value in few characters: "0", "2.5", "40", "1.2k".
    static func tickLabel(_ value: Double) -> String {
        if value >= 10_000 { return Readable.fixed(value / 1000, 0) + "k" }
        if value >= 1_000 { return Readable.fixed(value / 1000, 1) + "k" }
        if value == value.rounded() { return String(Int(value)) }
        let digits = value < 0.1 ? 3 : 2
        return Readable.fixed(value, digits).replacingOccurrences(
            of: "0+$", with: "", options: .regularExpression)
    }

    // MARK: - Pieces

    static func frame(title: String, body: String, height: Double = height) -> String {
        "<svg class=\"chart\" viewBox=\"0 0 \(f(width)) \(f(height))\" role=\"img\""
            + " aria-label=\"\(escape(title))\">\(body)</svg>"
    }

    /// The box of a chart with nothing to draw, saying so.
    static func placeholder(title: String) -> String {
        let body = text(
            "no data recorded yet", x: width / 2, y: height / 2, anchor: "middle",
            cssClass: "placeholder")
        return frame(title: title, body: body)
    }

    static func text(
        _ content: String, x: Double, y: Double, anchor: String, cssClass: String = "label"
    ) -> String {
        "<text class=\"\(cssClass)\" x=\"\(f(x))\" y=\"\(f(y))\" text-anchor=\"\(anchor)\">"
            + escape(content) + "</text>"
    }

    /// `text`, cut with an ellipsis to fit `room` box units.
    static func fitted(_ text: String, room: Double) -> String {
        guard textWidth(text) > room else { return text }
        let keep = max(1, Int(room / (fontSize * 0.65)) - 1)
        return String(text.prefix(keep)) + "…"
    }

    /// A linear map from [a, b] to [c, d].
    static func scale(_ a: Double, _ b: Double, _ c: Double, _ d: Double) -> (Double) -> Double {
        { value in c + (value - a) / (b - a) * (d - c) }
    }

    /// A coordinate with at most one decimal.
    static func f(_ value: Double) -> String {
        let rounded = (value * 10).rounded() / 10
        return rounded == rounded.rounded() ? String(Int(rounded)) : String(rounded)
    }

    /// Text safe inside an element or a quoted attribute.
    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(
            of: "<", with: "&lt;"
        )
        .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
