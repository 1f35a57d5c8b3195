import Foundation
import Inference
import Personas
import Support
import Testing
import Tokenizer

@testable import Host

/// Speculation through `LocalHost`: the persona file's mode picks the
/// drafters, replies are the plain ones, usage carries the figures, and
/// each persona's memory is its own and outlives the process.
@Suite("LocalHost: personas that speculate", .serialized, .enabled(if: RealModel.isAvailable))
struct HostSpeculationTests {
    static let system = "You are a list maker. Answer with a numbered list."

    /// A scratch folder of personas that differ only in their mode.
    final class Fixture {
        let scratch: Scratch
        let home: Home
        static let modes = [
            "plain": "off", "auto": "auto", "ngram": "ngram", "parrot": "memory",
            "mimic": "memory",
        ]

        init() throws {
            scratch = try Scratch()
            for (name, mode) in Self.modes {
                try scratch.write(
                    "\(name).toml",
                    """
                    model = "\(RealModel.path)"
                    system_prompt = "\(HostSpeculationTests.system)"
                    max_tokens = 40
                    [sampling]
                    temperature = 0
                    [speculation]
                    mode = "\(mode)"
                    """)
            }
            home = Home(url: scratch.url.appendingPathComponent("home"))
        }

        /// A host over the fixture's home: a new one is a restart.
        func host() -> LocalHost {
            LocalHost(
                host: PersonaHost(home: home, threads: 2),
                catalog: PersonaCatalog(directories: [scratch.url.path], isExplicit: true),
                metrics: nil, isDaemon: false, engineLimits: EngineLimits())
        }
    }

    /// Asks `persona` one question; returns the reply's ids and usage.
    static func ask(_ host: LocalHost, _ persona: String, _ text: String) throws
        -> (ids: [Int], usage: CompletionUsage)
    {
        var request = CompletionRequest(
            persona: persona, input: .chat([ChatMessage(role: .user, content: text)]))
        request.returnsTokenIds = true
        var done: CompletionUsage?
        let usage = try host.complete(request, cancellation: Cancellation()) {
            if case .done(let final) = $0 { done = final }
        }
        #expect(done == usage)
        return (usage.outputIds ?? [], usage)
    }

    /// Usage figures that must hold together whatever was drafted.
    static func checkUsage(_ usage: CompletionUsage) {
        #expect(usage.acceptedTokens <= usage.draftedTokens)
        #expect(usage.draftingDispatches <= usage.dispatches)
        #expect(usage.draftedTokens == 0 || usage.draftingDispatches > 0)
        #expect(usage.completionTokens <= usage.dispatches + usage.acceptedTokens)
    }

    static let question = "List the first eight months of the year."

    @Test("greedy replies with each mode equal the plain persona's", arguments: ["auto", "ngram"])
    func greedyEqualsPlain(persona: String) throws {
        let fixture = try Fixture()
        let host = fixture.host()
        let (expected, plain) = try Self.ask(host, "plain", Self.question)
        let (ids, usage) = try Self.ask(host, persona, Self.question)
        #expect(ids == expected)
        #expect(plain.draftedTokens == 0)
        #expect(usage.draftedTokens > 0)
        Self.checkUsage(usage)
        Self.checkUsage(plain)

        // The status says who speculates: the governor's record, or none.
        let personas = try #require(host.status().models.first).personas
        let speculating = try #require(personas.first { $0.name == persona })
        let plainStatus = try #require(personas.first { $0.name == "plain" })
        #expect(speculating.speculationPauseRemaining != nil)
        #expect(speculating.speculationPauses != nil)
        #expect(plainStatus.speculationPauseRemaining == nil)
    }

    @Test("a persona's memory drafts its recurring reply, survives a restart, and is its own")
    func memory() throws {
        let fixture = try Fixture()
        var host = fixture.host()

        // The first reply drafts nothing (the memory is empty) and teaches it.
        let (first, learning) = try Self.ask(host, "parrot", Self.question)
        #expect(learning.draftedTokens == 0)
        let (second, recalled) = try Self.ask(host, "parrot", Self.question)
        #expect(second == first)
        #expect(recalled.draftedTokens > 0)
        #expect(Double(recalled.acceptedTokens) >= 0.7 * Double(recalled.draftedTokens))
        #expect(recalled.dispatches < learning.dispatches)
        Self.checkUsage(recalled)

        // Another persona with the very same prompt drafts nothing from it.
        let (mimicked, other) = try Self.ask(host, "mimic", Self.question)
        #expect(mimicked == first)
        #expect(other.draftedTokens == 0)

        // A new host over the same home remembers what the parrot learned.
        host = fixture.host()
        let (third, restarted) = try Self.ask(host, "parrot", Self.question)
        #expect(third == first)
        #expect(restarted.draftedTokens > 0)
        let store = try PersonaMemoryStore(home: fixture.home)
        #expect(try store.rowCount(persona: "parrot") > 0)
        #expect(try store.rowCount(persona: "plain") == 0)
    }

    @Test(
        "a reply its client cuts counts only the tokens the client saw",
        arguments: ["plain", "parrot"])
    func cutByClient(persona: String) throws {
        let fixture = try Fixture()
        let host = fixture.host()
        let (whole, _) = try Self.ask(host, persona, Self.question)
        #expect(whole.count > 10)

        // As an API stop string does: cancel from the third piece of text on.
        var request = CompletionRequest(
            persona: persona, input: .chat([ChatMessage(role: .user, content: Self.question)]))
        request.returnsTokenIds = true
        let cancellation = Cancellation()
        var pieces = 0
        let usage = try host.complete(request, cancellation: cancellation) { event in
            guard case .text = event else { return }
            pieces += 1
            if pieces == 3 { cancellation.cancel() }
        }
        #expect(pieces == 3)
        #expect(usage.completionTokens == 3, "a step of drafts ran on: \(usage.completionTokens)")
        #expect(usage.outputIds == Array(whole.prefix(3)))
    }

    @Test("the done event's usage carries the speculation figures across the socket")
    func wireUsage() throws {
        var usage = CompletionUsage()
        (usage.draftedTokens, usage.acceptedTokens) = (12, 9)
        (usage.draftingDispatches, usage.speculationPauses) = (4, 1)
        let line = try WireProtocol.line(usage)
        let text = String(decoding: line, as: UTF8.self)
        for key in ["drafted_tokens", "accepted_tokens", "drafting_dispatches"] {
            #expect(text.contains("\"\(key)\""), "\(text)")
        }
        let back = try WireProtocol.decoder.decode(CompletionUsage.self, from: Data(line))
        #expect(back == usage)
        #expect(back.acceptance == 0.75 && back.meanAcceptedLength == 2.25)
    }
}
