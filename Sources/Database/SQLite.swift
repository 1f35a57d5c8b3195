import CSQLite

/// A failed SQLite call: the operation, the SQL it ran and SQLite's own
/// code and message.
public struct SQLiteError: Error, CustomStringConvertible, Sendable {
    /// The C call that failed, e.g. `sqlite3_step`.
    public let operation: String
    /// The statement text, or the file path for `sqlite3_open_v2`.
    public let sql: String
    /// The extended result code (`SQLITE_BUSY`, `SQLITE_CONSTRAINT_UNIQUE`, …).
    public let code: Int32
    /// `sqlite3_errmsg` at the time of the failure.
    public let message: String

    /// The primary result code: the low byte of the extended one.
    public var primaryCode: Int32 { code & 0xFF }

    /// True for `SQLITE_BUSY` and `SQLITE_LOCKED`: another writer held the
    /// database past the busy timeout.
    public var isBusy: Bool { primaryCode == SQLITE_BUSY || primaryCode == SQLITE_LOCKED }

    public var description: String {
        "sqlite: \(operation) failed with code \(code) (\(message)) on: \(sql)"
    }
}

/// One value bound to or read from a statement.
public enum SQLiteValue: Equatable, Sendable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])
}

/// One result row, its values in column order.
public struct SQLiteRow: Sendable {
    public var values: [SQLiteValue]

    public init(values: [SQLiteValue]) {
        self.values = values
    }

    /// The integer in `column`; NULL reads as nil.
    public func int(_ column: Int) -> Int64? {
        if case .integer(let value) = values[column] { return value }
        return nil
    }

    /// The text in `column`; NULL reads as nil.
    public func text(_ column: Int) -> String? {
        if case .text(let value) = values[column] { return value }
        return nil
    }

    /// The bytes in `column`; NULL reads as nil.
    public func blob(_ column: Int) -> [UInt8]? {
        switch values[column] {
        case .blob(let value): return value
        case .text(let value): return Array(value.utf8)
        default: return nil
        }
    }
}

/// The one thin wrapper over the SQLite C API: a connection, its prepared
/// statements and its transactions. Every status code that is not success
/// becomes a thrown `SQLiteError`.
///
/// Not thread-safe: the owner serialises calls (the `Ledger` holds it in a
/// `Mutex`). Each thread or process that wants parallelism opens its own.
public final class SQLiteConnection {
    /// The C handle; closed in `deinit`.
    private let handle: OpaquePointer
    /// The file this connection opened, for error messages.
    public let path: String
    /// Prepared statements by SQL text, reused across calls.
    private var statements: [String: OpaquePointer] = [:]

    /// Opens (creating if asked) the database at `path`.
    public init(path: String, create: Bool = true) throws {
        var flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX
        if create { flags |= SQLITE_OPEN_CREATE }
        var handle: OpaquePointer?
        let status = sqlite3_open_v2(path, &handle, flags, nil)
        guard status == SQLITE_OK, let handle else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close_v2(handle)
            throw SQLiteError(
                operation: "sqlite3_open_v2", sql: path, code: status, message: message)
        }
        sqlite3_extended_result_codes(handle, 1)
        self.handle = handle
        self.path = path
    }

    deinit {
        for statement in statements.values {
            sqlite3_finalize(statement)
        }
        sqlite3_close_v2(handle)
    }

    /// Waits up to `milliseconds` for another connection's lock before
    /// failing with `SQLITE_BUSY`.
    public func setBusyTimeout(milliseconds: Int32) throws {
        try check(sqlite3_busy_timeout(handle, milliseconds), "sqlite3_busy_timeout", "")
    }

    /// Runs a script of one or more statements that return no rows.
    public func execute(_ script: String) throws {
        var error: UnsafeMutablePointer<CChar>?
        let status = sqlite3_exec(handle, script, nil, nil, &error)
        if status != SQLITE_OK {
            let message = error.map { String(cString: $0) } ?? lastMessage
            sqlite3_free(error)
            throw SQLiteError(
                operation: "sqlite3_exec", sql: script, code: status, message: message)
        }
    }

    /// Runs one statement with `bindings` and returns all its rows.
    @discardableResult
    public func query(_ sql: String, _ bindings: [SQLiteValue] = []) throws -> [SQLiteRow] {
        var rows: [SQLiteRow] = []
        try forEach(sql, bindings) { rows.append($0) }
        return rows
    }

    /// Runs one statement with `bindings`, handing each row to `body` as it
    /// is read, so that large tables are never held in memory at once.
    public func forEach(
        _ sql: String, _ bindings: [SQLiteValue] = [], _ body: (SQLiteRow) throws -> Void
    ) throws {
        let statement = try prepared(sql)
        defer {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
        }
        try bind(bindings, to: statement, sql: sql)

        // Step until done, copying each row out of SQLite's buffers.
        while true {
            let status = sqlite3_step(statement)
            if status == SQLITE_DONE { return }
            guard status == SQLITE_ROW else {
                throw SQLiteError(
                    operation: "sqlite3_step", sql: sql, code: status, message: lastMessage)
            }
            try body(row(of: statement))
        }
    }

    /// The single row `sql` returns, or nil when it returns none.
    public func first(_ sql: String, _ bindings: [SQLiteValue] = []) throws -> SQLiteRow? {
        try query(sql, bindings).first
    }

    /// Rows changed by the last INSERT, UPDATE or DELETE.
    public var changes: Int { Int(sqlite3_changes(handle)) }

    /// The rowid of the last successful INSERT.
    public var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }

    /// Runs `body` inside `BEGIN IMMEDIATE … COMMIT`, rolling back if it
    /// throws. IMMEDIATE takes the write lock up front, so two writers never
    /// both read a balance and then both spend it.
    public func writeTransaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    /// Runs `body` inside a read transaction: every query sees one snapshot.
    public func readTransaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN DEFERRED")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    // MARK: - Helpers

    private var lastMessage: String { String(cString: sqlite3_errmsg(handle)) }

    private func check(_ status: Int32, _ operation: String, _ sql: String) throws {
        guard status == SQLITE_OK else {
            throw SQLiteError(operation: operation, sql: sql, code: status, message: lastMessage)
        }
    }

    private func prepared(_ sql: String) throws -> OpaquePointer {
        if let cached = statements[sql] { return cached }
        var statement: OpaquePointer?
        let status = sqlite3_prepare_v3(
            handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard status == SQLITE_OK, let statement else {
            throw SQLiteError(
                operation: "sqlite3_prepare_v3", sql: sql, code: status, message: lastMessage)
        }
        statements[sql] = statement
        return statement
    }

    private func bind(_ values: [SQLiteValue], to statement: OpaquePointer, sql: String) throws {
        let expected = Int(sqlite3_bind_parameter_count(statement))
        precondition(
            values.count == expected,
            "SQLite: \(values.count) bindings for \(expected) parameters in: \(sql)")
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            let status: Int32
            switch value {
            case .null:
                status = sqlite3_bind_null(statement, index)
            case .integer(let number):
                status = sqlite3_bind_int64(statement, index, number)
            case .real(let number):
                status = sqlite3_bind_double(statement, index, number)
            case .text(let string):
                status = sqlite3_bind_text(statement, index, string, -1, transient)
            case .blob(let bytes):
                status = bytes.withUnsafeBytes {
                    sqlite3_bind_blob(statement, index, $0.baseAddress, Int32($0.count), transient)
                }
            }
            try check(status, "sqlite3_bind", sql)
        }
    }

    private func row(of statement: OpaquePointer) -> SQLiteRow {
        let count = sqlite3_column_count(statement)
        var values: [SQLiteValue] = []
        values.reserveCapacity(Int(count))
        for column in 0..<count {
            values.append(value(of: statement, column: column))
        }
        return SQLiteRow(values: values)
    }

    private func value(of statement: OpaquePointer, column: Int32) -> SQLiteValue {
        switch sqlite3_column_type(statement, column) {
        case SQLITE_INTEGER:
            return .integer(sqlite3_column_int64(statement, column))
        case SQLITE_FLOAT:
            return .real(sqlite3_column_double(statement, column))
        case SQLITE_TEXT:
            return .text(String(cString: sqlite3_column_text(statement, column)))
        case SQLITE_BLOB:
            let count = Int(sqlite3_column_bytes(statement, column))
            guard count > 0, let base = sqlite3_column_blob(statement, column) else {
                return .blob([])
            }
            return .blob(Array(UnsafeRawBufferPointer(start: base, count: count)))
        default:
            return .null
        }
    }
}

/// SQLite's `SQLITE_TRANSIENT`: copy bound text and blobs before returning.
/// The C macro is a cast of -1 to a function pointer, which Swift cannot
/// import, so it is rebuilt here.
private let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
