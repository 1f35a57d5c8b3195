import Foundation
import Testing

/// A scripted session of seven replies through `asth chat`, then `asth
/// metrics` in its three forms and `asth report --html`, all on the real
/// model.
@Suite("CLI: metrics after a scripted session", .serialized)
struct MetricsCLITests {
    static let questions = [
        "What is the capital of France?", "Name one animal that lives in the sea.",
        "What colour is the sky?", "Count to three.", "Name a fruit.",
        "What is two plus two?", "Say goodbye.",
    ]

    /// A fresh home with one short-winded persona that has chatted seven times.
    static func session() throws -> (CLI, String) {
        let cli = try CLI()
        let folder = cli.home.appendingPathComponent("personas")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let persona = """
            model = "smollm2-135m-instruct"
            system_prompt = "Answer in one short sentence."
            max_tokens = 24
            [sampling]
            temperature = 0.0
            """
        try Data(persona.utf8).write(to: folder.appendingPathComponent("brief.toml"))
        let chat = try cli.run(
            ["chat", "--personas", folder.path, "brief"],
            input: questions.joined(separator: "\n") + "\n/bye\n")
        #expect(chat.status == 0, "\(chat.stderr)")
        return (cli, "brief")
    }

    @Test("the report has every section, the model filled in, and averages equal to the row means")
    func report() throws {
        let (cli, persona) = try Self.session()
        defer { cli.cleanUp() }

        // JSON: the exact figures.
        let json = try cli.run(["metrics", "--json"])
        #expect(json.status == 0, "\(json.stderr)")
        let report = try json.json()
        let rows = try #require(report["replies"] as? [[String: Any]])
        #expect(rows.count == 7)
        #expect(rows.allSatisfy { $0["persona"] as? String == persona })
        let session = try #require(report["session"] as? [String: Any])
        let averages = try #require(session["averages"] as? [String: Any])
        #expect(averages["replies"] as? Int == 7)
        let columns = [
            ("tokens_per_message", "tokens"), ("elapsed_ms_per_message", "elapsed_ms"),
            ("mean_eff_tokens_per_second", "eff_tokens_per_second"),
            ("mean_dispatches_per_second", "dispatches_per_second"),
            ("motes_per_message", "motes"), ("first_token_ms_per_message", "first_token_ms"),
        ]
        for (average, column) in columns {
            let values = rows.compactMap { ($0[column] as? NSNumber)?.doubleValue }
            #expect(values.count == 7, "\(column)")
            let mean = values.reduce(0, +) / 7
            let shown = try #require((averages[average] as? NSNumber)?.doubleValue)
            #expect(
                abs(shown - mean) <= 1e-9 * max(1, abs(mean)), "\(average): \(shown) vs \(mean)")
        }
        let tokens = rows.reduce(0.0) { $0 + (($1["tokens"] as? NSNumber)?.doubleValue ?? 0) }
        let elapsed = rows.reduce(0.0) { $0 + (($1["elapsed_ms"] as? NSNumber)?.doubleValue ?? 0) }
        let overall = try #require(
            (averages["overall_eff_tokens_per_second"] as? NSNumber)?.doubleValue)
        #expect(abs(overall - tokens / (elapsed / 1000)) < 1e-9)
        #expect((report["overall"] as? [String: Any])?["replies"] as? Int == 7)

        // The model block, filled in from the file.
        let model = try #require((report["models"] as? [[String: Any]])?.first)
        #expect(model["name"] as? String == "smollm2-135m-instruct")
        #expect(model["architecture"] as? String == "llama")
        #expect((model["parameters"] as? Int ?? 0) > 100_000_000)
        #expect((model["quantization"] as? String)?.hasPrefix("Q4_1") == true)
        #expect(model["context_tokens"] as? Int == 8192)
        #expect(
            model["sha256"] as? String
                == "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53")

        // The device: every dispatch completed, as many as the replies took.
        let device = try #require((report["devices"] as? [[String: Any]])?.first)
        #expect(device["reliability_percent"] as? Double == 100)
        let dispatches = rows.reduce(0) { $0 + ($1["dispatches"] as? Int ?? 0) }
        #expect(device["dispatches_started"] as? Int == dispatches)

        try checkText(cli, rows: rows)
    }

    /// The text: every section, no unknown model field, and each average
    /// within rounding of the mean of the rows as printed.
    func checkText(_ cli: CLI, rows: [[String: Any]]) throws {
        let text = try cli.run(["metrics"])
        #expect(text.status == 0, "\(text.stderr)")
        let out = text.stdout
        for section in [
            "DEVICE", "MODEL", "PIPELINE", "SESSION AVERAGES", "ALL-TIME AVERAGES",
            "RECENT REPLIES", "eff tok/s, mean of replies", "eff tok/s, overall",
        ] {
            #expect(out.contains(section), "missing \(section):\n\(out)")
        }
        #expect(!out.contains("unknown"), "\(out)")

        // Log rows: tokens and eff tok/s columns; session averages as printed.
        let lines = out.split(separator: "\n").map(String.init)
        let header = try #require(lines.firstIndex { $0.hasPrefix("RECENT REPLIES") })
        let logRows = lines[(header + 2)...].map {
            $0.split(separator: " ", omittingEmptySubsequences: true)
        }
        #expect(logRows.count == 7)
        // Columns: date, time, persona, tokens, dispatches, elapsed, eff, tok/s,
        // accept, Motes, TTFT, stop.
        let tokens = logRows.compactMap { Double($0[3]) }
        let eff = logRows.compactMap { Double($0[6]) }
        func shown(_ label: String) throws -> Double {
            let line = try #require(lines.first { $0.hasPrefix("  " + label) })
            let number = line.dropFirst(label.count + 2).split(separator: " ").first ?? ""
            return try #require(Double(number), "\(line)")
        }
        #expect(abs(try shown("tokens/msg") - tokens.reduce(0, +) / 7) <= 0.051)
        #expect(abs(try shown("eff tok/s, mean of replies") - eff.reduce(0, +) / 7) <= 0.1)
    }

    @Test("Prometheus counters and the HTML dashboard come from the same records")
    func exports() throws {
        let (cli, persona) = try Self.session()
        defer { cli.cleanUp() }
        let json = try cli.run(["metrics", "--json"]).json()
        let rows = try #require(json["replies"] as? [[String: Any]])
        let tokens = rows.reduce(0) { $0 + ($1["tokens"] as? Int ?? 0) }

        let prometheus = try cli.run(["metrics", "--prometheus"])
        #expect(prometheus.status == 0, "\(prometheus.stderr)")
        let sample =
            "asth_completion_tokens_total{persona=\"\(persona)\",model=\"smollm2-135m-instruct\","
            + "device=\"cpu\"} \(tokens)\n"
        #expect(prometheus.stdout.contains(sample), "\(prometheus.stdout)")
        #expect(prometheus.stdout.contains("# TYPE asth_request_duration_seconds histogram"))

        let page = cli.home.appendingPathComponent("dashboard.html")
        let report = try cli.run(["report", "--html", page.path])
        #expect(report.status == 0, "\(report.stderr)")
        let html = try String(contentsOf: page, encoding: .utf8)
        #expect(html.components(separatedBy: "<svg class=\"chart\"").count == 7)
        #expect(!html.contains("https://") && !html.contains("<script"))
    }

    @Test(
        "bad options exit 1 with the value at fault",
        arguments: [
            (["metrics", "--since", "yesterday"], "yesterday"),
            (["metrics", "--json", "--prometheus"], "--prometheus"),
            (["report"], "--html"),
        ])
    func badOptions(arguments: [String], named: String) throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        let result = try cli.run(arguments)
        #expect(result.status == 1)
        #expect(result.stderr.contains(named), "\(result.stderr)")
    }
}
