import Foundation
import Testing

@testable import OpenAIAPI

@Suite("Request parsing and stop strings")
struct RequestParsingTests {
    /// Stop strings, pieces as they arrive, the text sent, and whether it stopped.
    static let stops: [([String], [String], String, Bool)] = [
        ([], ["a", "b"], "ab", false),
        (["END"], ["hello E", "N", "D more"], "hello ", true),
        (["END"], ["hello E", "NX"], "hello ENX", false),
        (["END"], ["E", "N"], "EN", false),
        (["\n\n", "User:"], ["Hi.", "\n", "Us", "er: x"], "Hi.\n", true),
        (["\n\n", "User:"], ["Hi.\n", "\nUser:"], "Hi.", true),
        (["é"], ["caf", "é au lait"], "caf", true),
    ]

    @Test("a stop string is cut out, and text that may start one waits", arguments: stops)
    func stopMatcher(_ stops: [String], _ pieces: [String], _ sent: String, _ stopped: Bool) {
        var matcher = StopMatcher(stops: stops)
        var text = ""
        for piece in pieces {
            text += matcher.push(piece)
        }
        text += matcher.finish()
        #expect(text == sent)
        #expect(matcher.isStopped == stopped)
    }

    @Test("JSON values keep booleans, integers and other numbers apart")
    func jsonKinds() throws {
        let reader = try JSONObjectReader(
            body: Data(#"{"b": true, "i": 3, "f": 2.5, "s": "x", "n": null, "big": 1e300}"#.utf8))
        #expect(try reader.bool("b") == true)
        #expect(try reader.integer("i") == 3)
        #expect(try reader.number("f", in: 0...3, describe: "") == 2.5)
        #expect(try reader.string("s") == "x")
        #expect(try reader.string("n") == nil)
        #expect(try reader.string("absent") == nil)
        #expect(throws: OpenAIError.self) { try reader.integer("b") }
        #expect(throws: OpenAIError.self) { try reader.bool("i") }
        #expect(throws: OpenAIError.self) { try reader.integer("f") }
        #expect(throws: OpenAIError.self) { try reader.integer("big") }
        #expect(throws: OpenAIError.self) { try reader.string("i") }
    }

    @Test("a message's content may be text parts, joined in order")
    func textParts() throws {
        let request = try APIRequest.chat(
            Data(
                """
                {"model": "a", "messages": [{"role": "developer", "content": [
                  {"type": "text", "text": "Be "}, {"type": "text", "text": "kind."}]}]}
                """.utf8))
        guard case .chat(let messages) = request.completion.input else {
            Issue.record("chat input expected")
            return
        }
        #expect(messages.map(\.content) == ["Be kind."])
        #expect(messages.map(\.role) == [.system])
    }
}
