import Foundation
import Inference
import Ledger
import Synchronization

/// Ctrl-C while a reply streams: the reply stops at the next token and the
/// program goes on. A second Ctrl-C with no reply running exits.
enum Interrupt {
    /// Set by the SIGINT handler, cleared when a reply starts.
    static let flag = Atomic<Bool>(false)
    /// Whether a reply is running, so the handler knows to stop it rather
    /// than exit.
    static let replying = Atomic<Bool>(false)

    static var requested: Bool { flag.load(ordering: .relaxed) }

    /// Installs the handler; call once before the first reply.
    static func install() {
        _ = flag.load(ordering: .relaxed)
        _ = replying.load(ordering: .relaxed)
        signal(SIGINT) { _ in
            if Interrupt.replying.load(ordering: .relaxed) {
                Interrupt.flag.store(true, ordering: .relaxed)
            } else {
                _exit(130)
            }
        }
    }

    /// Runs `body` as a reply that Ctrl-C can stop.
    static func reply<T>(_ body: () throws -> T) rethrows -> T {
        flag.store(false, ordering: .relaxed)
        replying.store(true, ordering: .relaxed)
        defer { replying.store(false, ordering: .relaxed) }
        return try body()
    }
}

/// The dim line after each reply: tokens, elapsed, tok/s and Motes.
enum StatusLine {
    static func text(stats: GenerationStats, motes: MicroMotes, charged: Bool) -> String {
        let seconds = String(format: "%.2f", stats.elapsed.seconds)
        let rate = String(format: "%.1f", stats.tokensPerSecond)
        let verb = charged ? "charged" : "priced"
        var line = "\(stats.outputTokens) tokens · \(seconds) s · \(rate) tok/s"
        line += " · \(motes) Motes \(verb)"
        if stats.stopReason == .cancelled {
            line += " · stopped"
        } else if stats.stopReason == .maxTokens {
            line += " · hit max_tokens"
        }
        return line
    }

    /// Prints the line to standard error, dim when that is a terminal.
    static func print(stats: GenerationStats, motes: MicroMotes, charged: Bool) {
        note(text(stats: stats, motes: motes, charged: charged))
    }

    /// A dim note on standard error.
    static func note(_ text: String) {
        flushOutput()
        let dim = isatty(2) == 1
        let line = dim ? "\u{1B}[2m\(text)\u{1B}[0m\n" : "\(text)\n"
        FileHandle.standardError.write(Data(line.utf8))
    }
}

/// Flushes standard output (and every other C stream) so that streamed
/// text appears before anything written to standard error.
func flushOutput() {
    fflush(nil)
}
