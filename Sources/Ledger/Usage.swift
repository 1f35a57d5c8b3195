import Database
import Support

/// What one generation used: the inputs of the price formula, stored with
/// every charge so that an audit can recompute it.
public struct Usage: Sendable, Hashable, Codable {
    /// The client's request id; the same id recorded twice charges once.
    public var requestId: String
    /// The persona whose account pays.
    public var persona: String
    /// The model name (e.g. `smollm2-135m-instruct`).
    public var model: String
    /// The model's parameter count.
    public var parameterCount: Int64
    /// Prompt tokens computed for this request (not served from a cache).
    public var promptTokens: Int64
    /// Prompt tokens served from a prefix cache, not recomputed. Disjoint
    /// from `promptTokens`, so that each count only ever adds to the price.
    public var cachedPromptTokens: Int64
    /// Tokens generated.
    public var outputTokens: Int64
    /// Device time of the generation, in milliseconds.
    public var elapsedMs: Int64
    /// The device that ran it (`cpu`, `npu`).
    public var device: String

    public init(
        requestId: String, persona: String, model: String, parameterCount: Int64,
        promptTokens: Int64, cachedPromptTokens: Int64 = 0, outputTokens: Int64,
        elapsedMs: Int64, device: String = "cpu"
    ) {
        self.requestId = requestId
        self.persona = persona
        self.model = model
        self.parameterCount = parameterCount
        self.promptTokens = promptTokens
        self.cachedPromptTokens = cachedPromptTokens
        self.outputTokens = outputTokens
        self.elapsedMs = elapsedMs
        self.device = device
    }

    /// Checks every field against `Limits.Ledger`.
    func validate() throws {
        try Validate.id(requestId, field: "usage.requestId")
        try Validate.name(persona, field: "usage.persona")
        try Validate.name(model, field: "usage.model")
        try Validate.name(device, field: "usage.device")
        let tokensMax = Limits.Ledger.tokenCountMax
        try Validate.range(parameterCount, 0, Limits.Ledger.parameterCountMax, "parameterCount")
        try Validate.range(promptTokens, 0, tokensMax, "promptTokens")
        try Validate.range(cachedPromptTokens, 0, tokensMax, "cachedPromptTokens")
        try Validate.range(outputTokens, 0, tokensMax, "outputTokens")
        try Validate.range(elapsedMs, 0, Limits.Ledger.elapsedMsMax, "elapsedMs")
    }

    /// The fields in a fixed order with their column names, for comparing a
    /// retry against the stored record.
    var fields: [(column: String, value: String)] {
        [
            ("persona", persona), ("model", model), ("parameter_count", "\(parameterCount)"),
            ("prompt_tokens", "\(promptTokens)"),
            ("cached_prompt_tokens", "\(cachedPromptTokens)"),
            ("output_tokens", "\(outputTokens)"), ("elapsed_ms", "\(elapsedMs)"),
            ("device", device),
        ]
    }
}

/// One generation paid for: its usage row and the transfer that charged it.
public struct Charge: Sendable, Hashable {
    /// The charge or post transfer's id.
    public let transferId: String
    /// Its position in the chain.
    public let sequence: Int64
    /// The usage row's id.
    public let usageId: Int64
    public let usage: Usage
    /// The price schedule that priced it.
    public let scheduleVersion: Int
    /// What the formula gives for `usage`.
    public let price: MicroMotes
    /// What was taken from the persona: the price, or a hold's amount when
    /// the price exceeded the hold.
    public let amount: MicroMotes
    /// True when this request id was already recorded and nothing new was
    /// written.
    public let alreadyRecorded: Bool
}

/// Argument checks shared by the ledger's entry points.
enum Validate {
    /// An id: non-empty, at most `Limits.Ledger.idBytesMax` bytes, no
    /// control characters.
    static func id(_ value: String, field: String) throws {
        try text(value, field: field, bytesMax: Limits.Ledger.idBytesMax)
    }

    /// A persona, model or device name.
    static func name(_ value: String, field: String) throws {
        try text(value, field: field, bytesMax: Limits.Ledger.nameBytesMax)
    }

    /// `value` within `min...max`.
    static func range(_ value: Int64, _ min: Int64, _ max: Int64, _ field: String) throws {
        guard value >= min, value <= max else {
            throw LedgerError.valueOutOfRange(field: field, value: value, min: min, max: max)
        }
    }

    private static func text(_ value: String, field: String, bytesMax: Int) throws {
        guard !value.isEmpty else {
            throw LedgerError.invalidName(field: field, value: value, reason: "is empty")
        }
        guard value.utf8.count <= bytesMax else {
            throw LedgerError.invalidName(
                field: field, value: String(value.prefix(32)) + "…",
                reason: "is \(value.utf8.count) bytes, more than \(bytesMax)")
        }
        guard !value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
        else {
            throw LedgerError.invalidName(
                field: field, value: value, reason: "contains a control character")
        }
    }
}

/// A usage row as stored: the record plus what the ledger added to it.
struct UsageRow: Sendable {
    var id: Int64
    var usage: Usage
    var scheduleVersion: Int64
    var priceMicro: Int64
    var createdMs: Int64

    /// The columns, in the order `init(row:)` reads them.
    static let columns = """
        id, request_id, persona, model, parameter_count, prompt_tokens, cached_prompt_tokens, \
        output_tokens, elapsed_ms, device, schedule_version, price_micro, created_ms
        """

    /// Every column in a fixed layout (see `CanonicalBytes`).
    var canonicalBytes: [UInt8] {
        var bytes = CanonicalBytes(tag: "asth.usage.v1")
        bytes.append(id)
        bytes.append(usage.requestId)
        bytes.append(usage.persona)
        bytes.append(usage.model)
        bytes.append(usage.parameterCount)
        bytes.append(usage.promptTokens)
        bytes.append(usage.cachedPromptTokens)
        bytes.append(usage.outputTokens)
        bytes.append(usage.elapsedMs)
        bytes.append(usage.device)
        bytes.append(scheduleVersion)
        bytes.append(priceMicro)
        bytes.append(createdMs)
        return bytes.bytes
    }

    /// BLAKE2b-256 of the canonical bytes; the charge transfer carries it,
    /// so editing any usage column breaks the chain.
    func digest() throws -> [UInt8] {
        try Sodium.blake2b(canonicalBytes)
    }

    /// The values bound to `INSERT … (columns) VALUES (?, …)`.
    var bindings: [SQLiteValue] {
        [
            .integer(id), .text(usage.requestId), .text(usage.persona), .text(usage.model),
            .integer(usage.parameterCount), .integer(usage.promptTokens),
            .integer(usage.cachedPromptTokens), .integer(usage.outputTokens),
            .integer(usage.elapsedMs), .text(usage.device), .integer(scheduleVersion),
            .integer(priceMicro), .integer(createdMs),
        ]
    }
}

extension UsageRow {
    /// Reads a row selected with `UsageRow.columns`; nil if a column is NULL
    /// or of the wrong type.
    init?(row: SQLiteRow) {
        guard let id = row.int(0), let requestId = row.text(1), let persona = row.text(2),
            let model = row.text(3), let parameters = row.int(4), let prompt = row.int(5),
            let cached = row.int(6), let output = row.int(7), let elapsed = row.int(8),
            let device = row.text(9), let version = row.int(10), let price = row.int(11),
            let created = row.int(12)
        else { return nil }
        let usage = Usage(
            requestId: requestId, persona: persona, model: model, parameterCount: parameters,
            promptTokens: prompt, cachedPromptTokens: cached, outputTokens: output,
            elapsedMs: elapsed, device: device)
        self.init(
            id: id, usage: usage, scheduleVersion: version, priceMicro: price, createdMs: created)
    }
}
