import Foundation
import Host
import Synchronization
import Testing

@testable import OpenAIAPI

@Suite("Streamed replies")
struct StreamTests {
    static let chatBody =
        #"{"model": "assistant", "stream": true, "stream_options": {"include_usage": true}, "#
        + #""messages": [{"role": "user", "content": "Hello"}]}"#

    @Test("a chat stream sends the role, each token, the finish, the usage, then [DONE]")
    func chatStream() throws {
        let test = try TestServer()
        let response = try test.post("/v1/chat/completions", Self.chatBody, extra: ["-N"])
        #expect(response.status == 200)
        #expect(response.headers["content-type"]?.hasPrefix("text/event-stream") == true)
        let (chunks, done) = events(response.text)
        #expect(done)
        #expect(chunks.count == 1 + FakeHost.replyTokens + 2)

        // First the role, then one token per chunk.
        let deltas = chunks.compactMap {
            (($0["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any])
        }
        #expect(deltas.first?["role"] as? String == "assistant")
        let text = deltas.compactMap { $0["content"] as? String }.joined()
        #expect(text == FakeHost.reply(FakeHost.replyTokens))
        #expect(chunks.allSatisfy { $0["object"] as? String == "chat.completion.chunk" })

        // The finish, then a usage chunk with no choices, charged as the host charged.
        let finish = (chunks[chunks.count - 2]["choices"] as? [[String: Any]])?.first
        #expect(finish?["finish_reason"] as? String == "stop")
        let last = chunks[chunks.count - 1]
        #expect((last["choices"] as? [Any])?.isEmpty == true)
        let usage = try #require(last["usage"] as? [String: Any])
        let record = try #require(test.host.record(of: response.headers["x-request-id"] ?? ""))
        #expect((usage["completion_tokens"] as? Int) == FakeHost.replyTokens)
        #expect((usage["x_micro_motes"] as? NSNumber)?.int64Value == record.usage.microMotes)
    }

    @Test("without include_usage no usage chunk is sent")
    func noUsageChunk() throws {
        let test = try TestServer()
        let response = try test.post(
            "/v1/completions", #"{"model": "tutor", "prompt": "Once", "stream": true}"#,
            extra: ["-N"])
        let (chunks, done) = events(response.text)
        #expect(done)
        #expect(chunks.allSatisfy { $0["usage"] == nil })
        let text = chunks.compactMap {
            ($0["choices"] as? [[String: Any]])?.first?["text"] as? String
        }
        #expect(text.joined() == FakeHost.reply(FakeHost.replyTokens))
        #expect(chunks.allSatisfy { $0["object"] as? String == "text_completion" })
    }

    @Test("a refusal before the first token is its own status, not a stream")
    func refusedStream() throws {
        let test = try TestServer()
        let busy = try test.post(
            "/v1/chat/completions",
            #"{"model": "busy", "stream": true, "messages": [{"role": "user", "content": "x"}]}"#)
        #expect(busy.status == 429)
        #expect(busy.headers["retry-after"] == "3")
        #expect(busy.error("code") == "rate_limit_exceeded")
    }

    @Test("a failure after tokens flowed arrives as an error event, without [DONE]")
    func failingStream() throws {
        let test = try TestServer()
        let response = try test.post(
            "/v1/chat/completions",
            ErrorCase.chat(model: "failing", #""stream": true"#),
            extra: ["-N"])
        #expect(response.status == 200)
        let (chunks, done) = events(response.text)
        #expect(!done)
        let error = try #require(chunks.last?["error"] as? [String: Any])
        #expect(error["type"] as? String == "server_error")
    }

    @Test("a client that hangs up mid-stream stops the generation within a token or two")
    func hangUp() throws {
        let test = try TestServer()
        let body =
            #"{"model": "slow", "stream": true, "messages": [{"role": "user", "content": "x"}]}"#
        let curl = try StreamingCurl(
            arguments: [
                "-N", "-X", "POST", "-H", "Authorization: Bearer \(TestServer.token)",
                "-H", "Content-Type: application/json", "-d", body,
                test.base + "/v1/chat/completions",
            ])

        // Read a few tokens, then hang up.
        try curl.waitForOutput(containing: "w3 ")
        let hungUpAt = ContinuousClock.now
        curl.kill()

        // The fake records the generation once it stops.
        let deadline = ContinuousClock.now + .seconds(5)
        while test.host.finished.withLock({ $0.isEmpty }) && ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.005)
        }
        let stoppedAt = ContinuousClock.now
        let record = try #require(test.host.finished.withLock { $0.first })
        #expect(record.usage.stopReason == "cancelled")

        // Tokens made after the hang-up: the one in flight, then the one whose
        // write finds the client gone; the next dispatch never starts.
        let times = test.host.slowTokenTimes.withLock { $0 }
        let after = times.filter { $0 > hungUpAt }.count
        #expect(after <= 2, "\(after) tokens after the hang-up")
        #expect(record.usage.completionTokens == times.count)
        #expect(stoppedAt - hungUpAt < .milliseconds(3 * FakeHost.slowTokenMs + 200))
        #expect(
            record.usage.microMotes
                == FakeHost.charge(
                    prompt: record.usage.promptTokens, output: record.usage.completionTokens))
    }

    @Test("32 concurrent streams over 4 personas all complete, each charged as its usage says")
    func concurrentStreams() throws {
        let test = try TestServer()
        let personas = ["assistant", "pirate", "tutor", "critic"]
        let results = Mutex<[(persona: String, response: CurlResponse)]>([])
        DispatchQueue.concurrentPerform(iterations: 32) { index in
            let persona = personas[index % personas.count]
            let body = Self.chatBody.replacingOccurrences(of: "assistant", with: persona)
            if let response = try? test.post("/v1/chat/completions", body, extra: ["-N"]) {
                results.withLock { $0.append((persona, response)) }
            }
        }
        let all = results.withLock { $0 }
        #expect(all.count == 32)
        for (persona, response) in all {
            let (chunks, done) = events(response.text)
            #expect(done)
            let usage = chunks.last?["usage"] as? [String: Any]
            let record = test.host.record(of: response.headers["x-request-id"] ?? "")
            #expect(record?.request.persona == persona)
            #expect((usage?["x_micro_motes"] as? NSNumber)?.int64Value == record?.usage.microMotes)
            #expect((usage?["completion_tokens"] as? Int) == record?.usage.completionTokens)
        }
    }
}

/// A curl process whose output is read while it runs.
final class StreamingCurl {
    private let process = Process()
    private let output = Pipe()
    private var received = Data()

    init(arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["curl", "-sS", "--max-time", "60"] + arguments
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    /// Reads until `text` has appeared, or throws after 10 s.
    func waitForOutput(containing text: String) throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while !String(decoding: received, as: UTF8.self).contains(text) {
            guard ContinuousClock.now < deadline else {
                throw CurlFailure(description: "no '\(text)' in 10 s")
            }
            let piece = output.fileHandleForReading.availableData
            guard !piece.isEmpty else { throw CurlFailure(description: "curl ended early") }
            received.append(piece)
        }
    }

    /// Ends curl at once, closing its connection. SIGKILL, because a child
    /// of Foundation's `Process` inherits the test runner's blocked signals,
    /// SIGTERM among them, and would ignore `terminate()`.
    func kill() {
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}
