import Foundation

/// An `asth chat` process fed one line at a time, its output gathered as
/// it arrives, that a test can wait on and kill at any moment.
final class ChatProcess: @unchecked Sendable {
    /// What the process had written by some moment.
    struct Output {
        var stdout = Data()
        var stderr = Data()
        /// True once both streams reached their end.
        var ended = false

        /// Complete lines on standard error that acknowledge a charge.
        var statusLines: [String] {
            let text = String(decoding: stderr, as: UTF8.self)
            var lines = text.components(separatedBy: "\n")
            lines.removeLast()  // the unfinished line after the last newline
            return lines.filter { $0.contains("Motes charged") }
        }
    }

    private let process = Process()
    private let input = Pipe()
    /// Guards `output` and `openStreams`; signalled on every read.
    private let condition = NSCondition()
    private var output = Output()
    private var openStreams = 2

    /// Starts `asth ARGUMENTS` in `cli`'s home with `environment` added.
    init(cli: CLI, arguments: [String], environment: [String: String] = [:]) throws {
        process.executableURL = URL(fileURLWithPath: CLI.binary)
        process.arguments = arguments
        process.currentDirectoryURL = CLI.packageRoot
        var merged = ProcessInfo.processInfo.environment
        merged["ASTH_HOME"] = cli.home.path
        merged["XDG_CONFIG_HOME"] = cli.home.appendingPathComponent("config").path
        merged.merge(environment) { _, given in given }
        process.environment = merged
        let (stdout, stderr) = (Pipe(), Pipe())
        process.standardInput = input
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        read(stdout.fileHandleForReading, isStandardError: false)
        read(stderr.fileHandleForReading, isStandardError: true)
    }

    /// Appends what `handle` delivers to the output until its end.
    private func read(_ handle: FileHandle, isStandardError: Bool) {
        DispatchQueue.global().async {
            while true {
                let data = handle.availableData
                self.condition.lock()
                if data.isEmpty {
                    self.openStreams -= 1
                    self.output.ended = self.openStreams == 0
                } else if isStandardError {
                    self.output.stderr.append(data)
                } else {
                    self.output.stdout.append(data)
                }
                self.condition.broadcast()
                self.condition.unlock()
                if data.isEmpty { return }
            }
        }
    }

    /// Sends one turn.
    func send(_ line: String) throws {
        try input.fileHandleForWriting.write(contentsOf: Data((line + "\n").utf8))
    }

    /// The output so far.
    var snapshot: Output {
        condition.lock()
        defer { condition.unlock() }
        return output
    }

    /// Waits until `predicate` holds for the output, the output ends, or
    /// `deadline` passes; returns the output then.
    func wait(until deadline: Date, for predicate: (Output) -> Bool) -> Output {
        condition.lock()
        defer { condition.unlock() }
        while !predicate(output), !output.ended, Date() < deadline {
            _ = condition.wait(until: min(deadline, Date().addingTimeInterval(0.05)))
        }
        return output
    }

    /// Sends SIGKILL, reaps the process and returns everything it wrote.
    /// A process that already ended is only reaped (see `exitedByItself`).
    func sigkill() -> Output {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
        }
        return reap()
    }

    /// Ends standard input, waits for the process to exit and returns
    /// everything it wrote.
    func finish() -> Output {
        try? input.fileHandleForWriting.close()
        return reap()
    }

    private func reap() -> Output {
        process.waitUntilExit()
        try? input.fileHandleForWriting.close()
        return wait(until: Date().addingTimeInterval(10)) { _ in false }
    }

    /// True when the process exited rather than died of a signal.
    var exitedByItself: Bool { process.terminationReason == .exit }

    /// How the process ended: `exit N` or `signal N`.
    var termination: String {
        process.terminationReason == .exit
            ? "exit \(process.terminationStatus)" : "signal \(process.terminationStatus)"
    }
}
