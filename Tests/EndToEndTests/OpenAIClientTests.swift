import Foundation
import Synchronization
import Testing

/// The Python interpreter of the virtual environment `scripts/openai-venv`
/// makes (`make test` runs it): `ASTH_OPENAI_PYTHON`, else the default
/// place; nil when neither exists, and the suite is skipped.
let openAIPython: String? = {
    let environment = ProcessInfo.processInfo.environment
    let candidates: [String?] = [
        environment["ASTH_OPENAI_PYTHON"],
        CLI.packageRoot.appendingPathComponent(".build/openai-venv/bin/python").path,
    ]
    return candidates.compactMap { $0 }.first { FileManager.default.isExecutableFile(atPath: $0) }
}()

/// `asth serve --http 127.0.0.1:0` driven by the official `openai` Python
/// client: models, a reply, a stream and its usage; 32 concurrent streams
/// over four personas charged as their usage says; a stream cut short
/// charged only for what was produced. Charges are read back with
/// `asth ledger history --json`.
@Suite(
    "CLI: the OpenAI API through the openai Python client", .serialized,
    .enabled(if: openAIPython != nil, "no openai client: run scripts/openai-venv"))
struct OpenAIClientTests {
    /// A figure of a usage object as a number.
    static func figure(_ usage: [String: Any]?, _ key: String) -> Int64? {
        (usage?[key] as? NSNumber)?.int64Value
    }

    @Test("the client lists the models, gets a reply, streams one and reads usage")
    func basic() throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        let daemon = try APIDaemon(cli)
        let result = try daemon.client(["basic"])

        #expect(result["models"] as? [String] == ["assistant", "pirate", "poet", "tutor"])

        // One reply, its usage whole.
        let reply = try #require(result["reply"] as? [String: Any])
        #expect(!(reply["text"] as? String ?? "").isEmpty)
        #expect(reply["model"] as? String == "assistant")
        let usage = try #require(reply["usage"] as? [String: Any])
        let prompt = try #require(Self.figure(usage, "prompt_tokens"))
        let completion = try #require(Self.figure(usage, "completion_tokens"))
        #expect(prompt > 0 && (1...12).contains(completion))
        #expect(Self.figure(usage, "total_tokens") == prompt + completion)
        #expect(Self.figure(usage, "x_micro_motes") ?? 0 > 0)
        #expect(
            abs(
                (usage["x_motes"] as? Double ?? 0) * 1e6
                    - Double(Self.figure(usage, "x_micro_motes") ?? 0)) < 1)
        for key in ["x_drafted_tokens", "x_accepted_tokens", "x_dispatches"] {
            #expect(Self.figure(usage, key) != nil, "\(key)")
        }
        #expect((usage["prompt_tokens_details"] as? [String: Any])?["cached_tokens"] != nil)

        // One stream: text, a finish, and the usage chunk.
        let stream = try #require(result["stream"] as? [String: Any])
        #expect(!(stream["text"] as? String ?? "").isEmpty)
        #expect(["stop", "length"].contains(stream["finish_reason"] as? String ?? ""))
        let streamed = try #require(stream["usage"] as? [String: Any])
        let chunks = Int64(stream["chunks"] as? Int ?? 0)
        #expect((1...(Self.figure(streamed, "completion_tokens") ?? 0)).contains(chunks))

        // The ledger charged each exactly what its usage says.
        for (persona, usage) in [("assistant", usage), ("pirate", streamed)] {
            let posts = try daemon.posts(persona)
            #expect(posts.count == 1, "\(persona)")
            #expect(
                Self.figure(posts.first, "change_micro_motes")
                    == -(Self.figure(usage, "x_micro_motes") ?? 0))
            #expect(
                Self.figure(posts.first, "output_tokens") == Self.figure(usage, "completion_tokens")
            )
        }
        #expect(daemon.stop() == 0)
    }

    @Test("32 concurrent streams over 4 personas all complete, charged as their usage says")
    func concurrentStreams() throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        let daemon = try APIDaemon(cli)
        let personas = ["assistant", "pirate", "poet", "tutor"]
        let result = try daemon.client(
            ["concurrent"] + personas + ["--count", "32", "--max-tokens", "6"])

        #expect((result["errors"] as? [String])?.isEmpty == true, "\(result["errors"] ?? "")")
        let streams = try #require(result["streams"] as? [[String: Any]])
        #expect(streams.count == 32)
        for persona in personas {
            let mine = streams.filter { $0["persona"] as? String == persona }
            let usages = mine.compactMap { $0["usage"] as? [String: Any] }
            #expect(usages.count == 8, "\(persona)")
            let charged = usages.compactMap { Self.figure($0, "x_micro_motes") }.reduce(0, +)
            let tokens = usages.compactMap { Self.figure($0, "completion_tokens") }.reduce(0, +)

            let posts = try daemon.posts(persona)
            #expect(posts.count == 8, "\(persona)")
            let posted = posts.compactMap { Self.figure($0, "change_micro_motes") }.reduce(0, +)
            let postedTokens = posts.compactMap { Self.figure($0, "output_tokens") }.reduce(0, +)
            #expect(posted == -charged, "\(persona)")
            #expect(postedTokens == tokens, "\(persona)")
            #expect(charged > 0)
        }
        #expect(daemon.stop() == 0)
    }

    @Test("a stream cut after a few tokens is charged only for the tokens produced")
    func cutStream() throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        let daemon = try APIDaemon(cli)
        let result = try daemon.client(["cut", "poet", "--after", "3"])
        let received = Int64(result["received"] as? Int ?? 0)
        #expect(received == 3)

        // The post comes once the generation has stopped: within a dispatch.
        try ServeTests.wait("the cut reply's charge", seconds: 60) {
            try !daemon.posts("poet").isEmpty
        }
        let posts = try daemon.posts("poet")
        #expect(posts.count == 1)
        let output = try #require(Self.figure(posts.first, "output_tokens"))
        // What the client read, plus what was on the wire or being made when
        // it hung up; far from the persona's 128.
        #expect((received...(received + 4)).contains(output), "\(output) tokens charged")
        #expect((Self.figure(posts.first, "change_micro_motes") ?? 0) < 0)
        #expect(daemon.stop() == 0)
    }
}
