import Foundation
import Testing

/// `asth complete --speculate` and `asth bench --speculate` through the CLI.
@Suite("CLI: speculative decoding", .serialized)
struct SpeculationCLITests {
    static let modes = ["ngram", "draft", "auto"]

    static func complete(_ cli: CLI, prompt: String, mode: String) throws -> [String: Any] {
        let result = try cli.run([
            "complete", "--model", "smollm2-135m-instruct", "--special", "--max-tokens", "48",
            "--json", "--speculate", mode, "--prompt", prompt,
        ])
        #expect(result.status == 0, "\(result.stderr)")
        return try result.json()
    }

    @Test(
        "greedy ids with each --speculate mode equal --speculate off's",
        arguments: Reference.shared.greedy.indices)
    func sameIDs(index: Int) throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        let prompt = Reference.shared.greedy[index].prompt
        let plain = try Self.complete(cli, prompt: prompt, mode: "off")
        #expect(plain["acceptance"] is NSNull)
        for mode in Self.modes {
            let object = try Self.complete(cli, prompt: prompt, mode: mode)
            #expect(object["ids"] as? [Int] == plain["ids"] as? [Int], "mode \(mode)")
            #expect(object["speculate"] as? String == mode)
            #expect((object["eff_tok_s"] as? Double ?? 0) > 0)
            #expect(
                (object["dispatches"] as? Int ?? .max) <= (plain["dispatches"] as? Int ?? 0))
            let drafted = object["drafted"] as? Int ?? 0
            if drafted > 0 {
                let acceptance = try #require(object["acceptance"] as? Double)
                #expect(acceptance >= 0 && acceptance <= 1)
            }
            if mode == "draft" {
                // No --draft-model: the model drafts for itself, always right.
                #expect(object["acceptance"] as? Double == 1)
            }
        }
    }

    @Test("with a seed, sampled ids with each --speculate mode equal --speculate off's")
    func seededSampling() throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        func ids(_ mode: String) throws -> [Int] {
            let result = try cli.run([
                "complete", "--model", "smollm2-135m-instruct", "--max-tokens", "40", "--json",
                "--temperature", "0.9", "--seed", "1720", "--speculate", mode, "--prompt",
                "Repeat after me: one two three, one two three, one two three,",
            ])
            #expect(result.status == 0, "\(result.stderr)")
            return try result.json()["ids"] as? [Int] ?? []
        }
        let plain = try ids("off")
        #expect(plain.count > 10)
        for mode in Self.modes {
            #expect(try ids(mode) == plain, "mode \(mode)")
        }
    }

    @Test("--speculate keeps the plain completion's limits and refuses an unused --draft-model")
    func limits() throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        let model = ["complete", "--model", "smollm2-135m-instruct", "--prompt", "Hi"]
        let long = try cli.run(model + ["--speculate", "ngram", "--max-tokens", "9000"])
        #expect(long.status == 1)
        #expect(long.stderr.contains("--max-tokens"), "\(long.stderr)")
        let unused = try cli.run(
            model + ["--speculate", "ngram", "--draft-model", "smollm2-135m-instruct"])
        #expect(unused.status == 1)
        #expect(unused.stderr.contains("--draft-model"), "\(unused.stderr)")
    }

    @Test("modes complete cannot run are usage errors", arguments: ["memory", "fast"])
    func refusedModes(mode: String) throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        let result = try cli.run([
            "complete", "--model", "smollm2-135m-instruct", "--prompt", "Hi", "--speculate", mode,
        ])
        #expect(result.status == 1)
        #expect(result.stderr.contains("--speculate \(mode)"))
    }

    @Test("bench --speculate (auto when no mode is named) reports both workloads' ratios")
    func bench() throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        let result = try cli.run([
            "bench", "--speculate", "--max-tokens", "8", "--repeats", "1", "--json",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try result.json()
        let summaries = try #require(object["summaries"] as? [[String: Any]])
        #expect(summaries.compactMap { $0["kind"] as? String } == ["structured", "prose"])
        #expect(summaries.allSatisfy { ($0["ratio"] as? Double ?? 0) > 0 })
        let workloads = try #require(object["workloads"] as? [[String: Any]])
        #expect(workloads.allSatisfy { $0["identical"] as? Bool == true })
        // Each row shows the reply it measured.
        #expect(workloads.allSatisfy { !($0["reply"] as? String ?? "").isEmpty })
    }

    @Test("bench-speculate stays an alias of bench --speculate MODE")
    func benchAlias() throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        for words in [
            ["bench-speculate", "--speculate", "ngram"], ["bench", "--speculate", "ngram"],
        ] {
            let options = ["--workload", "week-list", "--max-tokens", "8", "--repeats", "1"]
            let result = try cli.run(words + options + ["--json"])
            #expect(result.status == 0, "\(result.stderr)")
            let workloads = try #require(try result.json()["workloads"] as? [[String: Any]])
            #expect(workloads.compactMap { $0["mode"] as? String } == ["ngram"])
        }
    }
}
