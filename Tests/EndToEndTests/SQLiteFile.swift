import CSQLite
import Foundation

/// A database file opened with the SQLite C API, as anyone who can read the
/// file could: the end-to-end tests tamper with the ledger and inspect it
/// behind the host's back, so they use none of the product's own code.
final class SQLiteFile {
    let path: String
    private var db: OpaquePointer?

    /// A failed C call, with the statement and SQLite's message.
    struct Failure: Error, CustomStringConvertible {
        let path: String
        let sql: String
        let message: String

        var description: String { "sqlite \(path): \(message) on: \(sql)" }
    }

    /// Opens an existing file for reading and writing.
    init(path: String) throws {
        self.path = path
        let status = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, nil)
        guard status == SQLITE_OK else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "open failed"
            sqlite3_close_v2(db)
            throw Failure(path: path, sql: "open", message: message)
        }
        sqlite3_busy_timeout(db, 5_000)
    }

    deinit {
        sqlite3_close_v2(db)
    }

    /// Runs statements that return no rows (several, separated by `;`).
    func execute(_ sql: String) throws {
        var error: UnsafeMutablePointer<CChar>?
        guard sqlite3_exec(db, sql, nil, nil, &error) == SQLITE_OK else {
            let message = error.map { String(cString: $0) } ?? "exec failed"
            sqlite3_free(error)
            throw Failure(path: path, sql: sql, message: message)
        }
    }

    /// Every row of `sql`, each column as text (nil for NULL).
    func rows(_ sql: String) throws -> [[String?]] {
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(db, sql, -1, &statement, nil) == SQLITE_OK else {
            throw Failure(path: path, sql: sql, message: String(cString: sqlite3_errmsg(db)))
        }
        defer { sqlite3_finalize(statement) }
        var rows: [[String?]] = []
        while true {
            let status = sqlite3_step(statement)
            if status == SQLITE_DONE { return rows }
            guard status == SQLITE_ROW else {
                throw Failure(path: path, sql: sql, message: String(cString: sqlite3_errmsg(db)))
            }
            rows.append(
                (0..<sqlite3_column_count(statement)).map { column in
                    sqlite3_column_text(statement, column).map { String(cString: $0) }
                })
        }
    }

    /// The first column of the first row as an integer.
    func integer(_ sql: String) throws -> Int64 {
        guard let text = try rows(sql).first?.first ?? nil, let value = Int64(text) else {
            throw Failure(path: path, sql: sql, message: "no integer in the first row")
        }
        return value
    }

    /// Drops the append-only triggers, as anyone with the file can.
    func dropLedgerGuards() throws {
        for name in [
            "transfers_no_update", "transfers_no_delete", "usage_no_update", "usage_no_delete",
        ] {
            try execute("DROP TRIGGER IF EXISTS \(name)")
        }
    }
}
