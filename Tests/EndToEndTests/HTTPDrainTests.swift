import Foundation
import Testing

/// SIGTERM with an HTTP stream in flight: new requests are refused, the
/// stream runs to its end and is charged as its usage says.
@Suite("CLI: the OpenAI API drains on SIGTERM", .serialized)
struct HTTPDrainTests {
    @Test("a stream in flight at SIGTERM ends with [DONE] and is charged in full")
    func drainsStreams() throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        let daemon = try APIDaemon(cli)
        let body =
            #"{"model": "pirate", "stream": true, "stream_options": {"include_usage": true}, "#
            + #""max_tokens": 24, "messages": [{"role": "user", "content": "Tell me of ships."}]}"#

        // Start a stream with curl and wait for its first text.
        let curl = Process()
        curl.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        curl.arguments = [
            "curl", "-sS", "-N", "--max-time", "120", "-H", "Authorization: Bearer \(daemon.token)",
            "-H", "Content-Type: application/json", "-d", body,
            daemon.baseURL + "/chat/completions",
        ]
        let output = Pipe()
        curl.standardOutput = output
        try curl.run()
        var received = Data()
        while !String(decoding: received, as: UTF8.self).contains("\"content\":\"") {
            let piece = output.fileHandleForReading.availableData
            try #require(!piece.isEmpty, "curl ended before the first text")
            received.append(piece)
        }

        // SIGTERM: the daemon exits cleanly once the stream has ended.
        #expect(daemon.stop() == 0)
        received.append(output.fileHandleForReading.readDataToEndOfFile())
        curl.waitUntilExit()
        let text = String(decoding: received, as: UTF8.self)
        #expect(text.hasSuffix("data: [DONE]\n\n"), "\(text.suffix(300))")

        // Charged exactly the usage the stream reported.
        let usageLine = try #require(
            text.components(separatedBy: "\n").last { $0.contains("\"usage\"") })
        let chunk = try #require(
            try JSONSerialization.jsonObject(with: Data(usageLine.dropFirst(6).utf8))
                as? [String: Any])
        let usage = try #require(chunk["usage"] as? [String: Any])
        let posts = try daemon.posts("pirate")
        #expect(posts.count == 1)
        #expect(
            (posts.first?["change_micro_motes"] as? NSNumber)?.int64Value
                == -((usage["x_micro_motes"] as? NSNumber)?.int64Value ?? 0))
        #expect(
            (posts.first?["output_tokens"] as? Int) == (usage["completion_tokens"] as? Int))
    }
}
