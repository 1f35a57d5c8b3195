import Foundation
import Metrics
import Testing

/// `asth report --html`: the page is self-contained, every chart has marks,
/// the labels we place do not collide, and in headless Chromium at
/// 1280×800 and 390×844 no text overlaps other text, none is clipped and
/// the page does not scroll sideways.
///
/// How the browser check works: Chromium's `--dump-dom` lays a page out in
/// a window at least 500 px wide, so the dashboard is loaded into an iframe
/// of exactly the size under test inside a larger harness page. A script
/// added to that copy of the dashboard (the product page has none) walks
/// every text node, takes its boxes with `Range.getClientRects`, and checks
/// them against each other, against the viewport, against the SVG or card
/// that holds them, and counts each chart's drawn marks; it posts the
/// findings to the harness, which writes them into its DOM for the dump.
/// The screenshots are taken separately at the same sizes (`--screenshot`
/// lays out at the requested size) and checked for their dimensions.
@Suite("Metrics: dashboard", .serialized)
struct DashboardTests {
    static let sizes = [(1280, 800), (390, 844)]

    /// The page for a three-persona history.
    func page() throws -> String {
        let scratch = try ScratchStore()
        defer { scratch.cleanUp() }
        let history = SyntheticHistory(
            personas: ["assistant", "pirate", "customer-support-agent"], replies: 60,
            start: recentStart)
        let recorder = MetricsRecorder(store: scratch.store)
        history.send(to: recorder)
        recorder.close()
        return try Dashboard.html(
            store: try scratch.reopen(), now: history.replies.last!.time)
    }

    @Test("the page fetches nothing and every chart has marks")
    func selfContained() throws {
        let html = try page()
        for forbidden in ["http://", "https://", "<script", "<link", "src=", "url("] {
            #expect(!html.contains(forbidden), "\(forbidden)")
        }
        let charts = html.components(separatedBy: "<svg class=\"chart\"").dropFirst()
        #expect(charts.count == 6)
        for chart in charts {
            #expect(chart.contains("class=\"mark\""), "\(chart.prefix(120))")
            #expect(!chart.contains("placeholder"))
        }
    }

    @Test("labels placed in each chart stay inside it and apart, by our own estimate")
    func estimatedLayout() throws {
        let html = try page()
        for chart in html.components(separatedBy: "<svg class=\"chart\"").dropFirst() {
            let boxes = labelBoxes(chart)
            let viewBox = try #require(chart.firstMatch(of: #/viewBox="0 0 ([0-9.]+) /#))
            let width = try #require(Double(viewBox.1))
            for (index, a) in boxes.enumerated() {
                #expect(a.minX >= 0 && a.maxX <= width, "\(a) outside 0...\(width)")
                for b in boxes[(index + 1)...] {
                    #expect(!a.intersects(b), "\(a) overlaps \(b)")
                }
            }
        }
    }

    /// Boxes of the `label` texts of one chart, as `SVGChart` estimates them.
    func labelBoxes(_ svg: String) -> [Box] {
        let end = svg.range(of: "</svg>")?.lowerBound ?? svg.endIndex
        let pattern =
            /<text class="label" x="([0-9.-]+)" y="([0-9.-]+)" text-anchor="(\w+)">([^<]*)<\/text>/
        return svg[..<end].matches(of: pattern).map { match in
            let text = String(match.4).replacingOccurrences(of: "&amp;", with: "&")
            let width = Double(text.count) * 11 * 0.65
            let x = Double(match.1)!
            let left = match.3 == "start" ? x : match.3 == "end" ? x - width : x - width / 2
            return Box(
                minX: left, maxX: left + width, minY: Double(match.2)! - 11,
                maxY: Double(match.2)! + 2)
        }
    }

    /// An estimated text box, in chart units.
    struct Box: CustomStringConvertible {
        let minX, maxX, minY, maxY: Double

        func intersects(_ other: Box) -> Bool {
            minX < other.maxX && other.minX < maxX && minY < other.maxY && other.minY < maxY
        }

        var description: String { "[\(minX)...\(maxX) × \(minY)...\(maxY)]" }
    }

    @Test("in Chromium, no text overlaps, none is clipped, no chart is empty", arguments: sizes)
    func browser(width: Int, height: Int) throws {
        let chromium = try #require(
            Chromium.path, "chromium is not installed; run scripts/install-deps")
        let folder = FileManager.default.temporaryDirectory
            .appendingPathComponent("asth-dashboard-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }

        let html = try page()
        let checked = html.replacingOccurrences(of: "</body>", with: LayoutCheck.script + "</body>")
        try Data(checked.utf8).write(to: folder.appendingPathComponent("checked.html"))
        try Data(html.utf8).write(to: folder.appendingPathComponent("dashboard.html"))
        try Data(LayoutCheck.harness(width: width, height: height).utf8)
            .write(to: folder.appendingPathComponent("harness.html"))

        // The layout check, in an iframe of the exact size.
        let dom = try Chromium.run(
            chromium,
            [
                "--window-size=\(width + 100),\(height + 200)", "--dump-dom",
                folder.appendingPathComponent("harness.html").absoluteString,
            ])
        let json = try #require(
            dom.firstMatch(of: /<pre id="result">([^<]*)<\/pre>/)?.1, "\(dom.suffix(400))")
        let result = try JSONDecoder().decode(
            LayoutCheck.Result.self,
            from: Data(
                String(json).replacingOccurrences(of: "&quot;", with: "\"")
                    .replacingOccurrences(of: "&amp;", with: "&").replacingOccurrences(
                        of: "&lt;", with: "<"
                    )
                    .replacingOccurrences(of: "&gt;", with: ">").utf8))
        #expect(result.viewport == [width, height])
        #expect(result.problems.isEmpty, "\(result.problems.joined(separator: "\n"))")
        #expect(result.charts.count == 6)
        for chart in result.charts {
            #expect(chart.marks > 0, "empty chart: \(chart.label)")
        }
        #expect(result.textBoxes > 100)

        // The screenshot, at the same size.
        let shot = folder.appendingPathComponent("dashboard-\(width)x\(height).png")
        _ = try Chromium.run(
            chromium,
            [
                "--window-size=\(width),\(height)", "--screenshot=\(shot.path)",
                folder.appendingPathComponent("dashboard.html").absoluteString,
            ])
        let png = try Data(contentsOf: shot)
        #expect(PNG.size(png) == [width, height])
        #expect(png.count > 20_000, "a near-blank screenshot of \(png.count) bytes")
        if let keep = ProcessInfo.processInfo.environment["ASTH_DASHBOARD_SHOTS"] {
            let target = URL(fileURLWithPath: keep).appendingPathComponent(shot.lastPathComponent)
            try? FileManager.default.removeItem(at: target)
            try FileManager.default.copyItem(at: shot, to: target)
            let page = URL(fileURLWithPath: keep).appendingPathComponent("dashboard-sample.html")
            try Data(html.utf8).write(to: page)
        }
    }
}

/// The headless browser.
enum Chromium {
    /// `chromium` on PATH, as Debian installs it.
    static let path: String? = {
        for folder in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(
            separator: ":")
        {
            let candidate = "\(folder)/chromium"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }()

    /// Runs headless Chromium with `arguments` and returns its standard output.
    static func run(_ path: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        // No sandbox: tests run as root in CI, where Chromium's sandbox
        // refuses to start; the page is our own file.
        process.arguments =
            [
                "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                "--no-first-run", "--disable-extensions", "--virtual-time-budget=10000",
                "--user-data-dir="
                    + "\(FileManager.default.temporaryDirectory.path)/asth-chromium-profile",
            ] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }
}

/// The width and height in a PNG's IHDR chunk.
enum PNG {
    static func size(_ data: Data) -> [Int] {
        guard data.count >= 24 else { return [] }
        let bytes = [UInt8](data.prefix(24))
        func int(_ at: Int) -> Int { bytes[at..<at + 4].reduce(0) { $0 << 8 | Int($1) } }
        return [int(16), int(20)]
    }
}
