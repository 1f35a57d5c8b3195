import Foundation
import Inference
import Ledger
import Personas
import Support
import Testing
import Tokenizer

@testable import Host

/// The in-process service on the real model and a fresh ledger: holds,
/// posts, refusals and cancellation as a front end sees them.
@Suite(
    "LocalHost: requests held, run and charged", .serialized,
    .enabled(if: RealModel.isAvailable))
struct LocalHostTests {
    /// A host in a scratch home with one persona, `guide`, on the real model.
    final class Fixture {
        let scratch: Scratch
        let service: LocalHost

        init(
            limits: EngineLimits = EngineLimits(),
            device: @escaping @Sendable (any Device) -> any Device = { $0 }
        ) throws {
            scratch = try Scratch()
            try scratch.write(
                "guide.toml",
                """
                model = "\(RealModel.path)"
                system_prompt = "You are a guide. Answer in one sentence."
                max_tokens = 48
                [sampling]
                temperature = 0
                [economy]
                allowance_motes = 1000
                priority = 4
                """)
            let home = Home(url: scratch.url.appendingPathComponent("home"))
            service = LocalHost(
                host: PersonaHost(home: home, threads: 2),
                catalog: PersonaCatalog(directories: [scratch.url.path], isExplicit: true),
                metrics: nil, isDaemon: false, engineLimits: limits, device: device)
        }

        func ledger() throws -> Ledger { try service.host.ledger() }
    }

    static func ask(_ text: String, maxTokens: Int? = nil) -> CompletionRequest {
        CompletionRequest(
            persona: "guide", input: .chat([ChatMessage(role: .user, content: text)]),
            maxTokens: maxTokens)
    }

    @Test("a reply is held, streamed, and posted for what it produced")
    func reply() throws {
        let fixture = try Fixture()
        let request = Self.ask("Where is the sea?")
        var text = ""
        var done: CompletionUsage?
        let usage = try fixture.service.complete(request, cancellation: Cancellation()) {
            switch $0 {
            case .progress: break
            case .text(let piece): text += piece
            case .done(let final): done = final
            }
        }
        #expect(done == usage)
        #expect(!text.isEmpty && usage.completionTokens > 0)
        #expect(usage.microMotes > 0)
        #expect(try fixture.ledger().holdState(requestId: request.requestId) == .posted)
        let post = try #require(try fixture.ledger().history(persona: "guide").first)
        #expect(post.usage?.outputTokens == Int64(usage.completionTokens))
        #expect(post.change == MicroMotes(-usage.microMotes))
    }

    @Test("a reply stopped mid-way is charged only for the tokens produced")
    func cancelled() throws {
        let fixture = try Fixture()
        let stop = Cancellation()
        var pieces = 0
        let usage = try fixture.service.complete(
            Self.ask("Tell me about the tides."), cancellation: stop
        ) { event in
            if case .text = event {
                pieces += 1
                if pieces == 3 { stop.cancel() }
            }
        }
        #expect(usage.stopReason == "cancelled")
        #expect(usage.completionTokens >= 3 && usage.completionTokens <= 5)
        let post = try #require(try fixture.ledger().history(persona: "guide").first)
        #expect(post.usage?.outputTokens == Int64(usage.completionTokens))
    }

    /// The first request's 48 tokens used to end before the second request
    /// was queued when other suites loaded the machine: the second was then
    /// admitted at once and the queued state never came. The gate holds the
    /// first one's first dispatch until the refusal is seen.
    @Test("past the queue bound a request is refused as busy, and nothing is held")
    func busy() throws {
        var limits = EngineLimits()
        limits.activeSequencesMax = 1
        limits.queueDepthPerTenantMax = 1
        let gate = GatedDevice.Gate()
        let fixture = try Fixture(limits: limits) { GatedDevice($0, gate: gate) }
        let service = fixture.service

        // One generating (held in its first dispatch), one queued behind it.
        let stops = [Cancellation(), Cancellation()]
        let group = DispatchGroup()
        for (index, stop) in stops.enumerated() {
            DispatchQueue.global().async(group: group) {
                _ = try? service.complete(Self.ask("Count to a hundred."), cancellation: stop) {
                    _ in
                }
            }
            let model = { service.status().models.first }
            try Self.wait { index == 0 ? gate.isHolding : model()?.queued == 1 }
        }
        #expect(service.status().models.first?.activeSequences == 1)

        let refused = Self.ask("Hello?")
        let error = #expect(throws: HostError.self) {
            try service.complete(refused, cancellation: Cancellation()) { _ in }
        }
        guard case .busy(let depth, _) = error else {
            Issue.record("refused with \(String(describing: error)), not busy")
            return
        }
        #expect(depth == 1)
        #expect(try fixture.ledger().holdState(requestId: refused.requestId) == nil)
        stops.forEach { $0.cancel() }
        gate.open()
        group.wait()
        #expect(try fixture.ledger().openHolds().isEmpty)
    }

    @Test("two personas on one model, by store name and by path, share one mapping")
    func oneMapping() throws {
        let fixture = try Fixture()
        let models = fixture.scratch.url.appendingPathComponent("home/models")
        try FileManager.default.createDirectory(at: models, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(
            at: models.appendingPathComponent("smollm2-135m-instruct.gguf"),
            withDestinationURL: URL(fileURLWithPath: RealModel.path))
        try fixture.scratch.write(
            "mirror.toml", "model = \"smollm2-135m-instruct\"\nmax_tokens = 4\n")

        let registry = fixture.service.models
        let byName = try registry.acquire("smollm2-135m-instruct") { _ in }
        let byPath = try registry.acquire(RealModel.path) { _ in }
        #expect(byName.model === byPath.model)
        [byName, byPath].forEach(registry.release)
        for persona in ["guide", "mirror"] {
            var request = Self.ask("Hi", maxTokens: 2)
            request.persona = persona
            try fixture.service.complete(request, cancellation: Cancellation()) { _ in }
        }
        let status = fixture.service.status()
        #expect(status.models.count == 1)
        #expect(Set(status.models.first?.personas.map(\.name) ?? []) == ["guide", "mirror"])
    }

    /// Each case: a request, and the field or error it must be refused with.
    static let badRequests: [(String, @Sendable (inout CompletionRequest) -> Void, String)] = [
        ("temperature", { $0.temperature = 3 }, "temperature"),
        ("top_p", { $0.topP = 0 }, "top_p"),
        ("top_k", { $0.topK = -1 }, "top_k"),
        ("min_p", { $0.minP = 1 }, "min_p"),
        ("repeat_penalty", { $0.repeatPenalty = 0.5 }, "repeat_penalty"),
        ("max_tokens over the persona's", { $0.maxTokens = 49 }, "max_tokens"),
        ("max_tokens zero", { $0.maxTokens = 0 }, "max_tokens"),
        ("unknown persona", { $0.persona = "nobody" }, "nobody"),
        (
            "a prompt past the context",
            {
                $0.input = .chat([
                    ChatMessage(role: .user, content: String(repeating: "tide ", count: 3000))
                ])
            }, "no room"
        ),
    ]

    @Test("bad requests are refused before anything is held", arguments: badRequests.indices)
    func badRequest(index: Int) throws {
        let (name, change, word) = Self.badRequests[index]
        let fixture = try Fixture()
        var request = Self.ask("Hi")
        change(&request)
        do {
            try fixture.service.complete(request, cancellation: Cancellation()) { _ in }
            Issue.record("\(name): accepted")
        } catch let error as HostError {
            #expect(error.description.contains(word), "\(name): \(error)")
        }
        #expect(try fixture.ledger().openHolds().isEmpty)
    }

    /// Polls `condition` for up to ten seconds.
    /// Waits for `condition`, polling. The bound is generous: the first
    /// request maps the model, and CI runs the other suites at the same time
    /// on two cores, where 10 s was seen to run out.
    static func wait(_ condition: () -> Bool) throws {
        let deadline = Date().addingTimeInterval(120)
        while !condition() {
            guard Date() < deadline else {
                throw CancellationError()
            }
            Thread.sleep(forTimeInterval: 0.01)
        }
    }
}

/// A device whose dispatches wait until the test opens its gate: a
/// generation holds its sequence for as long as the test needs.
final class GatedDevice: Device, @unchecked Sendable {
    /// Shut until `open`; tells whether a dispatch waits at it.
    final class Gate: @unchecked Sendable {
        private let condition = NSCondition()
        private var isOpen = false
        private var waiting = 0

        /// Whether a dispatch is held at the gate now.
        var isHolding: Bool { condition.withLock { waiting > 0 } }

        func open() {
            condition.withLock {
                isOpen = true
                condition.broadcast()
            }
        }

        func pass() {
            condition.withLock {
                waiting += 1
                while !isOpen { condition.wait() }
                waiting -= 1
            }
        }
    }

    let base: any Device
    let gate: Gate

    init(_ base: any Device, gate: Gate) {
        self.base = base
        self.gate = gate
    }

    var name: String { base.name }
    var detail: String { base.detail }
    var rowsMax: Int { base.rowsMax }

    func makeCache(capacity: Int) -> KVCache { base.makeCache(capacity: capacity) }

    func dispatch(_ rows: [BatchRow]) throws -> Logits {
        gate.pass()
        return try base.dispatch(rows)
    }
}
