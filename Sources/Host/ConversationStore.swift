import Database
import Foundation
import Support
import Tokenizer

/// One message of a stored conversation.
public struct StoredMessage: Sendable, Equatable {
    /// Its place in the conversation, from 0.
    public var index: Int
    public var role: ChatMessage.Role
    public var content: String
    /// When it was stored, Unix milliseconds.
    public var createdMs: Int64
    /// For a reply: what it used and what it cost.
    public var usage: CompletionUsage?
}

/// A conversation as stored: its id, persona, and the messages still sent
/// with each request (the oldest may have been left out to fit the context).
public struct StoredConversation: Sendable, Equatable {
    public var id: String
    public var persona: String
    public var createdMs: Int64
    public var updatedMs: Int64
    /// The messages the host still sees, oldest first.
    public var turns: [ChatMessage]
}

/// What a conversation has cost and done so far.
public struct ConversationTotals: ReplyCounts, Sendable, Equatable {
    public var replies = 0
    public var promptTokens = 0
    public var cachedPromptTokens = 0
    public var completionTokens = 0
    public var dispatches = 0
    public var elapsedMs = 0.0
    public var timeToFirstTokenMs = 0.0
    public var microMotes: Int64 = 0
    /// Speculation: draft tokens verified and accepted, and the dispatches
    /// that verified any.
    public var draftedTokens = 0
    public var acceptedTokens = 0
    public var draftingDispatches = 0

    public init() {}

    /// The mean time to first token of the replies.
    public var meanTimeToFirstTokenMs: Double {
        replies > 0 ? timeToFirstTokenMs / Double(replies) : 0
    }
}

/// Conversations kept in SQLite (`conversations.sqlite` in the home), so
/// that `asth chat PERSONA --resume` continues the last one.
///
/// One store per process; SQLite serialises writers across processes.
public final class ConversationStore: @unchecked Sendable {
    public let url: URL
    /// The connection; every call takes `lock`.
    private let db: SQLiteConnection
    private let lock = NSLock()

    /// How long a write waits for another process's lock.
    static let busyTimeoutMs: Int32 = 5_000

    /// The schema, created on first open. Messages keep their reply's usage
    /// beside them; `first_active` is the index of the oldest message still
    /// sent to the host.
    static let schema = """
        PRAGMA journal_mode = WAL;
        CREATE TABLE IF NOT EXISTS conversations (
            id TEXT PRIMARY KEY,
            persona TEXT NOT NULL,
            created_ms INTEGER NOT NULL,
            updated_ms INTEGER NOT NULL,
            first_active INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX IF NOT EXISTS conversations_by_persona
            ON conversations (persona, updated_ms);
        CREATE TABLE IF NOT EXISTS messages (
            conversation_id TEXT NOT NULL REFERENCES conversations (id),
            idx INTEGER NOT NULL,
            role TEXT NOT NULL,
            content TEXT NOT NULL,
            created_ms INTEGER NOT NULL,
            usage_json TEXT,
            PRIMARY KEY (conversation_id, idx)
        );
        """

    /// Opens the store in `home`, creating it on first use.
    public convenience init(home: Home) throws {
        try home.create()
        try self.init(url: home.url.appendingPathComponent("conversations.sqlite"))
    }

    public init(url: URL) throws {
        self.url = url
        db = try SQLiteConnection(path: url.path)
        try db.setBusyTimeout(milliseconds: Self.busyTimeoutMs)
        try db.execute(Self.schema)
    }

    /// Starts an empty conversation with `persona` and returns it.
    public func create(persona: String, id: String = UUID().uuidString.lowercased()) throws
        -> StoredConversation
    {
        let now = Self.nowMs()
        _ = try lock.withLock {
            try db.query(
                "INSERT INTO conversations (id, persona, created_ms, updated_ms)"
                    + " VALUES (?, ?, ?, ?)",
                [.text(id), .text(persona), .integer(now), .integer(now)])
        }
        return StoredConversation(
            id: id, persona: persona, createdMs: now, updatedMs: now, turns: [])
    }

    /// The persona's most recently updated conversation, nil if none.
    public func latest(persona: String) throws -> StoredConversation? {
        try lock.withLock {
            try db.readTransaction {
                guard
                    let row = try db.first(
                        """
                        SELECT id, created_ms, updated_ms, first_active FROM conversations
                        WHERE persona = ? ORDER BY updated_ms DESC, rowid DESC LIMIT 1
                        """, [.text(persona)])
                else { return nil }
                let id = row.text(0) ?? ""
                let active = try messages(id, from: Int(row.int(3) ?? 0))
                return StoredConversation(
                    id: id, persona: persona, createdMs: row.int(1) ?? 0,
                    updatedMs: row.int(2) ?? 0,
                    turns: active.map { ChatMessage(role: $0.role, content: $0.content) })
            }
        }
    }

    /// Stores one exchange: the user's message and the reply with its usage.
    /// `usage.droppedMessages` oldest messages are no longer sent.
    public func append(
        conversation id: String, user: String, reply: String, usage: CompletionUsage
    ) throws {
        let now = Self.nowMs()
        let usageJSON = String(decoding: try WireProtocol.encoder.encode(usage), as: UTF8.self)
        try lock.withLock {
            try db.writeTransaction {
                let next =
                    try db.first(
                        "SELECT COALESCE(MAX(idx) + 1, 0) FROM messages WHERE conversation_id = ?",
                        [.text(id)])?.int(0) ?? 0
                let insert = """
                    INSERT INTO messages
                        (conversation_id, idx, role, content, created_ms, usage_json)
                    VALUES (?, ?, ?, ?, ?, ?)
                    """
                try db.query(
                    insert,
                    [.text(id), .integer(next), .text("user"), .text(user), .integer(now), .null])
                try db.query(
                    insert,
                    [
                        .text(id), .integer(next + 1), .text("assistant"), .text(reply),
                        .integer(now),
                        .text(usageJSON),
                    ])
                try db.query(
                    """
                    UPDATE conversations SET updated_ms = ?, first_active = first_active + ?
                    WHERE id = ?
                    """, [.integer(now), .integer(Int64(usage.droppedMessages)), .text(id)])
            }
        }
    }

    /// Every message of the conversation, the ones left out included.
    public func history(conversation id: String) throws -> [StoredMessage] {
        try lock.withLock { try messages(id, from: 0) }
    }

    /// The sums over the conversation's replies.
    public func totals(conversation id: String) throws -> ConversationTotals {
        var totals = ConversationTotals()
        for usage in try history(conversation: id).compactMap(\.usage) {
            totals.replies += 1
            totals.promptTokens += usage.promptTokens
            totals.cachedPromptTokens += usage.cachedPromptTokens
            totals.completionTokens += usage.completionTokens
            totals.dispatches += usage.dispatches
            totals.elapsedMs += usage.elapsedMs
            totals.timeToFirstTokenMs += usage.timeToFirstTokenMs
            totals.microMotes += usage.microMotes
            totals.draftedTokens += usage.draftedTokens
            totals.acceptedTokens += usage.acceptedTokens
            totals.draftingDispatches += usage.draftingDispatches
        }
        return totals
    }

    /// Messages from index `first` on. Caller holds `lock`.
    private func messages(_ id: String, from first: Int) throws -> [StoredMessage] {
        try db.query(
            """
            SELECT idx, role, content, created_ms, usage_json FROM messages
            WHERE conversation_id = ? AND idx >= ? ORDER BY idx
            """, [.text(id), .integer(Int64(first))]
        ).map { row in
            let usage = try row.text(4).map {
                try WireProtocol.decoder.decode(CompletionUsage.self, from: Data($0.utf8))
            }
            return StoredMessage(
                index: Int(row.int(0) ?? 0),
                role: ChatMessage.Role(rawValue: row.text(1) ?? "") ?? .user,
                content: row.text(2) ?? "", createdMs: row.int(3) ?? 0, usage: usage)
        }
    }

    private static func nowMs() -> Int64 {
        Int64(Date().timeIntervalSince1970 * 1000)
    }
}
