import Database
import Foundation
import Ledger
import Support

/// `asth ledger verify | checkpoint | export`: the commands that let a
/// person check the ledger, or take it elsewhere to check.
enum LedgerVerifyCommand {
    // MARK: - Verify

    /// `asth ledger verify [--checkpoint FILE] [--json]`: every hash,
    /// signature, balance and price, and that the ledger still extends the
    /// checkpoint. Writes nothing to the ledger: no migration, refill or
    /// expiry. Exit 0 when all holds, else 3 naming the first bad entry.
    static func verify(_ arguments: inout Arguments, context: Context, json: Bool) throws {
        let checkpointPath = try arguments.option("--checkpoint")
        try arguments.finish()
        let checkpoint = try checkpointPath.map { try readCheckpoint($0, arguments.command) }
        let url = context.home.ledgerURL
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw UsageError("\(arguments.command): no ledger at \(url.path) (is ASTH_HOME set?)")
        }
        let report = try failingIfDamaged {
            try Ledger.verify(url: url, keyURL: context.home.signingKeyURL, checkpoint: checkpoint)
        }
        if json {
            try printJSON(VerifyJSON(report))
        } else {
            for line in summary(report) { print(line) }
            for problem in report.problems { print("  \(problem)") }
            if report.problemCount > report.problems.count {
                print("  … and \(report.problemCount - report.problems.count) more")
            }
        }
        if let failure = failure(report) { throw failure }
    }

    /// What was checked and the head hash, or how many problems were found.
    static func summary(_ report: VerifyReport) -> [String] {
        let checked =
            "\(report.transfersChecked) transfers, \(report.accountsChecked) accounts and"
            + " \(report.usageChecked) usage rows"
        guard report.ok else {
            return ["FAILED: \(report.problemCount) problem(s) in \(checked)"]
        }
        let extends = report.checkpointChecked ? "; the ledger extends the checkpoint" : ""
        return ["ok: \(checked) check out\(extends)", "head \(report.headHash)"]
    }

    /// The exit-3 error for a report with problems, naming the first.
    static func failure(_ report: VerifyReport) -> VerifyFailed? {
        guard !report.ok else { return nil }
        let first = report.firstProblem.map { "\($0)" } ?? "a problem that was not listed"
        let more = report.problemCount > 1 ? " (and \(report.problemCount - 1) more)" : ""
        return VerifyFailed(description: "ledger verify failed: \(first)\(more)")
    }

    /// SQLite's result codes for a file it cannot read as a database:
    /// `SQLITE_CORRUPT` and `SQLITE_NOTADB`. The CLI does not import SQLite.
    static let damagedFileCodes: Set<Int32> = [11, 26]

    /// Runs `body`, turning SQLite's report of a damaged file into a failed
    /// verification (exit 3): a ledger whose file was overwritten below SQL
    /// does not verify. Other SQLite errors (busy, no permission) stay
    /// input errors.
    static func failingIfDamaged<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as SQLiteError where damagedFileCodes.contains(error.primaryCode) {
            throw VerifyFailed(
                description: "ledger verify failed: database: \(error.message) (SQLite code"
                    + " \(error.code)): the file was damaged or replaced")
        }
    }

    /// Reads and parses a checkpoint file, refusing one too large to be one
    /// before reading it.
    static func readCheckpoint(_ path: String, _ command: String) throws -> Checkpoint {
        let attributes: [FileAttributeKey: Any]
        do {
            attributes = try FileManager.default.attributesOfItem(atPath: path)
        } catch {
            throw UsageError("\(command): --checkpoint \(path): cannot read it")
        }
        let bytes = (attributes[.size] as? NSNumber)?.intValue ?? 0
        guard bytes <= Limits.Ledger.checkpointBytesMax else {
            throw UsageError(
                "\(command): --checkpoint \(path): \(bytes) bytes, more than a checkpoint's"
                    + " \(Limits.Ledger.checkpointBytesMax)")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw UsageError("\(command): --checkpoint \(path): cannot read it")
        }
        do {
            return try Checkpoint(parsing: String(decoding: data, as: UTF8.self))
        } catch {
            throw UsageError("\(command): --checkpoint \(path): \(error)")
        }
    }

    // MARK: - Checkpoint

    struct CheckpointJSON: Encodable {
        let size: Int64
        let head_hash: String
        let time: String
        let public_key: String
        let signature: String
        let text: String
        let file: String?
    }

    /// `asth ledger checkpoint [--out FILE] [--json]`: a signed note of the
    /// ledger's size and head, printed or written to a new file.
    static func checkpoint(_ arguments: inout Arguments, context: Context, json: Bool) throws {
        let out = try arguments.option("--out")
        try arguments.finish()
        let checkpoint = try Ledger(home: context.home).checkpoint()

        // An older checkpoint is evidence: never write over one.
        if let out {
            guard !FileManager.default.fileExists(atPath: out) else {
                throw UsageError(
                    "\(arguments.command): --out \(out) exists; choose a new file (an older"
                        + " checkpoint is evidence worth keeping)")
            }
            guard FileManager.default.createFile(atPath: out, contents: Data(checkpoint.text.utf8))
            else { throw UsageError("\(arguments.command): --out \(out): cannot create it") }
        }
        if json {
            try printJSON(
                CheckpointJSON(
                    size: checkpoint.size, head_hash: checkpoint.headHash,
                    time: ReportFormat.time(ms: checkpoint.timeMs),
                    public_key: checkpoint.publicKey, signature: checkpoint.signature,
                    text: checkpoint.text, file: out))
        } else if out == nil {
            print(checkpoint.text, terminator: "")
        }
        StatusLine.note(
            "checkpoint of \(checkpoint.size) transfers\(out.map { " written to \($0)" } ?? "")."
                + " Keep a copy where this host cannot write (another machine, a printout);"
                + " later, `asth ledger verify --checkpoint FILE` shows whether the ledger"
                + " still extends it.")
    }

    // MARK: - Export

    /// `asth ledger export --csv|--json [--out FILE]`: every transfer with
    /// its usage, oldest first. A file is written whole or not at all.
    static func export(_ arguments: inout Arguments, context: Context, json: Bool) throws {
        let csv = arguments.flag("--csv")
        let out = try arguments.option("--out")
        try arguments.finish()
        guard csv != json else {
            throw UsageError("\(arguments.command): give one of --csv or --json")
        }
        let format: ExportFormat = csv ? .csv : .json
        let ledger = try Ledger(home: context.home)
        guard let out else {
            flushOutput()
            try ledger.export(format, to: FileHandle.standardOutput)
            return
        }

        // Write beside the target, then rename over it: a reader never sees
        // half an export, and a failure leaves the old file as it was.
        let target = URL(fileURLWithPath: out)
        let partial = target.deletingLastPathComponent().appendingPathComponent(
            ".\(target.lastPathComponent).partial-\(getpid())")
        guard FileManager.default.createFile(atPath: partial.path, contents: nil),
            let handle = try? FileHandle(forWritingTo: partial)
        else { throw UsageError("\(arguments.command): --out \(out): cannot create it") }
        do {
            defer { try? handle.close() }
            try ledger.export(format, to: handle)
            try handle.synchronize()
        } catch {
            try? FileManager.default.removeItem(at: partial)
            throw error
        }
        guard rename(partial.path, target.path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: partial)
            throw UsageError("\(arguments.command): --out \(out): \(reason)")
        }
        StatusLine.note("exported the ledger as \(format.rawValue) to \(out)")
    }
}

/// A verify report as `--json` prints it.
struct VerifyJSON: Encodable {
    struct Problem: Encodable {
        let entry: String
        let reason: String
    }

    let ok: Bool
    let size: Int64
    let head_hash: String
    let transfers_checked: Int
    let accounts_checked: Int
    let usage_checked: Int
    let checkpoint_checked: Bool
    let problem_count: Int
    let first_problem: Problem?
    let problems: [Problem]

    init(_ report: VerifyReport) {
        let problems = report.problems.map { Problem(entry: $0.entry, reason: $0.reason) }
        ok = report.ok
        size = report.size
        head_hash = report.headHash
        transfers_checked = report.transfersChecked
        accounts_checked = report.accountsChecked
        usage_checked = report.usageChecked
        checkpoint_checked = report.checkpointChecked
        problem_count = report.problemCount
        first_problem = problems.first
        self.problems = problems
    }
}
