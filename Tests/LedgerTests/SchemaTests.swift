import Database
import Foundation
import Testing

@testable import Ledger

/// The SQL and price schedules compiled into the module are the files in
/// `Ledger/`, and `schema.sql` describes what the migrations build.
@Suite struct SchemaTests {
    /// Every embedded file equals its source; no file is left out.
    @Test func embeddedCopiesEqualTheFiles() throws {
        let folder = repositoryRoot().appendingPathComponent("Ledger")
        let embedded = Embedded.migrations + Embedded.priceSchedules
        for (name, text) in embedded {
            let file = try String(
                contentsOf: folder.appendingPathComponent(name), encoding: .utf8)
            #expect(file == text, "\(name) differs from its embedded copy; run Ledger/embed.sh")
        }
        for subfolder in ["migrations", "prices"] {
            let names = try FileManager.default.contentsOfDirectory(
                atPath: folder.appendingPathComponent(subfolder).path)
            for name in names where name.hasSuffix(".sql") || name.hasSuffix(".json") {
                #expect(
                    embedded.contains { $0.name == "\(subfolder)/\(name)" },
                    "\(subfolder)/\(name) is not embedded; run Ledger/embed.sh")
            }
        }
    }

    /// Migrations are numbered 0001, 0002, … in order with no gaps.
    @Test func migrationsAreNumberedInOrder() {
        for (offset, migration) in Embedded.migrations.enumerated() {
            let number = String(format: "%04d_", offset + 1)
            #expect(migration.name.hasPrefix("migrations/" + number), "\(migration.name)")
        }
    }

    /// schema.sql builds the same tables, indexes and triggers as the
    /// migrations applied in order.
    @Test func schemaFileMatchesMigrations() throws {
        let scratch = try Scratch()
        let migrated = try SQLiteConnection(
            path: scratch.folder.appendingPathComponent("m.db").path)
        try Migrations.apply(to: migrated)
        let direct = try SQLiteConnection(path: scratch.folder.appendingPathComponent("s.db").path)
        let schema = try String(
            contentsOf: repositoryRoot().appendingPathComponent("Ledger/schema.sql"),
            encoding: .utf8)
        try direct.execute(schema)
        #expect(try objects(migrated) == objects(direct))
        #expect(try Migrations.version(of: migrated) == Migrations.latestVersion)
    }

    /// Applying migrations twice changes nothing; a newer database is refused.
    @Test func migrationsAreIdempotentAndRefuseNewerSchemas() throws {
        let scratch = try Scratch()
        let db = try SQLiteConnection(path: scratch.ledgerURL.path)
        try Migrations.apply(to: db)
        let before = try objects(db)
        try Migrations.apply(to: db)
        #expect(try objects(db) == before)

        try db.execute("PRAGMA user_version = \(Migrations.latestVersion + 1)")
        #expect(throws: LedgerError.self) { try Migrations.apply(to: db) }
    }

    /// The ledger runs in WAL mode with synchronous=FULL and foreign keys on.
    @Test func durabilitySettings() throws {
        let scratch = try Scratch()
        let ledger = try scratch.open()
        let settings = try ledger.store.withLock { store in
            (
                try store.db.first("PRAGMA journal_mode")?.text(0),
                try store.db.first("PRAGMA synchronous")?.int(0),
                try store.db.first("PRAGMA foreign_keys")?.int(0)
            )
        }
        #expect(settings.0 == "wal")
        #expect(settings.1 == 2, "synchronous: 2 is FULL")
        #expect(settings.2 == 1)
    }

    /// (type, name, normalised SQL) of every schema object, sorted.
    private func objects(_ db: SQLiteConnection) throws -> [String] {
        try db.query("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")
            .map { row in
                let sql = (row.text(2) ?? "")
                    .split(separator: "\n")
                    .map { $0.split(separator: "--", maxSplits: 1).first.map(String.init) ?? "" }
                    .joined(separator: " ")
                    .split(whereSeparator: \.isWhitespace).joined(separator: " ")
                return "\(row.text(0) ?? "") \(row.text(1) ?? "") \(sql)"
            }
            .sorted()
    }
}
