import Foundation
import Personas
import Support
import Tokenizer

/// One conversation with a persona, as a front end holds it: the turns so
/// far and the conversation id under which the host keeps their KV cache.
///
/// Each reply sends the whole conversation; the host computes only what
/// its cache lacks. When the conversation no longer fits the context, the
/// host leaves out the oldest turns and the session forgets them too.
/// With a store, every exchange is kept, so the conversation can resume.
public final class ChatSession {
    public let service: any CompletionService
    /// The persona that answers and pays.
    public let persona: String
    /// Where exchanges are kept; nil keeps nothing.
    public let store: ConversationStore?
    /// The id the host keeps this conversation's cache under, and the store
    /// its messages.
    public private(set) var conversationId: String
    /// User and assistant turns, oldest first; the system prompt is the host's.
    public private(set) var turns: [ChatMessage] = []
    /// Whether the store holds this conversation yet: it is created with
    /// its first exchange, so a session that says nothing leaves nothing.
    private var isStored: Bool

    /// What one reply did.
    public struct Reply: Sendable {
        public var text: String
        public var usage: CompletionUsage
        /// Oldest turns the host left out to make room before this reply.
        public var droppedTurns: Int { usage.droppedMessages }
    }

    /// A new conversation with `persona`, kept in `store` if one is given.
    public init(service: any CompletionService, persona: String, store: ConversationStore? = nil) {
        self.service = service
        self.persona = persona
        self.store = store
        self.conversationId = UUID().uuidString.lowercased()
        self.isStored = false
    }

    /// The continuation of a stored conversation.
    public init(
        service: any CompletionService, store: ConversationStore, resuming: StoredConversation
    ) {
        self.service = service
        self.persona = resuming.persona
        self.store = store
        self.conversationId = resuming.id
        self.turns = resuming.turns
        self.isStored = true
    }

    /// Sends a user turn and streams the reply to `onText`; `onProgress`
    /// hears each step while the persona's model loads, before any text.
    ///
    /// A cancelled reply keeps what was produced, which is charged.
    /// - Throws: `HostError` when the host refuses; inference and ledger
    ///   errors as they come. The turn is then not added.
    public func send(
        _ text: String, cancellation: Cancellation = Cancellation(),
        onProgress: (ModelLoadProgress) -> Void = { _ in }, onText: (String) -> Void
    ) throws -> Reply {
        let message = ChatMessage(role: .user, content: text)
        var request = CompletionRequest(persona: persona, input: .chat(turns + [message]))
        request.conversation = conversationId
        var reply = ""
        let usage = try service.complete(request, cancellation: cancellation) { event in
            switch event {
            case .progress(let step):
                onProgress(step)
            case .text(let piece):
                reply += piece
                onText(piece)
            case .done:
                break
            }
        }

        // The host left out the oldest turns: forget them too.
        turns.removeFirst(min(usage.droppedMessages, turns.count))
        turns.append(message)
        turns.append(ChatMessage(role: .assistant, content: reply))
        try keep(user: text, reply: reply, usage: usage)
        return Reply(text: reply, usage: usage)
    }

    /// Stores the exchange, creating the conversation with its first one.
    private func keep(user: String, reply: String, usage: CompletionUsage) throws {
        guard let store else { return }
        if !isStored {
            _ = try store.create(persona: persona, id: conversationId)
            isStored = true
        }
        try store.append(conversation: conversationId, user: user, reply: reply, usage: usage)
    }

    /// Forgets every turn and starts a new conversation (the system prompt
    /// stays; a stored conversation stays in the store).
    public func reset() {
        turns.removeAll()
        conversationId = UUID().uuidString.lowercased()
        isStored = false
    }
}
