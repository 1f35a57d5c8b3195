import CEdit
import Foundation
import Host
import Ledger
import Metrics
import Personas
import Support

/// `asth chat PERSONA`: a conversation on the terminal, or line by line
/// from standard input when it is not a terminal (one line, one turn;
/// replies on standard output).
enum ChatCommand {
    static func run(_ arguments: inout Arguments) throws {
        let context = try Context(&arguments)
        let catalog = try Context.catalog(&arguments)
        let verbose = arguments.flag("--verbose")
        let resume = arguments.flag("--resume")
        let name = try arguments.required("PERSONA")
        try arguments.finish()

        // The persona, from the daemon when one runs, else from the catalog;
        // a host in this process records its metrics itself.
        var recorder: MetricsRecorder?
        let service = context.service(catalog: catalog) {
            recorder = MetricsCommand.recorder(home: context.home)
            return recorder
        }
        defer { recorder?.close() }
        let persona = try find(name, service: service, catalog: catalog)
        let interactive = isatty(0) == 1
        if interactive && service is LocalHost {
            StatusLine.note("loading \(persona.model) for \(persona.name)…")
        }
        let store = try ConversationStore(home: context.home)
        let session = try start(name, service: service, store: store, resume: resume)
        Interrupt.install()
        if interactive {
            StatusLine.note(
                "\(persona.name): \(persona.description) (/help lists commands,"
                    + " Ctrl-C stops a reply)")
        }
        let input: LineSource = interactive ? EditLine(prompt: "you› ") : StandardInput()
        try loop(session: session, input: input, interactive: interactive, verbose: verbose)
    }

    /// The persona called `name`: the daemon's, or the catalog's (whose
    /// errors name a broken file's issues).
    static func find(_ name: String, service: any CompletionService, catalog: PersonaCatalog)
        throws -> Persona
    {
        guard service is RemoteHost else { return try catalog.persona(named: name) }
        guard let persona = service.personas().first(where: { $0.name == name }) else {
            throw HostError.unknownPersona(name: name)
        }
        return persona
    }

    /// A new conversation, or with `--resume` the persona's last one.
    static func start(
        _ persona: String, service: any CompletionService, store: ConversationStore,
        resume: Bool
    ) throws -> ChatSession {
        guard resume else { return ChatSession(service: service, persona: persona, store: store) }
        guard let last = try store.latest(persona: persona) else {
            StatusLine.note("no conversation with \(persona) to resume; starting a new one")
            return ChatSession(service: service, persona: persona, store: store)
        }
        let date = Date(timeIntervalSince1970: Double(last.updatedMs) / 1000)
        StatusLine.note(
            "resuming the conversation of \(date.formatted(.iso8601)):"
                + " \(last.turns.count) messages (/history shows them)")
        return ChatSession(service: service, store: store, resuming: last)
    }

    static let help =
        "/history shows the conversation · /cost what it has cost · /stats its figures ·"
        + " /reset starts a new one · /bye leaves · Ctrl-C stops a reply"

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
                StatusLine.note("conversation cleared; a new one starts")
            case "/history":
                try history(session)
            case "/cost":
                try cost(session)
            case "/stats":
                try stats(session)
            case "/help":
                StatusLine.note(help)
            default:
                try reply(to: text, session: session, interactive: interactive, verbose: verbose)
            }
        }
    }

    /// Prints every stored message of the conversation.
    static func history(_ session: ChatSession) throws {
        let messages = try session.store?.history(conversation: session.conversationId) ?? []
        if messages.isEmpty {
            StatusLine.note("(no messages yet)")
        }
        let dropped = messages.count - session.turns.count
        for message in messages {
            let speaker = message.role == .user ? "you" : session.persona
            let note = message.index < dropped ? " (left out of the context)" : ""
            print("\(speaker)›\(note) \(message.content)")
        }
        flushOutput()
    }

    /// What the conversation has cost, and what the persona has left.
    static func cost(_ session: ChatSession) throws {
        let totals =
            try session.store?.totals(conversation: session.conversationId)
            ?? ConversationTotals()
        var line =
            "\(MicroMotes(totals.microMotes)) Motes charged over \(totals.replies) replies"
            + " in this conversation"
        if let ledger = try? Ledger(home: Home.fromEnvironment()),
            let balance = try? ledger.balance(persona: session.persona)
        {
            line += "; \(session.persona) has \(balance) Motes left"
        }
        StatusLine.note(line)
    }

    /// The conversation's figures: tokens, dispatches, speed, first token,
    /// and what speculation drafted and kept.
    static func stats(_ session: ChatSession) throws {
        let t =
            try session.store?.totals(conversation: session.conversationId)
            ?? ConversationTotals()
        StatusLine.note(
            "\(t.replies) replies · prompt \(t.promptTokens) tokens (cached"
                + " \(t.cachedPromptTokens)) · \(t.completionTokens) tokens generated in"
                + " \(t.dispatches) dispatches · \(fixed(t.dispatchesPerSecond)) tok/s ·"
                + " \(fixed(t.tokensPerSecond)) eff tok/s · first token"
                + " \(Int(t.meanTimeToFirstTokenMs)) ms on average")
        if let acceptance = t.acceptance {
            StatusLine.note(
                "speculation: \(t.acceptedTokens) of \(t.draftedTokens) drafts accepted"
                    + " (\(fixed(acceptance * 100)) %) · mean accepted length"
                    + " \(fixed(t.meanAcceptedLength ?? 0, digits: 2)) per drafting dispatch")
        }
    }

    private static func fixed(_ value: Double, digits: Int = 1) -> String {
        String(format: "%.\(digits)f", value)
    }

    static func reply(to text: String, session: ChatSession, interactive: Bool, verbose: Bool)
        throws
    {
        // The speaker's name comes with the first piece, after any loading line.
        var named = !interactive
        let nameSpeaker = {
            guard !named else { return }
            print("\(session.persona)› ", terminator: "")
            named = true
        }
        let loading = LoadLine()
        let cancellation = Cancellation()
        let reply = try Interrupt.reply(cancellation) {
            defer { loading.clear() }
            return try session.send(text, cancellation: cancellation, onProgress: loading.show) {
                piece in
                loading.clear()
                nameSpeaker()
                print(piece, terminator: "")
                flushOutput()
            }
        }
        nameSpeaker()
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
