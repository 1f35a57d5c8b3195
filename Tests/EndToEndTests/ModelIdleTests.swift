import Foundation
import Testing

/// `asth serve`'s model bounds through the CLI: a model left idle past
/// `--model-idle-seconds` leaves `asth ps`, and `--models-memory-max` is
/// checked before the daemon starts.
@Suite("CLI: the daemon's models, unloaded when idle", .serialized)
struct ModelIdleTests {
    @Test("a model idle past --model-idle-seconds is unloaded; ps shows it go")
    func idleUnload() throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        let daemon = try ServeTests.Daemon(
            cli, arguments: ["--model-idle-seconds", "1", "--models-memory-max", "64GiB"])

        // A piped client gets its reply and no loading line.
        let reply = try cli.run([
            "complete", "--model", "smollm2-135m-instruct", "--prompt", "The sea is",
            "--max-tokens", "2",
        ])
        #expect(reply.status == 0, "\(reply.stderr)")
        #expect(!reply.stderr.contains("loading"), "\(reply.stderr)")
        let loaded = try ServeTests.ps(cli)
        let memory = try #require(loaded["model_memory"] as? [String: Any])
        #expect(memory["loads"] as? Int == 1)
        #expect(memory["bound_bytes"] as? Int == 64 << 30)
        #expect(memory["idle_timeout_seconds"] as? Int == 1)

        // Within a few reaper rounds the model is gone; the counts stay.
        var status = loaded
        try ServeTests.wait("the idle unload", seconds: 60) {
            status = try ServeTests.ps(cli)
            return (status["models"] as? [Any])?.isEmpty == true
        }
        let after = try #require(status["model_memory"] as? [String: Any])
        #expect(after["idle_unloads"] as? Int == 1)
        #expect(after["used_bytes"] as? Int == 0)
        #expect((status["dispatches"] as? Int ?? 0) >= 2)
        #expect(daemon.terminate() == 0)
    }

    /// Each case: a `--models-memory-max` value the daemon refuses to start with.
    static let badSizes = ["2 parsecs", "1MiB", "2TiB", ""]

    @Test("a bad --models-memory-max names the flag, the value and the limits", arguments: badSizes)
    func badBound(size: String) throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        let result = try cli.run(["serve", "--models-memory-max", size])
        #expect(result.status == 1)
        for word in ["--models-memory-max", "= \(size):", "64.0 MiB", "1.0 TiB"] {
            #expect(result.stderr.contains(word), "\(result.stderr)")
        }
    }
}
