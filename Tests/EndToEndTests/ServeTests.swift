import Foundation
import Testing

/// `asth serve` with clients through its socket: the lock, the socket's
/// mode and peer check, chat and ps through the daemon, a client that hangs
/// up mid-reply, and the drain on SIGTERM.
@Suite("CLI: the host daemon", .serialized)
struct ServeTests {
    /// An `asth serve` process in a CLI's home.
    final class Daemon {
        let process = Process()
        let cli: CLI

        var socket: URL { cli.home.appendingPathComponent("host.sock") }

        init(_ cli: CLI, arguments: [String] = []) throws {
            self.cli = cli
            process.executableURL = URL(fileURLWithPath: CLI.binary)
            process.arguments = ["serve"] + arguments
            process.currentDirectoryURL = CLI.packageRoot
            var environment = ProcessInfo.processInfo.environment
            environment["ASTH_HOME"] = cli.home.path
            environment["XDG_CONFIG_HOME"] = cli.home.appendingPathComponent("config").path
            process.environment = environment
            process.standardError = FileHandle.nullDevice
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            try ServeTests.wait("the socket") {
                FileManager.default.fileExists(atPath: self.socket.path)
            }
        }

        /// Sends SIGTERM and waits for the exit status.
        func terminate() -> Int32 {
            process.terminate()
            process.waitUntilExit()
            return process.terminationStatus
        }

        deinit {
            if process.isRunning {
                process.terminate()
                process.waitUntilExit()
            }
        }
    }

    /// Runs a command line in the CLI's home; returns its status and output.
    static func run(_ command: [String], in cli: CLI) throws -> CLI.Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        process.currentDirectoryURL = URL(fileURLWithPath: "/")
        var environment = ProcessInfo.processInfo.environment
        environment["ASTH_HOME"] = cli.home.path
        process.environment = environment
        let (stdout, stderr) = (Pipe(), Pipe())
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = FileHandle.nullDevice
        let start = Date()
        try process.run()
        let out = stdout.fileHandleForReading.readDataToEndOfFile()
        let err = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return CLI.Result(
            status: process.terminationStatus, stdout: String(decoding: out, as: UTF8.self),
            stderr: String(decoding: err, as: UTF8.self), seconds: Date().timeIntervalSince(start))
    }

    /// Polls `condition` for up to `seconds`.
    static func wait(_ what: String, seconds: Double = 30, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while try !condition() {
            guard Date() < deadline else { throw DaemonError.timedOut(what) }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    enum DaemonError: Error {
        case timedOut(String)
    }

    /// `asth ps --json` as an object.
    static func ps(_ cli: CLI) throws -> [String: Any] {
        let result = try cli.run(["ps", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        return try result.json()
    }

    static func persona(_ status: [String: Any], _ name: String) -> [String: Any]? {
        let models = status["models"] as? [[String: Any]] ?? []
        let personas = models.flatMap { $0["personas"] as? [[String: Any]] ?? [] }
        return personas.first { $0["name"] as? String == name }
    }

    @Test("one daemon per home, its socket private, chat and ps through it, SIGTERM drains")
    func lifecycle() throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        let daemon = try Daemon(cli)

        // The socket is the user's alone, and a second daemon refuses to start.
        let mode =
            try FileManager.default.attributesOfItem(atPath: daemon.socket.path)[
                .posixPermissions] as? Int
        #expect(mode == 0o600)
        let second = try cli.run(["serve"])
        #expect(second.status == 1)
        #expect(second.stderr.contains("already serves"), "\(second.stderr)")

        // A chat goes through the daemon: its dispatches show in ps.
        let chat = try cli.run(["chat", "tutor"], input: "What is a noun?\nAnd a verb?\n")
        #expect(chat.status == 0, "\(chat.stderr)")
        #expect(
            chat.stderr.split(separator: "\n").filter { $0.contains("Motes charged") }.count == 2)
        let status = try Self.ps(cli)
        #expect(status["is_daemon"] as? Bool == true)
        #expect((status["dispatches"] as? Int ?? 0) > 0)
        let tutor = try #require(Self.persona(status, "tutor"))
        #expect(tutor["replies"] as? Int == 2)
        #expect(tutor["weight"] as? Int == 3)

        // SIGTERM: exit 0, the socket removed, every hold settled.
        #expect(daemon.terminate() == 0)
        #expect(!FileManager.default.fileExists(atPath: daemon.socket.path))
        let history = try cli.run(["ledger", "history", "tutor", "--json"])
        let rows =
            try JSONSerialization.jsonObject(with: Data(history.stdout.utf8)) as? [[String: Any]]
            ?? []
        #expect(rows.filter { $0["kind"] as? String == "hold" }.count == 2)
        #expect(rows.filter { $0["kind"] as? String == "post" }.count == 2)
    }

    @Test("a client that hangs up mid-reply frees its slot and pays only for what it was sent")
    func hangUp() throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        let daemon = try Daemon(cli)

        // A long reply, killed once it has started streaming.
        let client = Process()
        client.executableURL = URL(fileURLWithPath: CLI.binary)
        client.arguments = ["chat", "assistant"]
        client.currentDirectoryURL = CLI.packageRoot
        var environment = ProcessInfo.processInfo.environment
        environment["ASTH_HOME"] = cli.home.path
        client.environment = environment
        let input = Pipe()
        let output = Pipe()
        client.standardInput = input
        client.standardOutput = output
        client.standardError = FileHandle.nullDevice
        try client.run()
        input.fileHandleForWriting.write(Data("Tell me a very long story about the sea.\n".utf8))
        _ = output.fileHandleForReading.availableData
        try Self.wait("a streaming reply") {
            (Self.persona(try Self.ps(cli), "assistant")?["tokens"] as? Int ?? 0) >= 3
        }
        kill(client.processIdentifier, SIGKILL)
        client.waitUntilExit()

        // The slot frees at once.
        try Self.wait("the slot to free", seconds: 5) {
            (Self.persona(try Self.ps(cli), "assistant")?["active_sequences"] as? Int) == 0
        }
        let produced = Self.persona(try Self.ps(cli), "assistant")?["tokens"] as? Int ?? -1
        let history = try cli.run(["ledger", "history", "assistant", "--json"])
        let rows =
            try JSONSerialization.jsonObject(with: Data(history.stdout.utf8)) as? [[String: Any]]
            ?? []
        // The charge counts the tokens handed on before the client went: the
        // engine may have made one more that reached no one.
        let post = try #require(rows.first { $0["kind"] as? String == "post" })
        let charged = post["output_tokens"] as? Int ?? -1
        #expect(charged >= 1 && charged <= produced, "charged \(charged) of \(produced)")
        #expect(produced < 256)
        #expect(daemon.terminate() == 0)
    }

    @Test(
        "another user is refused even when the socket's mode would let them in",
        .enabled(if: getuid() == 0))
    func otherUser() throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        let daemon = try Daemon(cli)
        let nobody = ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        guard FileManager.default.isExecutableFile(atPath: nobody[0]) else { return }
        try FileManager.default.setAttributes(
            [.posixPermissions: 0o755], ofItemAtPath: cli.home.path)

        // Mode 0600 keeps the socket shut; opened wide, the peer check refuses.
        let shut = try Self.run(nobody + [CLI.binary, "ps"], in: cli)
        #expect(shut.stdout.contains("no host is running"), "\(shut.stdout) \(shut.stderr)")
        chmod(daemon.socket.path, 0o666)
        let refused = try Self.run(nobody + [CLI.binary, "ps"], in: cli)
        #expect(refused.status == 1, "\(refused.stdout)")
        #expect(refused.stderr.contains("own user"), "\(refused.stderr)")
        #expect(daemon.terminate() == 0)
    }
}
