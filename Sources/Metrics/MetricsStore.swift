import Database
import Foundation
import Host
import Support

/// The metrics database: one row per dispatch and per reply, bounded by
/// `Retention`, and a counter per (family, persona, model, device, detail)
/// that only ever grows, so all-time figures and Prometheus counters survive
/// the pruning of old rows.
///
/// Kept apart from the ledger in `metrics.sqlite`: metrics are written once
/// per token and need no signature, while the ledger fsyncs every commit;
/// one file would make each slow the other.
///
/// Not thread-safe: the `MetricsRecorder`'s writer thread owns the one that
/// writes; each reader opens its own.
public final class MetricsStore {
    let db: SQLiteConnection
    public let retention: Retention
    private let log = Log("metrics")

    /// How much history the store keeps.
    public struct Retention: Sendable, Equatable {
        /// Rows older than this are deleted.
        public var maxAge: Duration
        public var repliesMax: Int
        public var dispatchesMax: Int

        public init(maxAge: Duration, repliesMax: Int, dispatchesMax: Int) {
            precondition(repliesMax > 0 && dispatchesMax > 0, "retention keeps at least a row")
            self.maxAge = maxAge
            self.repliesMax = repliesMax
            self.dispatchesMax = dispatchesMax
        }

        /// The bounds in `Limits.Metrics`.
        public static let standard = Retention(
            maxAge: .seconds(Limits.Metrics.retentionDays * 86_400),
            repliesMax: Limits.Metrics.retentionRepliesMax,
            dispatchesMax: Limits.Metrics.retentionDispatchesMax)
    }

    /// The schema version this code writes (`PRAGMA user_version`). 2 adds
    /// `replies.drafting_dispatches` (for the mean accepted length).
    static let schemaVersion: Int64 = 2

    /// How long a statement waits for another connection's lock.
    static let busyTimeoutMs: Int32 = 10_000

    /// Opens (creating and migrating) the store at `url`.
    public init(url: URL, retention: Retention = .standard) throws {
        db = try SQLiteConnection(path: url.path)
        self.retention = retention
        try db.setBusyTimeout(milliseconds: Self.busyTimeoutMs)

        // WAL lets a report read while the host writes. NORMAL sync: a power
        // cut may lose the last batch of metrics, never corrupt the file.
        _ = try db.first("PRAGMA journal_mode = WAL")
        try db.execute("PRAGMA synchronous = NORMAL")
        try migrate()
    }

    /// The store in the home folder: `<home>/metrics.sqlite`.
    public convenience init(home: Home, retention: Retention = .standard) throws {
        try home.create()
        try self.init(url: home.metricsURL, retention: retention)
    }

    private func migrate() throws {
        let version = try db.first("PRAGMA user_version")?.int(0) ?? 0
        guard version < Self.schemaVersion else {
            guard version == Self.schemaVersion else {
                throw MetricsError.schemaTooNew(
                    path: db.path, found: Int(version), supported: Int(Self.schemaVersion))
            }
            return
        }
        try db.writeTransaction {
            try db.execute(version == 0 ? Self.schema : Self.migrationFrom1)
            try db.execute("PRAGMA user_version = \(Self.schemaVersion)")
        }
        log.info("migrate", ["path": db.path, "schema": Self.schemaVersion])
    }

    /// From schema 1: replies recorded before count no drafting dispatches.
    static let migrationFrom1 = """
        ALTER TABLE replies ADD COLUMN drafting_dispatches INTEGER NOT NULL DEFAULT 0;
        """

    /// Times are seconds since 1970 as REAL, which holds a `Date` exactly;
    /// durations are milliseconds as REAL, as measured.
    static let schema = """
        CREATE TABLE dispatches (
            id INTEGER PRIMARY KEY,
            time_s REAL NOT NULL,
            device TEXT NOT NULL,
            model TEXT NOT NULL,
            sequences INTEGER NOT NULL,
            positions INTEGER NOT NULL,
            drafted INTEGER NOT NULL,
            accepted INTEGER NOT NULL,
            elapsed_ms REAL NOT NULL,
            completed INTEGER NOT NULL
        );
        CREATE INDEX dispatches_time ON dispatches(time_s);
        CREATE TABLE replies (
            id INTEGER PRIMARY KEY,
            time_s REAL NOT NULL,
            persona TEXT NOT NULL,
            session TEXT NOT NULL,
            model TEXT NOT NULL,
            device TEXT NOT NULL,
            prompt_tokens INTEGER NOT NULL,
            cached_prompt_tokens INTEGER NOT NULL,
            completion_tokens INTEGER NOT NULL,
            dispatches INTEGER NOT NULL,
            elapsed_ms REAL NOT NULL,
            ttft_ms REAL NOT NULL,
            drafted INTEGER NOT NULL,
            accepted INTEGER NOT NULL,
            micro_motes INTEGER NOT NULL,
            drafting_dispatches INTEGER NOT NULL DEFAULT 0,
            stop_reason TEXT NOT NULL
        );
        CREATE INDEX replies_time ON replies(time_s);
        CREATE INDEX replies_persona ON replies(persona, time_s);
        CREATE TABLE counters (
            family TEXT NOT NULL,
            persona TEXT NOT NULL,
            model TEXT NOT NULL,
            device TEXT NOT NULL,
            detail TEXT NOT NULL,
            value NOT NULL,
            PRIMARY KEY (family, persona, model, device, detail)
        ) WITHOUT ROWID;
        CREATE TABLE model_files (
            path TEXT PRIMARY KEY,
            size_bytes INTEGER NOT NULL,
            modified_s REAL NOT NULL,
            sha256 TEXT NOT NULL
        );
        """

    // MARK: - Writing

    /// Writes a batch of records and their counter increments in one
    /// transaction.
    func write(dispatches: [DispatchRecord], replies: [ReplyRecord]) throws {
        let increments = Counters.increments(dispatches: dispatches, replies: replies)
        try db.writeTransaction {
            for record in dispatches {
                try insert(record)
            }
            for record in replies {
                try insert(record)
            }
            for (key, value) in increments {
                try db.query(
                    """
                    INSERT INTO counters (family, persona, model, device, detail, value)
                    VALUES (?, ?, ?, ?, ?, ?)
                    ON CONFLICT DO UPDATE SET value = value + excluded.value
                    """,
                    [
                        .text(key.family.rawValue), .text(key.persona), .text(key.model),
                        .text(key.device), .text(key.detail), .real(value),
                    ])
            }
        }
    }

    private func insert(_ record: DispatchRecord) throws {
        try db.query(
            """
            INSERT INTO dispatches (time_s, device, model, sequences, positions, drafted,
                accepted, elapsed_ms, completed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [
                .real(record.time.timeIntervalSince1970), .text(bounded(record.device)),
                .text(bounded(record.model)), .integer(Int64(record.sequences)),
                .integer(Int64(record.positions)), .integer(Int64(record.draftedTokens)),
                .integer(Int64(record.acceptedTokens)), .real(record.elapsedMs),
                .integer(record.completed ? 1 : 0),
            ])
    }

    private func insert(_ record: ReplyRecord) throws {
        let u = record.usage
        try db.query(
            """
            INSERT INTO replies (time_s, persona, session, model, device, prompt_tokens,
                cached_prompt_tokens, completion_tokens, dispatches, elapsed_ms, ttft_ms,
                drafted, accepted, micro_motes, stop_reason, drafting_dispatches)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [
                .real(record.time.timeIntervalSince1970), .text(bounded(record.persona)),
                .text(bounded(record.session)), .text(bounded(record.model)),
                .text(bounded(record.device)), .integer(Int64(u.promptTokens)),
                .integer(Int64(u.cachedPromptTokens)), .integer(Int64(u.completionTokens)),
                .integer(Int64(u.dispatches)), .real(u.elapsedMs), .real(u.timeToFirstTokenMs),
                .integer(Int64(u.draftedTokens)), .integer(Int64(u.acceptedTokens)),
                .integer(u.microMotes), .text(bounded(u.stopReason)),
                .integer(Int64(u.draftingDispatches)),
            ])
    }

    /// Deletes rows past the retention bounds; returns how many went.
    @discardableResult
    public func prune(now: Date = Date()) throws -> Int {
        let cutoff = now.timeIntervalSince1970 - Double(retention.maxAge.components.seconds)
        return try db.writeTransaction {
            var deleted = 0
            for (table, keep) in [
                ("replies", retention.repliesMax), ("dispatches", retention.dispatchesMax),
            ] {
                try db.query("DELETE FROM \(table) WHERE time_s < ?", [.real(cutoff)])
                deleted += db.changes
                try db.query(
                    """
                    DELETE FROM \(table) WHERE id <= (
                        SELECT id FROM \(table) ORDER BY id DESC LIMIT 1 OFFSET ?)
                    """, [.integer(Int64(keep))])
                deleted += db.changes
            }
            return deleted
        }
    }

    // MARK: - Reading

    /// The newest `limit` replies matching `persona` and `since`, oldest first.
    public func replies(persona: String? = nil, since: Date? = nil, limit: Int) throws
        -> [ReplyRecord]
    {
        let rows = try db.query(
            """
            SELECT time_s, persona, session, model, device, prompt_tokens, cached_prompt_tokens,
                completion_tokens, dispatches, elapsed_ms, ttft_ms, drafted, accepted,
                micro_motes, stop_reason, drafting_dispatches
            FROM replies WHERE (?1 IS NULL OR persona = ?1) AND time_s >= ?2
            ORDER BY time_s DESC, id DESC LIMIT ?3
            """,
            [
                persona.map { .text($0) } ?? .null,
                .real(since?.timeIntervalSince1970 ?? -Double.greatestFiniteMagnitude),
                .integer(Int64(limit)),
            ])
        return rows.reversed().map(Self.reply(from:))
    }

    private static func reply(from row: SQLiteRow) -> ReplyRecord {
        var usage = CompletionUsage()
        usage.promptTokens = Int(row.int(5) ?? 0)
        usage.cachedPromptTokens = Int(row.int(6) ?? 0)
        usage.completionTokens = Int(row.int(7) ?? 0)
        usage.dispatches = Int(row.int(8) ?? 0)
        usage.elapsedMs = row.real(9)
        usage.timeToFirstTokenMs = row.real(10)
        usage.draftedTokens = Int(row.int(11) ?? 0)
        usage.acceptedTokens = Int(row.int(12) ?? 0)
        usage.microMotes = row.int(13) ?? 0
        usage.stopReason = row.text(14) ?? ""
        usage.draftingDispatches = Int(row.int(15) ?? 0)
        return ReplyRecord(
            time: Date(timeIntervalSince1970: row.real(0)), persona: row.text(1) ?? "",
            session: row.text(2) ?? "", model: row.text(3) ?? "", device: row.text(4) ?? "",
            usage: usage)
    }

    /// The newest `limit` dispatches since `since`, oldest first.
    public func dispatches(since: Date? = nil, limit: Int) throws -> [DispatchRecord] {
        let rows = try db.query(
            """
            SELECT time_s, device, model, sequences, positions, drafted, accepted, elapsed_ms,
                completed
            FROM dispatches WHERE time_s >= ? ORDER BY time_s DESC, id DESC LIMIT ?
            """,
            [
                .real(since?.timeIntervalSince1970 ?? -Double.greatestFiniteMagnitude),
                .integer(Int64(limit)),
            ])
        return rows.reversed().map { row in
            DispatchRecord(
                time: Date(timeIntervalSince1970: row.real(0)), device: row.text(1) ?? "",
                model: row.text(2) ?? "", sequences: Int(row.int(3) ?? 0),
                positions: Int(row.int(4) ?? 0), draftedTokens: Int(row.int(5) ?? 0),
                acceptedTokens: Int(row.int(6) ?? 0), elapsedMs: row.real(7),
                completed: row.int(8) == 1)
        }
    }

    /// Rows in each table, for tests and the retention log.
    public func rowCounts() throws -> (replies: Int, dispatches: Int) {
        let replies = try db.first("SELECT count(*) FROM replies")?.int(0) ?? 0
        let dispatches = try db.first("SELECT count(*) FROM dispatches")?.int(0) ?? 0
        return (Int(replies), Int(dispatches))
    }

    /// Every counter.
    public func counters() throws -> Counters {
        var counters = Counters()
        try db.forEach("SELECT family, persona, model, device, detail, value FROM counters") {
            row in
            guard let family = Counters.Family(rawValue: row.text(0) ?? "") else { return }
            let key = Counters.Key(
                family: family, persona: row.text(1) ?? "", model: row.text(2) ?? "",
                device: row.text(3) ?? "", detail: row.text(4) ?? "")
            counters.values[key] = row.real(5)
        }
        return counters
    }

    // MARK: - Model file hashes

    /// The cached SHA-256 of the file at `path`, if its size and time match.
    func cachedDigest(path: String, sizeBytes: Int, modified: Date) throws -> String? {
        let row = try db.first(
            "SELECT size_bytes, modified_s, sha256 FROM model_files WHERE path = ?",
            [.text(path)])
        guard let row, row.int(0) == Int64(sizeBytes),
            row.real(1) == modified.timeIntervalSince1970
        else { return nil }
        return row.text(2)
    }

    /// Remembers the SHA-256 of the file at `path`.
    func saveDigest(_ sha256: String, path: String, sizeBytes: Int, modified: Date) throws {
        try db.query(
            "INSERT OR REPLACE INTO model_files (path, size_bytes, modified_s, sha256)"
                + " VALUES (?, ?, ?, ?)",
            [
                .text(path), .integer(Int64(sizeBytes)),
                .real(modified.timeIntervalSince1970), .text(sha256),
            ])
    }
}

/// Cuts a name to `Limits.Metrics.nameBytesMax` bytes on a character edge.
func bounded(_ name: String) -> String {
    guard name.utf8.count > Limits.Metrics.nameBytesMax else { return name }
    var cut = ""
    for character in name {
        guard cut.utf8.count + character.utf8.count <= Limits.Metrics.nameBytesMax else { break }
        cut.append(character)
    }
    return cut
}

extension SQLiteRow {
    /// The number in `column` as a Double: REAL, or INTEGER widened.
    func real(_ column: Int) -> Double {
        switch values[column] {
        case .real(let value): return value
        case .integer(let value): return Double(value)
        default: return 0
        }
    }
}

extension Home {
    /// The metrics database.
    public var metricsURL: URL { url.appendingPathComponent("metrics.sqlite") }
}

/// What the metrics store or its reports refuse.
public enum MetricsError: Error, CustomStringConvertible, Equatable {
    /// The file was written by a newer Asthenosphere.
    case schemaTooNew(path: String, found: Int, supported: Int)
    /// `--since` could not be read.
    case badSince(value: String, limit: String)

    public var description: String {
        switch self {
        case .schemaTooNew(let path, let found, let supported):
            return "\(path): metrics schema \(found) is newer than this asth reads"
                + " (\(supported)); upgrade asth"
        case .badSince(let value, let limit):
            return "--since \(value): expected \(limit)"
        }
    }
}
