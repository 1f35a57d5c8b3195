import Foundation
import Synchronization

@testable import Ledger

/// A temporary folder holding one test's ledger and key, removed when the
/// last reference goes.
final class Scratch: Sendable {
    let folder: URL

    init() throws {
        folder = FileManager.default.temporaryDirectory
            .appendingPathComponent("asth-ledger-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(at: folder)
    }

    var ledgerURL: URL { folder.appendingPathComponent("ledger.sqlite") }
    var keyURL: URL { folder.appendingPathComponent("host.key") }

    /// Opens (or reopens) the ledger in this folder.
    func open(clock: ManualClock? = nil) throws -> Ledger {
        try Ledger(url: ledgerURL, keyURL: keyURL, clock: clock?.ledgerClock ?? .system)
    }
}

/// A clock the test moves by hand, in Unix milliseconds.
final class ManualClock: Sendable {
    /// The current time; guarded by its own mutex.
    private let nowMs: Mutex<Int64>

    /// Starts at 2025-01-01T00:00:00Z plus `offsetMs`.
    init(offsetMs: Int64 = 0) {
        nowMs = Mutex(1_735_689_600_000 + offsetMs)
    }

    var now: Int64 { nowMs.withLock { $0 } }

    func advance(ms: Int64) {
        nowMs.withLock { $0 += ms }
    }

    var ledgerClock: LedgerClock {
        LedgerClock { [self] in self.now }
    }
}

/// A usage record for tests: the default model's size on the CPU.
func usage(
    _ requestId: String, persona: String = "ada", prompt: Int64 = 20, cached: Int64 = 0,
    output: Int64 = 10, elapsedMs: Int64 = 50, parameters: Int64 = 134_515_008
) -> Usage {
    Usage(
        requestId: requestId, persona: persona, model: "smollm2-135m-instruct",
        parameterCount: parameters, promptTokens: prompt, cachedPromptTokens: cached,
        outputTokens: output, elapsedMs: elapsedMs, device: "cpu")
}

/// The folder holding this test target's sources, found from `#filePath`.
func repositoryRoot(_ file: String = #filePath) -> URL {
    URL(fileURLWithPath: file).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
}
