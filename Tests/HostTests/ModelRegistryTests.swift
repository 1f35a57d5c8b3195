import Foundation
import Inference
import Ledger
import Personas
import Support
import Synchronization
import Testing
import Tokenizer

@testable import Host

/// The model registry on the real model under several names (each a link
/// in a scratch folder: a different path is a different model): one
/// mapping per file, idle unloads, LRU eviction under a memory bound, the
/// busy refusal, and load progress. Time is the test's: every unload comes
/// from an explicit `reap(now:)` or from a load that needs room.
@Suite(
    "ModelRegistry: models loaded once, unloaded when idle or evicted by LRU", .serialized,
    .enabled(if: RealModel.isAvailable))
struct ModelRegistryTests {
    /// Engines with one sequence and one entry per cache, so that a model
    /// costs its file plus a few hundred MiB.
    static let limits: EngineLimits = {
        var limits = EngineLimits()
        limits.activeSequencesMax = 1
        limits.conversationsCachedMax = 1
        limits.prefixEntriesMax = 1
        return limits
    }()

    /// What one copy of the real model costs under `limits`.
    static let costBytes: Int = {
        let size = try! FileManager.default.attributesOfItem(atPath: RealModel.path)[.size]
        return ModelRegistry.costBytes(
            fileBytes: (size as! NSNumber).intValue, config: RealModel.shared.config,
            limits: limits)
    }()

    /// A host with models `a`, `b` and `c` (the real model under three
    /// paths) and personas `alpha` and `beta` on `a`, `gamma` on `b`,
    /// `delta` on `c`.
    final class Fixture: @unchecked Sendable {
        let scratch: Scratch
        let service: LocalHost
        var models: ModelRegistry { service.models }

        init(idleSeconds: Int = 600, memoryBytesMax: Int? = nil, admitsLoneModel: Bool = false)
            throws
        {
            scratch = try Scratch()
            for name in ["a", "b", "c"] {
                try Self.link(
                    RealModel.path, to: scratch.url.appendingPathComponent("\(name).gguf"))
            }
            let personas = [("alpha", "a"), ("beta", "a"), ("gamma", "b"), ("delta", "c")]
            for (persona, model) in personas {
                let path = scratch.url.appendingPathComponent("\(model).gguf").path
                try scratch.write(
                    "\(persona).toml",
                    "model = \"\(path)\"\nmax_tokens = 4\n[sampling]\ntemperature = 0\n")
            }
            let home = Home(url: scratch.url.appendingPathComponent("home"))
            service = LocalHost(
                host: PersonaHost(home: home, threads: 1),
                catalog: PersonaCatalog(directories: [scratch.url.path], isExplicit: true),
                metrics: nil, isDaemon: true, engineLimits: ModelRegistryTests.limits,
                models: ModelRegistrySettings(
                    idleSeconds: idleSeconds, memoryBytesMax: memoryBytesMax,
                    admitsLoneModel: admitsLoneModel))
        }

        /// A hard link to `source` (a new path to the same bytes), else a copy.
        static func link(_ source: String, to url: URL) throws {
            do {
                try FileManager.default.linkItem(at: URL(fileURLWithPath: source), to: url)
            } catch {
                try FileManager.default.copyItem(at: URL(fileURLWithPath: source), to: url)
            }
        }

        /// The path of model `name`.
        func path(_ name: String) -> String {
            scratch.url.appendingPathComponent("\(name).gguf").path
        }

        /// One short reply from `persona`; returns the load steps it heard.
        @discardableResult
        func ask(_ persona: String) throws -> [ModelLoadProgress] {
            var steps: [ModelLoadProgress] = []
            let request = CompletionRequest(
                persona: persona, input: .chat([ChatMessage(role: .user, content: "Hi")]),
                maxTokens: 1)
            try service.complete(request, cancellation: Cancellation()) { event in
                if case .progress(let step) = event { steps.append(step) }
            }
            return steps
        }

        /// Names of the models loaded, sorted.
        var loaded: [String] { service.status().models.map(\.name) }

        var memory: ModelMemoryStatus { models.memoryStatus() }
    }

    @Test("two personas and a path to one file share one model and one mapping")
    func loadOnce() throws {
        let fixture = try Fixture()
        try fixture.ask("alpha")
        try fixture.ask("beta")
        let first = try fixture.models.acquire(fixture.path("a")) { _ in }
        let second = try fixture.models.acquire(fixture.path("a")) { _ in }
        defer { [first, second].forEach(fixture.models.release) }

        #expect(first.model === second.model && first.engine === second.engine)
        #expect(fixture.loaded == ["a"])
        #expect(fixture.memory.loads == 1)
        let model = try #require(fixture.service.status().models.first)
        #expect(model.personas.map(\.name) == ["alpha", "beta"])
        #expect(model.state == "in_use" && model.costBytes == Self.costBytes)
    }

    @Test("concurrent first requests load a model once")
    func concurrentLoad() throws {
        let fixture = try Fixture()
        let group = DispatchGroup()
        let failures = Mutex<[String]>([])
        for persona in ["alpha", "beta", "alpha", "beta"] {
            DispatchQueue.global().async(group: group) {
                do {
                    try fixture.ask(persona)
                } catch {
                    failures.withLock { $0.append("\(persona): \(error)") }
                }
            }
        }
        group.wait()
        #expect(failures.withLock { $0 }.isEmpty)
        #expect(fixture.memory.loads == 1 && fixture.loaded == ["a"])
    }

    @Test("a model unused for the idle timeout is unloaded, mapping and all")
    func idleUnload() throws {
        let fixture = try Fixture(idleSeconds: 600)
        try fixture.ask("alpha")
        weak var model: LanguageModel?
        do {
            let lease = try fixture.models.acquire(fixture.path("a")) { _ in }
            model = lease.model
            #expect(fixture.service.status().models.first?.state == "in_use")
            fixture.models.release(lease)
        }
        let now = fixture.models.clock.now()

        // Short of the timeout nothing goes; at it the model does.
        #expect(fixture.models.reap(now: now).isEmpty)
        #expect(fixture.loaded == ["a"])
        #expect(fixture.service.status().models.first?.state == "idle")
        #expect(fixture.models.reap(now: now + .seconds(600)) == ["a"])
        #expect(fixture.loaded.isEmpty && fixture.memory.idleUnloads == 1)
        #expect(fixture.memory.usedBytes == 0)
        try Self.wait { model == nil }

        // The next request loads it again.
        try fixture.ask("beta")
        #expect(fixture.loaded == ["a"] && fixture.memory.loads == 2)
    }

    @Test("the idle timeout 0 never unloads")
    func neverUnload() throws {
        let fixture = try Fixture(idleSeconds: 0)
        try fixture.ask("alpha")
        #expect(fixture.models.reap(now: .seconds(1_000_000)).isEmpty)
        #expect(fixture.loaded == ["a"])
    }

    @Test("a load past the bound evicts the least recently used model")
    func evictionOrder() throws {
        let fixture = try Fixture(memoryBytesMax: Self.costBytes * 5 / 2)

        // a, b, then a again: b is the least recently used when c comes.
        for persona in ["alpha", "gamma", "beta"] {
            try fixture.ask(persona)
        }
        #expect(fixture.loaded == ["a", "b"])
        try fixture.ask("delta")
        #expect(fixture.loaded == ["a", "c"])
        #expect(fixture.memory.evictions == 1)

        // Now a is the oldest: b's return evicts it.
        try fixture.ask("gamma")
        #expect(fixture.loaded == ["b", "c"])
        #expect(fixture.memory.evictions == 2 && fixture.memory.loads == 4)
        #expect(fixture.memory.usedBytes == 2 * Self.costBytes)
    }

    @Test("models in use are never evicted or reaped; a load that finds no room is busy")
    func inUseIsBusy() throws {
        let fixture = try Fixture(memoryBytesMax: Self.costBytes * 5 / 2)
        let leases = try ["a", "b"].map { name in
            try fixture.models.acquire(fixture.path(name)) { _ in }
        }
        #expect(fixture.models.reap(now: .seconds(1_000_000)).isEmpty)

        // delta's model finds both in use: refused as busy, nothing held.
        let request = CompletionRequest(
            persona: "delta", input: .chat([ChatMessage(role: .user, content: "Hi")]),
            maxTokens: 1)
        let error = #expect(throws: HostError.self) {
            try fixture.service.complete(request, cancellation: Cancellation()) { _ in }
        }
        guard case .busy = error else {
            Issue.record("refused with \(String(describing: error)), not busy")
            return
        }
        #expect(fixture.loaded == ["a", "b"])
        #expect(fixture.memory.refusals == 1 && fixture.memory.evictions == 0)
        #expect(try fixture.service.host.ledger().holdState(requestId: request.requestId) == nil)

        // Once b is handed back, it is the one evicted.
        fixture.models.release(leases[1])
        try fixture.ask("delta")
        #expect(fixture.loaded == ["a", "c"])
        fixture.models.release(leases[0])
    }

    @Test("a model bigger than the bound alone is an error naming it, its size and the bound")
    func tooBig() throws {
        let bound = Self.costBytes - 1
        let fixture = try Fixture(memoryBytesMax: bound)
        let error = #expect(throws: HostError.self) { try fixture.ask("alpha") }
        let message = error?.description ?? ""
        for word in ["a costs", ByteSize.text(Self.costBytes), ByteSize.text(bound), "bound"] {
            #expect(message.contains(word), "\(message) lacks \(word)")
        }
        #expect(fixture.loaded.isEmpty && fixture.memory.usedBytes == 0)
    }

    @Test("under the default bound a model bigger than it loads alone, evicting idle ones")
    func loneModelUnderDefaultBound() throws {
        let fixture = try Fixture(memoryBytesMax: Self.costBytes - 1, admitsLoneModel: true)
        try fixture.ask("alpha")
        #expect(fixture.loaded == ["a"])

        // b takes a's place once a is idle; while b is in use, c is busy.
        try fixture.ask("gamma")
        #expect(fixture.loaded == ["b"] && fixture.memory.evictions == 1)
        let lease = try fixture.models.acquire(fixture.path("b")) { _ in }
        defer { fixture.models.release(lease) }
        let error = #expect(throws: HostError.self) { try fixture.ask("delta") }
        guard case .busy = error else {
            Issue.record("refused with \(String(describing: error)), not busy")
            return
        }
        #expect(fixture.loaded == ["b"] && fixture.memory.refusals == 1)
    }

    @Test("a load reports its steps in order, ending ready; a loaded model reports none")
    func progress() throws {
        let fixture = try Fixture()
        let steps = try fixture.ask("alpha")
        let blocks = RealModel.shared.config.blockCount
        let stages = steps.map(\.stage)
        #expect(stages.first == "mapping" && steps.first?.fraction == 0)
        #expect(stages.last == "ready" && steps.last?.fraction == 1)
        #expect(stages.filter { $0 == "binding" }.count == blocks)
        #expect(
            stages == ["mapping", "mapped"] + Array(repeating: "binding", count: blocks)
                + ["tokenizer", "device", "ready"])
        #expect(zip(steps, steps.dropFirst()).allSatisfy { $0.fraction <= $1.fraction })
        #expect(Set(steps.map(\.model)) == ["a"])
        #expect(try fixture.ask("beta").isEmpty)
    }

    @Test("a draining host refuses loads as busy")
    func drainRefuses() throws {
        let fixture = try Fixture()
        try fixture.ask("alpha")
        fixture.service.drain(within: .seconds(1))
        let error = #expect(throws: HostError.self) { try fixture.ask("gamma") }
        guard case .busy = error else {
            Issue.record("refused with \(String(describing: error)), not busy")
            return
        }
    }

    /// Polls `condition` for up to a minute: an unloaded model goes once
    /// its engine's loop has seen the stop.
    static func wait(_ condition: () -> Bool) throws {
        let deadline = Date().addingTimeInterval(60)
        while !condition() {
            guard Date() < deadline else { throw CancellationError() }
            Thread.sleep(forTimeInterval: 0.01)
        }
    }

    /// Each case: what `--models-memory-max` is given, and the bytes it means.
    static let sizes: [(String, Int?)] = [
        ("512MiB", 512 << 20), ("2GiB", 2 << 30), ("1.5 GiB", 3 << 29), ("3GB", 3_000_000_000),
        ("64mib", 64 << 20), ("4096", 4096), ("10B", 10), ("1TiB", 1 << 40),
        ("", nil), ("GiB", nil), ("-1GiB", nil), ("2 parsecs", nil), ("nan", nil),
        ("1e30GiB", nil),
    ]

    @Test("memory sizes read as people write them", arguments: sizes.indices)
    func byteSizes(index: Int) {
        let (text, bytes) = Self.sizes[index]
        #expect(ByteSize.parse(text) == bytes, "\(text)")
    }
}
