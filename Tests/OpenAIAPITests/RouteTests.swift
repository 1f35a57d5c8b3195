import Foundation
import Host
import Testing

@testable import OpenAIAPI

@Suite("OpenAI routes over a fake host")
struct RouteTests {
    @Test("GET /v1/models lists the personas as models, and one by id")
    func models() throws {
        let test = try TestServer()
        let list = try test.get("/v1/models")
        #expect(list.status == 200)
        #expect(list.json["object"] as? String == "list")
        let data = try #require(list.json["data"] as? [[String: Any]])
        #expect(data.compactMap { $0["id"] as? String } == test.host.personas().map(\.name))
        #expect(data.allSatisfy { $0["object"] as? String == "model" })

        let one = try test.get("/v1/models/pirate")
        #expect(one.status == 200)
        #expect(one.json["id"] as? String == "pirate")
    }

    @Test("a chat reply carries the text, the finish reason and every usage figure")
    func chat() throws {
        let test = try TestServer()
        let response = try test.post(
            "/v1/chat/completions",
            #"{"model": "pirate", "messages": [{"role": "user", "content": "Ahoy there"}]}"#)
        #expect(response.status == 200)
        #expect(response.json["object"] as? String == "chat.completion")
        #expect(response.json["model"] as? String == "pirate")
        let choice = try #require((response.json["choices"] as? [[String: Any]])?.first)
        let message = try #require(choice["message"] as? [String: Any])
        #expect(message["role"] as? String == "assistant")
        #expect(message["content"] as? String == FakeHost.reply(FakeHost.replyTokens))
        #expect(choice["finish_reason"] as? String == "stop")

        // The usage is the host's, figure by figure.
        let requestId = try #require(response.headers["x-request-id"])
        #expect(response.json["id"] as? String == "chatcmpl-\(requestId)")
        let record = try #require(test.host.record(of: requestId))
        let usage = try #require(response.json["usage"] as? [String: Any])
        let expected: [String: Double] = [
            "prompt_tokens": Double(record.usage.promptTokens),
            "completion_tokens": Double(FakeHost.replyTokens),
            "total_tokens": Double(record.usage.promptTokens + FakeHost.replyTokens),
            "x_micro_motes": Double(record.usage.microMotes),
            "x_motes": Double(record.usage.microMotes) / 1e6,
            "x_drafted_tokens": 3, "x_accepted_tokens": 2,
            "x_dispatches": Double(FakeHost.replyTokens), "x_elapsed_ms": 1.5,
            "x_acceptance": 2.0 / 3.0,
            "x_tok_s": Double(FakeHost.replyTokens) * 1000 / 1.5,
            "x_eff_tok_s": Double(FakeHost.replyTokens) * 1000 / 1.5,
        ]
        for (key, value) in expected {
            #expect((usage[key] as? NSNumber)?.doubleValue == value, "\(key)")
        }
        let details = try #require(usage["prompt_tokens_details"] as? [String: Any])
        #expect((details["cached_tokens"] as? Int) == record.usage.cachedPromptTokens)
    }

    @Test("sampling fields reach the host as overrides; max_tokens cuts with 'length'")
    func overrides() throws {
        let test = try TestServer()
        let response = try test.post(
            "/v1/chat/completions",
            """
            {"model": "tutor", "messages": [{"role": "system", "content": "Be brief."},
              {"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
             "max_tokens": 5, "temperature": 0.25, "top_p": 0.9, "top_k": 7, "min_p": 0.1,
             "repeat_penalty": 1.2, "seed": -1, "n": 1, "presence_penalty": 0, "user": "u1"}
            """)
        #expect(response.status == 200)
        let choice = try #require((response.json["choices"] as? [[String: Any]])?.first)
        #expect(choice["finish_reason"] as? String == "length")
        let record = try #require(test.host.record(of: response.headers["x-request-id"] ?? ""))
        #expect(record.usage.completionTokens == 5)
        #expect(record.request.maxTokens == 5)
        #expect(record.request.temperature == 0.25)
        #expect(record.request.topP == 0.9)
        #expect(record.request.topK == 7)
        #expect(record.request.minP == 0.1)
        #expect(record.request.repeatPenalty == 1.2)
        #expect(record.request.seed == UInt64.max)
        guard case .chat(let messages) = record.request.input else {
            Issue.record("chat input expected")
            return
        }
        #expect(messages.map(\.role) == [.system, .user])
        #expect(messages.map(\.content) == ["Be brief.", "Hi"])
    }

    @Test("a stop string ends the reply before it and stops the generation")
    func stopString() throws {
        let test = try TestServer()
        let response = try test.post(
            "/v1/chat/completions",
            """
            {"model": "assistant", "messages": [{"role": "user", "content": "x"}],
             "stop": ["w3", "zz"]}
            """)
        #expect(response.status == 200)
        let choice = try #require((response.json["choices"] as? [[String: Any]])?.first)
        #expect((choice["message"] as? [String: Any])?["content"] as? String == "w0 w1 w2 ")
        #expect(choice["finish_reason"] as? String == "stop")
        let record = try #require(test.host.record(of: response.headers["x-request-id"] ?? ""))
        #expect(record.usage.stopReason == "cancelled")
        #expect(record.usage.completionTokens == 4)
    }

    @Test("POST /v1/completions takes a raw prompt and answers with text")
    func rawCompletion() throws {
        let test = try TestServer()
        let response = try test.post(
            "/v1/completions",
            """
            {"model": "critic", "prompt": ["<|im_start|>user"], "x_special": true,
             "max_tokens": 3}
            """)
        #expect(response.status == 200)
        #expect(response.json["object"] as? String == "text_completion")
        #expect(response.json["id"] as? String == "cmpl-\(response.headers["x-request-id"] ?? "")")
        let choice = try #require((response.json["choices"] as? [[String: Any]])?.first)
        #expect(choice["text"] as? String == "w0 w1 w2 ")
        #expect(choice.keys.contains("logprobs"))
        let record = try #require(test.host.record(of: response.headers["x-request-id"] ?? ""))
        guard case .raw(let prompt, let special) = record.request.input else {
            Issue.record("raw input expected")
            return
        }
        #expect(prompt == "<|im_start|>user")
        #expect(special)
    }

    @Test("a host shutting down answers new requests with 503, health included")
    func shuttingDown() throws {
        let test = try TestServer()
        test.server.refuseNewRequests()
        let chat = try test.post(
            "/v1/chat/completions",
            #"{"model": "pirate", "messages": [{"role": "user", "content": "Ahoy"}]}"#)
        #expect(chat.status == 503)
        #expect(chat.error("code") == "shutting_down")
        #expect(try Curl.run([test.base + "/health"]).status == 503)
        #expect(test.host.finished.withLock { $0.isEmpty })
    }

    @Test("/health answers without a token; /metrics with one, from the closure")
    func healthAndMetrics() throws {
        let exposition = "# TYPE asth_replies_total counter\nasth_replies_total 3\n"
        let test = try TestServer(metrics: { exposition })
        let health = try Curl.run([test.base + "/health"])
        #expect(health.status == 200)
        #expect(health.json["status"] as? String == "ok")
        let metrics = try test.get("/metrics")
        #expect(metrics.status == 200)
        #expect(metrics.text == exposition)
        #expect(metrics.headers["content-type"]?.hasPrefix("text/plain; version=0.0.4") == true)
        #expect(try Curl.run([test.base + "/metrics"]).status == 401)
    }
}
