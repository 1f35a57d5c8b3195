import Foundation
import Host
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

    /// Runs `body` as a reply that Ctrl-C can stop: a watcher turns the
    /// signal's flag into `cancellation` within `watchInterval`, even while
    /// the reply waits in the host's queue and no text arrives.
    static func reply<T>(_ cancellation: Cancellation, _ body: () throws -> T) rethrows -> T {
        flag.store(false, ordering: .relaxed)
        replying.store(true, ordering: .relaxed)
        let done = Atomic<Bool>(false)
        let watcher = Thread {
            while !done.load(ordering: .relaxed) {
                if Interrupt.requested { cancellation.cancel() }
                Thread.sleep(forTimeInterval: watchInterval)
            }
        }
        watcher.start()
        defer {
            done.store(true, ordering: .relaxed)
            replying.store(false, ordering: .relaxed)
        }
        return try body()
    }

    /// How often the watcher looks at the flag: well under one dispatch.
    static let watchInterval = 0.01
}

/// The dim line after each reply: tokens, elapsed, tok/s and Motes.
enum StatusLine {
    static func text(usage: CompletionUsage, charged: Bool) -> String {
        let seconds = String(format: "%.2f", usage.elapsedMs / 1000)
        let rate = String(format: "%.1f", usage.tokensPerSecond)
        let verb = charged ? "charged" : "priced"
        var line = "\(usage.completionTokens) tokens · \(seconds) s · \(rate) tok/s"
        line += " · \(MicroMotes(usage.microMotes)) Motes \(verb)"
        if usage.stopReason == "cancelled" {
            line += " · stopped"
        } else if usage.stopReason == "length" {
            line += " · hit max_tokens"
        }
        return line
    }

    /// Prints the line to standard error, dim when that is a terminal.
    static func print(usage: CompletionUsage, charged: Bool) {
        note(text(usage: usage, charged: charged))
    }

    /// A dim note on standard error.
    static func note(_ text: String) {
        flushOutput()
        let dim = isatty(2) == 1
        let line = dim ? "\u{1B}[2m\(text)\u{1B}[0m\n" : "\(text)\n"
        FileHandle.standardError.write(Data(line.utf8))
    }
}

/// The one line `loading MODEL… NN%` on standard error while a model
/// loads, rewritten in place; only on a terminal, nothing when piped.
final class LoadLine {
    private let enabled = isatty(2) == 1
    private var shown = false

    /// Shows `step`, or clears the line once the model is ready.
    func show(_ step: ModelLoadProgress) {
        guard enabled else { return }
        guard step.stage != "ready" else { return clear() }
        let percent = Int((step.fraction * 100).rounded(.down))
        write("\r\u{1B}[Kloading \(step.model)… \(percent)%")
        shown = true
    }

    /// Removes the line, if it is shown.
    func clear() {
        guard shown else { return }
        write("\r\u{1B}[K")
        shown = false
    }

    private func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}

/// Flushes standard output (and every other C stream) so that streamed
/// text appears before anything written to standard error.
func flushOutput() {
    fflush(nil)
}
