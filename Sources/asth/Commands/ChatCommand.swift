import CEdit
import Foundation
import Host
import Personas

/// `asth chat PERSONA`: a conversation on the terminal, or line by line
/// from standard input when it is not a terminal (one line, one turn;
/// replies on standard output).
enum ChatCommand {
    static func run(_ arguments: inout Arguments) throws {
        let context = try Context(&arguments)
        let catalog = try Context.catalog(&arguments)
        let verbose = arguments.flag("--verbose")
        if arguments.flag("--resume") {
            throw UsageError("asth chat: --resume is not available yet")
        }
        let name = try arguments.required("PERSONA")
        try arguments.finish()

        let persona = try catalog.persona(named: name)
        let interactive = isatty(0) == 1
        if interactive {
            StatusLine.note("loading \(persona.model) for \(persona.name)…")
        }
        let session = ChatSession(service: context.service(catalog: catalog), persona: name)
        Interrupt.install()
        if interactive {
            StatusLine.note(
                "\(persona.name): \(persona.description) (/bye or Ctrl-D to leave,"
                    + " Ctrl-C stops a reply)")
        }
        let input: LineSource = interactive ? EditLine(prompt: "you› ") : StandardInput()
        try loop(session: session, input: input, interactive: interactive, verbose: verbose)
    }

    /// Reads turns until `/bye` or end of input.
    static func loop(session: ChatSession, input: LineSource, interactive: Bool, verbose: Bool)
        throws
    {
        while let line = input.next() {
            let text = line.trimmingCharacters(in: .whitespacesAndNewlines)
            if text.isEmpty { continue }
            switch text {
            case "/bye", "/exit", "/quit":
                return
            case "/reset":
                session.reset()
                StatusLine.note("conversation cleared")
                continue
            case "/help":
                StatusLine.note(
                    "/bye leaves · /reset clears the conversation · Ctrl-C stops a reply")
                continue
            default:
                break
            }
            try reply(to: text, session: session, interactive: interactive, verbose: verbose)
        }
    }

    static func reply(to text: String, session: ChatSession, interactive: Bool, verbose: Bool)
        throws
    {
        if interactive {
            print("\(session.persona)› ", terminator: "")
        }
        let cancellation = Cancellation()
        let reply = try Interrupt.reply(cancellation) {
            try session.send(text, cancellation: cancellation) { piece in
                print(piece, terminator: "")
                flushOutput()
            }
        }
        print("")
        if reply.droppedTurns > 0 {
            StatusLine.note(
                "(the conversation outgrew the context: dropped the \(reply.droppedTurns)"
                    + " oldest message(s); the system prompt stays)")
        }
        StatusLine.print(usage: reply.usage, charged: true)
        if verbose {
            let u = reply.usage
            StatusLine.note(
                "prompt \(u.promptTokens) (cached \(u.cachedPromptTokens)) · dispatches"
                    + " \(u.dispatches) · first token \(Int(u.timeToFirstTokenMs)) ms")
        }
    }
}

/// Where user turns come from.
protocol LineSource {
    /// The next line, or nil at the end of input.
    func next() -> String?
}

/// Lines from a pipe or file, one turn each.
struct StandardInput: LineSource {
    func next() -> String? {
        readLine(strippingNewline: true)
    }
}

/// Lines typed at a terminal, with editing and history (libedit).
struct EditLine: LineSource {
    let prompt: String

    func next() -> String? {
        guard let raw = readline(prompt) else {
            print("")
            return nil
        }
        defer { free(raw) }
        let line = String(cString: raw)
        if !line.trimmingCharacters(in: .whitespaces).isEmpty {
            add_history(raw)
        }
        return line
    }
}
