import Database
import Foundation

/// The file formats `export` writes.
public enum ExportFormat: String, Sendable, CaseIterable {
    /// RFC 4180 CSV with a header row and CRLF line ends.
    case csv
    /// A JSON array of objects, one per transfer.
    case json
}

/// One transfer with its accounts' names and its usage, as exported.
struct ExportLine: Encodable {
    let sequence: Int64
    let id: String
    let kind: String
    let createdAt: String
    let debit: String
    let credit: String
    let amountMotes: Double
    let amountMicro: Int64
    let pendingId: String?
    let timeoutAt: String?
    let usage: UsageRow?
    let hash: String

    /// The CSV columns, in order; JSON uses the same names.
    static let header = [
        "sequence", "id", "kind", "created_at", "debit", "credit", "amount_motes",
        "amount_micro", "pending_id", "timeout_at", "request_id", "persona", "model",
        "parameter_count", "prompt_tokens", "cached_prompt_tokens", "output_tokens", "elapsed_ms",
        "device", "schedule_version", "price_micro", "hash",
    ]

    /// Encodes the columns of `header` as one flat object; absent usage
    /// fields are null.
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        let u = usage?.usage
        try container.encode(sequence, forKey: Key("sequence"))
        try container.encode(id, forKey: Key("id"))
        try container.encode(kind, forKey: Key("kind"))
        try container.encode(createdAt, forKey: Key("created_at"))
        try container.encode(debit, forKey: Key("debit"))
        try container.encode(credit, forKey: Key("credit"))
        try container.encode(amountMotes, forKey: Key("amount_motes"))
        try container.encode(amountMicro, forKey: Key("amount_micro"))
        try container.encode(pendingId, forKey: Key("pending_id"))
        try container.encode(timeoutAt, forKey: Key("timeout_at"))
        try container.encode(u?.requestId, forKey: Key("request_id"))
        try container.encode(u?.persona, forKey: Key("persona"))
        try container.encode(u?.model, forKey: Key("model"))
        try container.encode(u?.parameterCount, forKey: Key("parameter_count"))
        try container.encode(u?.promptTokens, forKey: Key("prompt_tokens"))
        try container.encode(u?.cachedPromptTokens, forKey: Key("cached_prompt_tokens"))
        try container.encode(u?.outputTokens, forKey: Key("output_tokens"))
        try container.encode(u?.elapsedMs, forKey: Key("elapsed_ms"))
        try container.encode(u?.device, forKey: Key("device"))
        try container.encode(usage?.scheduleVersion, forKey: Key("schedule_version"))
        try container.encode(usage?.priceMicro, forKey: Key("price_micro"))
        try container.encode(hash, forKey: Key("hash"))
    }

    /// A JSON key named by its column.
    struct Key: CodingKey {
        let stringValue: String
        var intValue: Int? { nil }
        init(_ name: String) { stringValue = name }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// The CSV fields, in `header` order. Text a person or client chose is
    /// guarded against formula injection.
    var csvFields: [String] {
        func text(_ value: String?) -> String { value.map(CSV.guardFormula) ?? "" }
        func number(_ value: Int64?) -> String { value.map(String.init) ?? "" }
        let u = usage?.usage
        return [
            String(sequence), text(id), kind, createdAt, text(debit), text(credit),
            MicroMotes(amountMicro).exactDescription, String(amountMicro), text(pendingId),
            timeoutAt ?? "", text(u?.requestId), text(u?.persona), text(u?.model),
            number(u?.parameterCount), number(u?.promptTokens), number(u?.cachedPromptTokens),
            number(u?.outputTokens), number(u?.elapsedMs), text(u?.device),
            number(usage?.scheduleVersion), number(usage?.priceMicro), hash,
        ]
    }
}

/// RFC 4180 quoting.
enum CSV {
    /// `field` quoted when it holds a comma, quote, CR or LF.
    static func quote(_ field: String) -> String {
        guard field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
        else { return field }
        return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// Spreadsheets run a cell that starts with `=`, `+`, `-` or `@` as a
    /// formula; a leading apostrophe makes it text (OWASP's advice).
    static func guardFormula(_ field: String) -> String {
        guard let first = field.first, "=+-@\t\r".contains(first) else { return field }
        return "'" + field
    }

    static func line(_ fields: [String]) -> String {
        fields.map(quote).joined(separator: ",") + "\r\n"
    }
}

extension Ledger {
    /// Writes every transfer, oldest first, in `format` to `handle` (a file
    /// or standard output), a block at a time so that a large ledger is
    /// never held in memory.
    public func export(_ format: ExportFormat, to handle: FileHandle) throws {
        try store.withLock { store in
            try store.db.readTransaction {
                var output = ExportBuffer(handle: handle)
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                switch format {
                case .csv: try output.write(CSV.line(ExportLine.header))
                case .json: try output.write("[")
                }
                var first = true
                try store.forEachExportLine { line in
                    switch format {
                    case .csv:
                        try output.write(CSV.line(line.csvFields))
                    case .json:
                        let object = String(decoding: try encoder.encode(line), as: UTF8.self)
                        try output.write((first ? "\n" : ",\n") + object)
                    }
                    first = false
                }
                if format == .json { try output.write(first ? "]\n" : "\n]\n") }
                try output.flush()
            }
        }
    }
}

/// Gathers text into blocks before writing them to a file handle.
struct ExportBuffer {
    let handle: FileHandle
    private var pending = Data()

    /// Bytes gathered before a write: big enough to amortise the syscall.
    static let blockBytes = 1 << 16

    init(handle: FileHandle) {
        self.handle = handle
    }

    mutating func write(_ text: String) throws {
        pending.append(contentsOf: text.utf8)
        if pending.count >= Self.blockBytes { try flush() }
    }

    mutating func flush() throws {
        try handle.write(contentsOf: pending)
        pending.removeAll(keepingCapacity: true)
    }
}

extension LedgerStore {
    /// Streams every transfer joined with its usage row.
    func forEachExportLine(_ body: (ExportLine) throws -> Void) throws {
        let accounts = try accountsById()
        let time = ISO8601DateFormatter()
        func date(_ ms: Int64) -> String {
            time.string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
        }
        let columns = Self.qualified(TransferRow.columns, "t")
        let usageColumns = Self.qualified(UsageRow.columns, "u")
        let transferColumnCount = columns.split(separator: ",").count
        try db.forEach(
            """
            SELECT \(columns), \(usageColumns)
            FROM transfers t LEFT JOIN usage u ON u.id = t.usage_id ORDER BY t.seq
            """
        ) { raw in
            guard let row = TransferRow(row: raw) else { return }
            let usageValues = Array(raw.values.dropFirst(transferColumnCount))
            try body(
                ExportLine(
                    sequence: row.sequence, id: row.id, kind: row.kind.rawValue,
                    createdAt: date(row.createdMs),
                    debit: accounts[row.debitAccountId].map { "\($0)" } ?? "?",
                    credit: accounts[row.creditAccountId].map { "\($0)" } ?? "?",
                    amountMotes: Double(row.amountMicro) / Double(MicroMotes.perMote),
                    amountMicro: row.amountMicro, pendingId: row.pendingId,
                    timeoutAt: row.timeoutMs.map(date),
                    usage: UsageRow(row: SQLiteRow(values: usageValues)),
                    hash: Hex.encode(row.hash)))
        }
    }

    /// `a, b, c` as `t.a, t.b, t.c`.
    static func qualified(_ columns: String, _ alias: String) -> String {
        columns.split(separator: ",")
            .map { alias + "." + $0.trimmingCharacters(in: .whitespaces) }
            .joined(separator: ", ")
    }
}
