import Database
import Support

/// Applies the numbered migrations shipped in `Ledger/migrations`, in
/// order, each in its own `BEGIN IMMEDIATE` transaction.
///
/// `PRAGMA user_version` holds how many have been applied. It is read
/// inside the transaction, so two processes opening a fresh ledger at once
/// apply each migration exactly once.
enum Migrations {
    /// The schema version this build writes: the number of migrations.
    static var latestVersion: Int { Embedded.migrations.count }

    /// Brings `db` up to `latestVersion`; refuses a newer database.
    static func apply(to db: SQLiteConnection) throws {
        for (offset, migration) in Embedded.migrations.enumerated() {
            let target = offset + 1
            try db.writeTransaction {
                let current = try version(of: db)
                guard current <= latestVersion else {
                    throw LedgerError.schemaTooNew(
                        path: db.path, found: current, supported: latestVersion)
                }
                guard current < target else { return }
                precondition(current == offset, "Migrations: version \(current) before \(target)")

                // Run the script, then record it in the same transaction.
                try db.execute(migration.text)
                try db.execute("PRAGMA user_version = \(target)")
                Log("ledger").info("migrate", ["version": target, "name": migration.name])
            }
        }
        let final = try version(of: db)
        guard final == latestVersion else {
            throw LedgerError.schemaTooNew(path: db.path, found: final, supported: latestVersion)
        }
    }

    /// The `user_version` pragma.
    static func version(of db: SQLiteConnection) throws -> Int {
        Int(try db.first("PRAGMA user_version")?.int(0) ?? 0)
    }
}
