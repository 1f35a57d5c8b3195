import Foundation
import Synchronization
import Testing

/// Text one thread appends to while others read it.
final class SharedText: Sendable {
    /// Guarded by itself.
    private let text = Mutex("")

    func append(_ piece: String) {
        text.withLock { $0 += piece }
    }

    var value: String { text.withLock { $0 } }
}

/// A daemon serving the API on a port the kernel picks. Shared across
/// threads once made: `baseURL` and `token` are written only in `init`.
final class APIDaemon: @unchecked Sendable {
    let cli: CLI
    let process = Process()
    /// `http://127.0.0.1:PORT/v1`, read from the daemon's own note.
    private(set) var baseURL = ""
    private(set) var token = ""
    /// Everything the daemon wrote on standard error.
    private let stderrText = SharedText()

    init(_ cli: CLI, arguments: [String] = []) throws {
        self.cli = cli
        process.executableURL = URL(fileURLWithPath: CLI.binary)
        process.arguments = ["serve", "--http", "127.0.0.1:0"] + arguments
        process.currentDirectoryURL = CLI.packageRoot
        var environment = ProcessInfo.processInfo.environment
        environment["ASTH_HOME"] = cli.home.path
        environment["XDG_CONFIG_HOME"] = cli.home.appendingPathComponent("config").path
        process.environment = environment
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()

        // Read standard error on its own thread for as long as it runs.
        let handle = errors.fileHandleForReading
        Thread.detachNewThread { [stderrText] in
            while case let piece = handle.availableData, !piece.isEmpty {
                stderrText.append(String(decoding: piece, as: UTF8.self))
            }
        }
        try ServeTests.wait("the API's address") { self.findBaseURL() }
        let printed = try cli.run(["serve", "--print-token"])
        token = printed.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(printed.status == 0 && token.count == 64, "\(printed.stderr)")
    }

    /// Looks for `OpenAI API on http://…/v1` in what the daemon wrote.
    private func findBaseURL() -> Bool {
        let text = stderrText.value
        guard let start = text.range(of: "OpenAI API on ")?.upperBound,
            let end = text[start...].firstIndex(of: " ")
        else { return false }
        baseURL = String(text[start..<end])
        return true
    }

    /// Runs `client.py BASE TOKEN ARGS` and parses what it prints.
    func client(_ arguments: [String]) throws -> [String: Any] {
        let script = CLI.packageRoot.appendingPathComponent(
            "Tests/EndToEndTests/OpenAIClient/client.py"
        ).path
        let result = try ServeTests.run(
            [openAIPython!, script, baseURL, token] + arguments, in: cli)
        #expect(result.status == 0, "\(result.stderr)")
        let value = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8))
        return value as? [String: Any] ?? [:]
    }

    /// `curl` on `path` (under the base URL's host) with the token and,
    /// given a body, a JSON POST; the status, headers (lowercased) and body.
    func curl(_ path: String, body: String? = nil, extra: [String] = []) throws
        -> (status: Int, headers: [String: String], body: String)
    {
        var arguments = ["/usr/bin/env", "curl", "-sS", "--max-time", "120", "-D", "-"]
        arguments += ["-H", "Authorization: Bearer \(token)"] + extra
        if let body {
            arguments += ["-H", "Content-Type: application/json", "--data-binary", body]
        }
        let origin = baseURL.replacingOccurrences(of: "/v1", with: "")
        let result = try ServeTests.run(arguments + [origin + path], in: cli)
        let parts = result.stdout.components(separatedBy: "\r\n\r\n")
        var lines = (parts.first ?? "").components(separatedBy: "\r\n")
        let status = Int(lines.removeFirst().split(separator: " ").dropFirst().first ?? "") ?? 0
        var headers: [String: String] = [:]
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] =
                line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return (status, headers, parts.dropFirst().joined(separator: "\r\n\r\n"))
    }

    /// The ledger's `post` rows for `persona`.
    func posts(_ persona: String) throws -> [[String: Any]] {
        let history = try cli.run(["ledger", "history", persona, "--json", "--limit", "10000"])
        #expect(history.status == 0, "\(history.stderr)")
        let rows =
            try JSONSerialization.jsonObject(with: Data(history.stdout.utf8))
            as? [[String: Any]] ?? []
        return rows.filter { $0["kind"] as? String == "post" }
    }

    /// SIGTERM and a bounded wait; SIGKILL if the drain hangs.
    func stop() -> Int32 {
        process.terminate()
        let deadline = Date().addingTimeInterval(60)
        while process.isRunning && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.05)
        }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
        return process.terminationStatus
    }

    deinit {
        if process.isRunning {
            _ = stop()
        }
    }
}
