import Database
import Foundation
import Support
import Synchronization

/// Keeps every persona's memory in one SQLite file, so that drafts learned
/// from past replies survive a restart.
///
/// One table with a persona column (and a model column: ids belong to a
/// vocabulary); every statement names both, so one persona never reads
/// another's rows. `PersonaMemory` holds the table in memory and writes the
/// pairs a reply changed when it ends.
public final class PersonaMemoryStore: Sendable {
    /// The file's name in the home folder, beside the ledger.
    public static let fileName = "speculation.sqlite"

    /// How long a write waits for another process's lock: briefly, since
    /// a reply's lesson can wait for the next save (`PersonaMemory.learn`)
    /// while its client waits for this one.
    static let busyTimeoutMs: Int32 = 250

    /// The database file.
    public let path: String
    private let connection: Mutex<SQLiteConnection>
    private static let log = Log("speculation")

    static let schema = """
        CREATE TABLE IF NOT EXISTS speculation_memory (
            persona TEXT NOT NULL,
            model TEXT NOT NULL,
            context INTEGER NOT NULL,
            successor INTEGER NOT NULL,
            count INTEGER NOT NULL,
            round INTEGER NOT NULL,
            PRIMARY KEY (persona, model, context, successor)
        ) WITHOUT ROWID;
        """

    /// Opens (creating if needed) the store at `path`.
    public init(path: String) throws {
        self.path = path
        let db = try SQLiteConnection(path: path)
        try db.setBusyTimeout(milliseconds: Self.busyTimeoutMs)
        // Pages a trim frees go back to the file system (takes effect only
        // on a file without tables yet, that is, a new one).
        try db.execute("PRAGMA auto_vacuum = INCREMENTAL")
        _ = try db.first("PRAGMA journal_mode = WAL")
        try db.execute(Self.schema)
        connection = Mutex(db)
    }

    /// Opens `fileName` in `home`, creating the folder if needed.
    public convenience init(home: Home) throws {
        try home.create()
        try self.init(path: home.url.appendingPathComponent(Self.fileName).path)
    }

    /// The memory of `persona` on `model`, read from the file.
    ///
    /// - Throws: `SpeculationError.badMemoryName` for an empty or overlong
    ///   name; `SQLiteError` when the file cannot be read.
    public func memory(
        persona: String, model: String, vocabularySize: Int,
        entriesMax: Int = Limits.Speculation.memoryEntriesMax
    ) throws -> PersonaMemory {
        try Self.check(name: persona, field: "persona")
        try Self.check(name: model, field: "model")
        return try PersonaMemory(
            persona: persona, model: model, vocabularySize: vocabularySize, store: self,
            entriesMax: entriesMax)
    }

    /// The most used `limit` rows of one persona and model. Rows past
    /// `limit` (a file grown by hand, or written with a larger bound) are
    /// deleted first, so that the file keeps the bound too; then rows no
    /// table could have written (a damaged or edited file) are deleted and
    /// logged, rather than skipped at every load; so are successors past
    /// the model's `vocabularySize`.
    func load(persona: String, model: String, limit: Int, vocabularySize: Int) throws
        -> [NGramTable.Row]
    {
        try trim(persona: persona, model: model, keeping: limit)
        let (rows, damaged) = try read(
            persona: persona, model: model, limit: limit, vocabularySize: vocabularySize)
        guard !damaged.isEmpty else { return rows }
        let delete = """
            DELETE FROM speculation_memory
            WHERE persona = ? AND model = ? AND context IS ? AND successor IS ?
            """
        try connection.withLock { db in
            try db.writeTransaction {
                for (context, successor) in damaged {
                    _ = try db.query(delete, [.text(persona), .text(model), context, successor])
                }
            }
        }
        Self.log.warn(
            "load: deleted malformed rows",
            ["file": path, "persona": persona, "model": model, "rows": damaged.count])
        return rows
    }

    /// The first `limit` rows in `rank` order: those a table could have
    /// written, and the keys of the others.
    private func read(persona: String, model: String, limit: Int, vocabularySize: Int) throws
        -> (rows: [NGramTable.Row], damaged: [(SQLiteValue, SQLiteValue)])
    {
        let sql = """
            SELECT context, successor, count, round FROM speculation_memory
            WHERE persona = ? AND model = ? ORDER BY \(Self.rank) LIMIT ?
            """
        var rows: [NGramTable.Row] = []
        var damaged: [(SQLiteValue, SQLiteValue)] = []
        try connection.withLock { db in
            try db.forEach(sql, [.text(persona), .text(model), .integer(Int64(limit))]) { row in
                if let context = row.int(0), let token = row.int(1).flatMap(Int.init(exactly:)),
                    let count = row.int(2), let round = row.int(3)
                {
                    let read = NGramTable.Row(
                        context: context, token: token, count: count, round: round)
                    if read.isSound(vocabularySize: vocabularySize) {
                        rows.append(read)
                        return
                    }
                }
                damaged.append((row.values[0], row.values[1]))
            }
        }
        return (rows, damaged)
    }

    /// The order rows are kept in: most counted, then latest; the ids break
    /// ties so that loading and trimming agree on which rows are the first.
    private static let rank = "count DESC, round DESC, context, successor"

    /// Deletes the rows of one persona and model past the first `limit`.
    private func trim(persona: String, model: String, keeping limit: Int) throws {
        let bindings: [SQLiteValue] = [.text(persona), .text(model)]
        let held = try connection.withLock { db in
            try db.first(
                "SELECT count(*) FROM speculation_memory WHERE persona = ? AND model = ?",
                bindings)?.int(0) ?? 0
        }
        guard held > Int64(limit) else { return }
        // Every row ranked after the `limit`-th, in one pass: `rank` as a
        // row value compared with that row's (a NOT IN list of the kept
        // keys is probed row by row, minutes on a file of millions).
        let sql = """
            DELETE FROM speculation_memory WHERE persona = ?1 AND model = ?2
            AND (-count, -round, context, successor) > (
                SELECT -count, -round, context, successor FROM speculation_memory
                WHERE persona = ?1 AND model = ?2 ORDER BY \(Self.rank) LIMIT 1 OFFSET ?3 - 1)
            """
        try connection.withLock { db in
            try db.writeTransaction {
                _ = try db.query(sql, bindings + [.integer(Int64(limit))])
            }
            try db.execute("PRAGMA incremental_vacuum")
        }
        Self.log.warn(
            "load: trimmed rows past the bound",
            ["file": path, "persona": persona, "model": model, "rows": held - Int64(limit)])
    }

    /// Writes `rows` (new or recounted) and deletes `forgetting`, in one
    /// transaction.
    func save(persona: String, model: String, rows: [NGramTable.Row], forgetting: [NGramTable.Row])
        throws
    {
        let upsert = """
            INSERT INTO speculation_memory (persona, model, context, successor, count, round)
            VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT (persona, model, context, successor)
            DO UPDATE SET count = excluded.count, round = excluded.round
            """
        let delete = """
            DELETE FROM speculation_memory
            WHERE persona = ? AND model = ? AND context = ? AND successor = ?
            """
        try connection.withLock { db in
            try db.writeTransaction {
                for row in rows {
                    try db.query(
                        upsert,
                        [
                            .text(persona), .text(model), .integer(row.context),
                            .integer(Int64(row.token)), .integer(row.count), .integer(row.round),
                        ])
                }
                for row in forgetting {
                    try db.query(
                        delete,
                        [
                            .text(persona), .text(model), .integer(row.context),
                            .integer(Int64(row.token)),
                        ])
                }
            }
        }
    }

    /// Rows held for `persona` on every model: for tests and reports.
    public func rowCount(persona: String) throws -> Int {
        try connection.withLock { db in
            let row = try db.first(
                "SELECT count(*) FROM speculation_memory WHERE persona = ?", [.text(persona)])
            return Int(row?.int(0) ?? 0)
        }
    }

    private static func check(name: String, field: String) throws {
        let limit = Limits.Speculation.memoryNameBytesMax
        guard !name.isEmpty, name.utf8.count <= limit else {
            throw SpeculationError.badMemoryName(field: field, value: name, limit: limit)
        }
    }
}
