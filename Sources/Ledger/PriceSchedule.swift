import Foundation
import Support

/// The versioned parameters of the Motes formula (`Ledger/prices/vN.json`).
///
/// The formula, with every term in integer micro-units and each division
/// rounding down (see `Ledger/README.md` for a worked example):
///
///     tokens = output × 10⁶ + prompt × promptWeight + cached × cachedWeight
///     work   = tokens × parameters ÷ referenceParameters     (µMotes)
///     time   = elapsedMs × 10⁶ ÷ referenceMsPerMote         (µMotes)
///     timeC  = min(time, work × latencyCapFactor)
///     price  = (work × (10⁶ − share) + timeC × share) ÷ 10⁶ × device ÷ 10⁶
///
/// At the reference latency (`elapsedMs = work × referenceMsPerMote ÷ 10⁶`)
/// `time` equals `work`, so a 3B model's output token costs 1 Mote on a
/// device with factor 10⁶. Every coefficient is non-negative and every step
/// is a non-decreasing function of its inputs, so the price never falls
/// when latency, model size or a token count rises.
public struct PriceSchedule: Sendable, Hashable, Codable {
    /// The version stored with every usage record.
    public let version: Int
    /// A human note; not part of the price.
    public let note: String
    /// The parameter count at which an output token costs 1 Mote: 3e9.
    public let referenceParameterCount: Int64
    /// The reference CPU's time for one output token of the reference
    /// model, in ms: the latency at which work and time terms agree.
    public let referenceMsPerMote: Int64
    /// A computed prompt token's cost relative to an output token, ppm.
    public let promptTokenWeightPpm: Int64
    /// A cached prompt token's cost relative to an output token, ppm;
    /// at most `promptTokenWeightPpm`, so that a hold's worst case (no
    /// cache hits) bounds every actual split.
    public let cachedPromptTokenWeightPpm: Int64
    /// The share of the price that follows measured latency, ppm.
    public let latencySharePpm: Int64
    /// The time term is capped at this multiple of the work term, so a
    /// stalled device cannot bill without bound and a hold can bound it.
    public let latencyCapFactor: Int64
    /// Each device's price factor, ppm (CPU: 10⁶).
    public let deviceFactorPpm: [String: Int64]

    /// Parts per million: the fixed-point scale of weights and factors.
    static let ppm: Int128 = 1_000_000

    /// The schedules shipped in `Ledger/prices`, parsed and checked.
    public static func shipped() throws -> [PriceSchedule] {
        try Embedded.priceSchedules.map { try decode(Data($0.text.utf8), name: $0.name) }
    }

    /// Decodes and validates one schedule file.
    public static func decode(_ data: Data, name: String) throws -> PriceSchedule {
        let schedule: PriceSchedule
        do {
            schedule = try JSONDecoder().decode(PriceSchedule.self, from: data)
        } catch let DecodingError.keyNotFound(key, _) {
            throw LedgerError.priceSchedule(
                name: name, field: key.stringValue, value: "missing", reason: "required")
        } catch {
            throw LedgerError.priceSchedule(
                name: name, field: "(file)", value: "", reason: "\(error)")
        }
        try schedule.validate(name: name)
        return schedule
    }

    /// The price of `usage` under this schedule, in micro-Motes.
    public func price(_ usage: Usage) throws -> MicroMotes {
        try usage.validate()
        let work = workMicro(
            parameterCount: usage.parameterCount, promptTokens: usage.promptTokens,
            cachedPromptTokens: usage.cachedPromptTokens, outputTokens: usage.outputTokens)
        let time = Int128(usage.elapsedMs) * Self.ppm / Int128(referenceMsPerMote)
        let timeCapped = min(time, work * Int128(latencyCapFactor))
        return try combine(work: work, timeCapped: timeCapped, device: usage.device)
    }

    /// The most a request can cost: every prompt token computed, every
    /// allowed token generated, latency at the cap. No usage with at most
    /// these counts (prompt and cached together) prices higher.
    public func worstCase(
        parameterCount: Int64, promptTokens: Int64, maxOutputTokens: Int64, device: String
    ) throws -> MicroMotes {
        let tokensMax = Limits.Ledger.tokenCountMax
        try Validate.range(parameterCount, 0, Limits.Ledger.parameterCountMax, "parameterCount")
        try Validate.range(promptTokens, 0, tokensMax, "promptTokens")
        try Validate.range(maxOutputTokens, 0, tokensMax, "maxOutputTokens")
        let work = workMicro(
            parameterCount: parameterCount, promptTokens: promptTokens, cachedPromptTokens: 0,
            outputTokens: maxOutputTokens)
        return try combine(work: work, timeCapped: work * Int128(latencyCapFactor), device: device)
    }

    // MARK: - Terms

    /// The work term: weighted tokens scaled by model size, µMotes.
    private func workMicro(
        parameterCount: Int64, promptTokens: Int64, cachedPromptTokens: Int64,
        outputTokens: Int64
    ) -> Int128 {
        let tokens =
            Int128(outputTokens) * Self.ppm + Int128(promptTokens) * Int128(promptTokenWeightPpm)
            + Int128(cachedPromptTokens) * Int128(cachedPromptTokenWeightPpm)
        return tokens * Int128(parameterCount) / Int128(referenceParameterCount)
    }

    /// Blends work and capped time by the latency share, then applies the
    /// device factor.
    private func combine(work: Int128, timeCapped: Int128, device: String) throws -> MicroMotes {
        guard let factor = deviceFactorPpm[device] else {
            throw LedgerError.deviceNotPriced(device: device, scheduleVersion: version)
        }
        let share = Int128(latencySharePpm)
        let blended = (work * (Self.ppm - share) + timeCapped * share) / Self.ppm
        let price = blended * Int128(factor) / Self.ppm
        guard let micro = Int64(exactly: price) else { throw LedgerError.overflow(field: "price") }
        return MicroMotes(micro)
    }

    // MARK: - Validation

    private func validate(name: String) throws {
        func check(_ field: String, _ value: Int64, _ min: Int64, _ max: Int64) throws {
            guard value >= min, value <= max else {
                throw LedgerError.priceSchedule(
                    name: name, field: field, value: "\(value)", reason: "outside \(min)...\(max)")
            }
        }
        let weightMax = Limits.Ledger.tokenWeightPpmMax
        try check("version", Int64(version), 1, Int64(Int32.max))
        try check("referenceParameterCount", referenceParameterCount, 1_000_000, 1 << 42)
        try check("referenceMsPerMote", referenceMsPerMote, 1, 3_600_000)
        try check("promptTokenWeightPpm", promptTokenWeightPpm, 0, weightMax)
        try check("cachedPromptTokenWeightPpm", cachedPromptTokenWeightPpm, 0, promptTokenWeightPpm)
        try check("latencySharePpm", latencySharePpm, 0, 1_000_000)
        try check("latencyCapFactor", latencyCapFactor, 1, Limits.Ledger.latencyCapFactorMax)
        guard !deviceFactorPpm.isEmpty else {
            throw LedgerError.priceSchedule(
                name: name, field: "deviceFactorPpm", value: "{}", reason: "names no device")
        }
        for (device, factor) in deviceFactorPpm.sorted(by: { $0.key < $1.key }) {
            try check("deviceFactorPpm.\(device)", factor, 0, Limits.Ledger.deviceFactorPpmMax)
        }
    }
}
