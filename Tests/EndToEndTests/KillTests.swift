import Foundation
import Support
import Testing

/// `asth chat` killed with SIGKILL at seeded random points (start-up and
/// model load, prefill, decode, between turns), again and again on one
/// ledger. Afterwards the file passes SQLite's integrity check and
/// `asth ledger verify`, every charge whose status line was printed is in
/// the ledger, and once the hold timeout passes no hold stays open.
///
/// `ASTH_KILL_RUNS` sets the number of kills (unset: 20 in a debug build,
/// 100, the issue's bar, in a release build), `ASTH_KILL_SEED` the seed; a
/// failure names both.
@Suite("CLI: the ledger survives kill -9", .serialized)
struct KillTests {
    #if DEBUG
        /// Kills in a default (debug) test run: enough to land in every
        /// phase, yet done in about a minute on two busy cores.
        static let runsDefault = 20
    #else
        /// Kills in a release test run: the issue's bar.
        static let runsDefault = 100
    #endif
    /// The most kills `ASTH_KILL_RUNS` may ask for.
    static let runsMax = 10_000
    /// The seed when `ASTH_KILL_SEED` is unset: "asthkill" in ASCII.
    static let seedDefault: UInt64 = 0x6173_7468_6B69_6C6C
    /// Hold timeout given to the killed processes: longer than any short
    /// reply on a busy machine, short enough to wait out once at the end.
    static let holdTimeoutMs = 15_000
    /// Turns a run may reach before its kill.
    static let turnsMax = 2
    /// The longest one step (start-up, a reply) may take before the run is
    /// called stuck.
    static let stepSecondsMax = 180.0
    static let persona = "quick"
    static let turns = ["Hi there", "Name one animal.", "And a colour?"]

    @Test("SIGKILL at random points loses no acknowledged charge and leaves no hold open")
    func killedChats() throws {
        let environment = ProcessInfo.processInfo.environment
        let runs = environment["ASTH_KILL_RUNS"].flatMap(Int.init) ?? Self.runsDefault
        try #require((1...Self.runsMax).contains(runs), "ASTH_KILL_RUNS = \(runs)")
        let seed = environment["ASTH_KILL_SEED"].flatMap { UInt64($0) } ?? Self.seedDefault
        signal(SIGPIPE, SIG_IGN)  // a turn sent to a process that just died must not kill us

        let cli = try CLI()
        defer { cli.cleanUp() }
        var killer = try Killer(cli: cli, seed: seed)
        try killer.calibrate()
        for run in 0..<runs {
            try killer.killOnce(run: run)
        }
        let tally = killer.tally
        let context = "seed \(seed), \(runs) runs"
        #expect(tally.problems.isEmpty, "\(context): \(tally.problems)")

        // Wait out the hold timeout; the next write expires what is left.
        let expiry = killer.lastKill.addingTimeInterval(Double(Self.holdTimeoutMs) / 1000 + 0.5)
        Thread.sleep(until: expiry)
        let balance = try cli.run(["ledger", "balance", Self.persona])
        #expect(balance.status == 0, "\(balance.stderr)")

        // The file, the chain, the charges and the holds.
        let file = try SQLiteFile(path: cli.home.appendingPathComponent("ledger.sqlite").path)
        #expect(try file.rows("PRAGMA integrity_check").first?.first == "ok")
        let verify = try cli.run(["ledger", "verify"])
        #expect(verify.status == 0, "\(context): \(verify.stdout) \(verify.stderr)")
        #expect(try file.integer("SELECT COUNT(*) FROM open_holds") == 0, "\(context)")
        let audit = try cli.run(["ledger", "audit", "--json"])
        #expect((try audit.json()["open_holds"] as? [Any])?.isEmpty == true, "\(audit.stdout)")
        let expired = try file.integer("SELECT COUNT(*) FROM transfers WHERE kind = 'expire'")
        // A reply whose hold expired before it ended is charged directly.
        let posts = try file.integer(
            "SELECT COUNT(*) FROM transfers WHERE kind IN ('post', 'charge')")
        #expect(posts >= Int64(tally.acknowledged))
        let found =
            tally.problems.isEmpty ? "all in the ledger" : "\(tally.problems.count) problems"
        print(
            "KillTests: \(context): killed in \(tally.phaseCounts); \(tally.acknowledged)"
                + " acknowledged charges, \(found); \(posts) posts;"
                + " \(expired) holds expired; \(tally.ledgerSizeAfter) transfers; verify exit"
                + " \(verify.status)")
    }

    @Test(
        "a hold timeout out of range is one clear error before any reply",
        arguments: ["5", "999", "86400001", "-1", "ten"])
    func holdTimeoutOutOfRange(value: String) throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        let chat = try ChatProcess(
            cli: cli, arguments: ["chat", "assistant"],
            environment: ["ASTH_HOLD_TIMEOUT_MS": value])
        try chat.send("Hi")
        let output = chat.finish()
        #expect(chat.termination == "exit 1")
        let stderr = String(decoding: output.stderr, as: UTF8.self)
        #expect(stderr.contains("ASTH_HOLD_TIMEOUT_MS = '\(value)'"), "\(stderr)")
        #expect(output.stdout.isEmpty && output.statusLines.isEmpty)
    }
}

/// Where a kill lands, as planned and as observed from the output.
enum KillPhase: String, CaseIterable, Comparable {
    /// Before the first turn: start-up, model load, opening the ledger.
    case startup
    /// A turn sent, no reply text yet.
    case prefill
    /// Reply text arriving, no status line yet.
    case decode
    /// Every turn sent so far has its status line.
    case betweenTurns = "between turns"

    static func < (a: KillPhase, b: KillPhase) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// Runs the chats and kills them, checking the ledger after each.
struct Killer {
    let cli: CLI
    let personas: URL
    var random: SplitMix64

    /// What the kills found so far.
    struct Tally {
        var acknowledged = 0
        /// Kills by the phase planned and by the phase they landed in.
        var planned: [KillPhase: Int] = [:]
        var phases: [KillPhase: Int] = [:]
        var problems: [String] = []
        var ledgerSizeAfter: Int64 = 0

        var phaseCounts: String {
            "\(Self.counts(phases)) (planned: \(Self.counts(planned)))"
        }

        static func counts(_ phases: [KillPhase: Int]) -> String {
            phases.sorted { $0.key < $1.key }.map { "\($0.key.rawValue) \($0.value)" }
                .joined(separator: ", ")
        }
    }

    var tally = Tally()
    /// Time windows of each phase, measured by `calibrate`, in seconds.
    var startupSeconds = 1.0
    var prefillSeconds = 0.5
    var decodeSeconds = 1.0
    /// The highest transfer sequence checked so far.
    var checkedSequence: Int64 = 0
    var lastKill = Date()

    init(cli: CLI, seed: UInt64) throws {
        self.cli = cli
        random = SplitMix64(seed: seed)
        personas = cli.home.appendingPathComponent("personas")
        try FileManager.default.createDirectory(at: personas, withIntermediateDirectories: true)
        let file = """
            description = "Four-token replies for the crash test."
            model = "smollm2-135m-instruct"
            max_tokens = 4
            [economy]
            allowance_motes = 100000.0
            """
        try Data(file.utf8).write(to: personas.appendingPathComponent("\(KillTests.persona).toml"))
    }

    func start() throws -> ChatProcess {
        try ChatProcess(
            cli: cli, arguments: ["chat", "--personas", personas.path, KillTests.persona],
            environment: ["ASTH_HOLD_TIMEOUT_MS": String(KillTests.holdTimeoutMs)])
    }

    /// Kills land within this share of each calibrated window, so that the
    /// timing noise of a busy machine rarely pushes one into the next phase.
    static let windowShare = 0.8
    /// The window after a status line, while the chat waits for a turn.
    static let idleSeconds = 0.25

    /// One chat of two turns, not killed, to time each phase on this machine.
    mutating func calibrate() throws {
        let chat = try start()
        let launched = Date()
        try chat.send(KillTests.turns[0])
        var output = try waitForText(chat, after: 0)
        let firstText = Date().timeIntervalSince(launched)
        output = try waitForStatus(chat, count: 1)
        try chat.send(KillTests.turns[1])
        let sent = Date()
        output = try waitForText(chat, after: output.stdout.count)
        let textAt = Date()
        _ = try waitForStatus(chat, count: 2)
        prefillSeconds = textAt.timeIntervalSince(sent)
        decodeSeconds = Date().timeIntervalSince(textAt)
        startupSeconds = max(firstText - prefillSeconds, 0.1)
        try settle(chat.sigkill(), run: -1, phase: .betweenTurns)
    }

    /// Starts a chat, kills it at a random point, and checks the ledger.
    mutating func killOnce(run: Int) throws {
        let planned = KillPhase.allCases.randomElement(using: &random)!
        let turn = planned == .startup ? 0 : Int.random(in: 0..<KillTests.turnsMax, using: &random)
        let fraction = Double.random(in: 0..<Self.windowShare, using: &random)
        let chat = try start()

        // Whole turns first, then the planned phase of the next one.
        for index in 0..<turn {
            try chat.send(KillTests.turns[index])
            _ = try waitForStatus(chat, count: index + 1)
        }
        let sentBytes = chat.snapshot.stdout.count
        switch planned {
        case .startup:
            Thread.sleep(forTimeInterval: fraction * startupSeconds)
        case .prefill:
            try chat.send(KillTests.turns[turn])
            Thread.sleep(forTimeInterval: fraction * prefillSeconds)
        case .decode:
            try chat.send(KillTests.turns[turn])
            _ = try waitForText(chat, after: sentBytes)
            Thread.sleep(forTimeInterval: fraction * decodeSeconds)
        case .betweenTurns:
            try chat.send(KillTests.turns[turn])
            _ = try waitForStatus(chat, count: turn + 1)
            Thread.sleep(forTimeInterval: fraction * Self.idleSeconds)
        }

        // Name the phase the kill landed in from what had been written.
        let before = chat.snapshot
        let output = chat.sigkill()
        lastKill = Date()
        if chat.exitedByItself {
            tally.problems.append(
                "run \(run): chat ended on its own (\(chat.termination)) before the kill: "
                    + String(decoding: output.stderr, as: UTF8.self))
        }
        let observed = Self.phase(
            of: before, turnsSent: planned == .startup ? 0 : turn + 1, sentBytes: sentBytes)
        tally.planned[planned, default: 0] += 1
        tally.phases[observed, default: 0] += 1
        try settle(output, run: run, phase: observed)
    }

    /// The phase `output` shows, given the turns sent and the bytes of
    /// standard output when the last one was sent.
    static func phase(of output: ChatProcess.Output, turnsSent: Int, sentBytes: Int) -> KillPhase {
        if turnsSent == 0 { return .startup }
        if output.statusLines.count >= turnsSent { return .betweenTurns }
        return output.stdout.count > sentBytes ? .decode : .prefill
    }

    // MARK: - Waiting

    /// Waits for reply text beyond the first `bytes` of standard output.
    func waitForText(_ chat: ChatProcess, after bytes: Int) throws -> ChatProcess.Output {
        let output = chat.wait(until: Date().addingTimeInterval(KillTests.stepSecondsMax)) {
            $0.stdout.count > bytes
        }
        guard output.stdout.count > bytes else { throw stuck(chat, output, "reply text") }
        return output
    }

    /// Waits for the `count`th status line.
    func waitForStatus(_ chat: ChatProcess, count: Int) throws -> ChatProcess.Output {
        let output = chat.wait(until: Date().addingTimeInterval(KillTests.stepSecondsMax)) {
            $0.statusLines.count >= count
        }
        guard output.statusLines.count >= count else {
            throw stuck(chat, output, "status line \(count)")
        }
        return output
    }

    func stuck(_ chat: ChatProcess, _ output: ChatProcess.Output, _ what: String) -> KillError {
        let stderr = String(decoding: chat.sigkill().stderr, as: UTF8.self)
        return KillError(description: "no \(what) within \(KillTests.stepSecondsMax) s: \(stderr)")
    }

    // MARK: - Checking

    /// After a kill: the file is sound, and every status line the process
    /// printed has its charge among the transfers written since the last
    /// check (at most one more: a post committed just before the kill).
    mutating func settle(_ output: ChatProcess.Output, run: Int, phase: KillPhase) throws {
        let file = try SQLiteFile(path: cli.home.appendingPathComponent("ledger.sqlite").path)
        let integrity = try file.rows("PRAGMA integrity_check").first?.first ?? nil
        if integrity != "ok" {
            tally.problems.append("run \(run): integrity_check: \(integrity ?? "nothing")")
        }
        var posts = try file.rows(
            """
            SELECT u.output_tokens, t.amount_micro FROM transfers t JOIN usage u
            ON u.id = t.usage_id WHERE t.kind IN ('post', 'charge') AND t.seq > \(checkedSequence)
            ORDER BY t.seq
            """
        ).map { Charge(tokens: Int($0[0] ?? "") ?? -1, micro: Int64($0[1] ?? "") ?? -1) }
        checkedSequence = try file.integer("SELECT COALESCE(MAX(seq), 0) FROM transfers")
        tally.ledgerSizeAfter = checkedSequence

        let acknowledged = output.statusLines.map(Charge.init(statusLine:))
        tally.acknowledged += acknowledged.count
        for charge in acknowledged {
            guard let index = posts.firstIndex(where: { $0.matches(charge) }) else {
                tally.problems.append(
                    "run \(run) (\(phase.rawValue)): acknowledged \(charge) is not in the ledger")
                continue
            }
            posts.remove(at: index)
        }
        if posts.count > 1 {
            tally.problems.append("run \(run): \(posts.count) charges no status line announced")
        }
    }
}

/// One charge: from a status line (Motes to one decimal) or from the
/// ledger (micro-Motes).
struct Charge: CustomStringConvertible {
    let tokens: Int
    let motes: String

    init(tokens: Int, micro: Int64) {
        self.tokens = tokens
        let tenths = (micro + 50_000) / 100_000  // half away from zero, as reports round
        motes = "\(tenths / 10).\(tenths % 10)"
    }

    /// Parses `12 tokens · 0.84 s · 14.3 tok/s · 0.3 Motes charged · …`.
    init(statusLine line: String) {
        let parts = line.components(separatedBy: " · ")
        tokens = Int(parts.first?.split(separator: " ").first ?? "") ?? -1
        let charged = parts.first { $0.hasSuffix("Motes charged") } ?? ""
        motes = String(charged.split(separator: " ").first ?? "?")
    }

    func matches(_ other: Charge) -> Bool { tokens == other.tokens && motes == other.motes }

    var description: String { "\(tokens) tokens, \(motes) Motes" }
}

struct KillError: Error, CustomStringConvertible {
    let description: String
}
