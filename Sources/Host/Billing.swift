import Foundation
import Inference
import Ledger
import Support

/// What one request costs: the worst case held before any compute, then
/// the usage of what was produced posted in its place.
///
/// A request with no persona is priced but charged to nobody.
struct Billing {
    let prepared: PreparedRequest
    /// The ledger that holds and posts; nil for an unbilled request.
    let ledger: Ledger?

    /// How long a hold lives if the process dies before settling it,
    /// unless `ASTH_HOLD_TIMEOUT_MS` says otherwise.
    static let holdTimeoutDefault = Duration.seconds(600)

    /// The variable that sets the hold timeout in milliseconds. The crash
    /// test shortens it to watch the holds of killed processes expire.
    static let holdTimeoutVariable = "ASTH_HOLD_TIMEOUT_MS"

    /// The hold timeout `environment` asks for, within
    /// `Limits.Chat.holdTimeoutMsMin` and `Limits.Ledger.holdTimeoutMsMax`.
    static func holdTimeout(
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> Duration {
        guard let text = environment[holdTimeoutVariable] else { return holdTimeoutDefault }
        let range = Limits.Chat.holdTimeoutMsMin...Limits.Ledger.holdTimeoutMsMax
        guard let timeoutMs = Int64(text), range.contains(timeoutMs) else {
            throw HoldTimeoutError(
                variable: holdTimeoutVariable, value: text, minMs: range.lowerBound,
                maxMs: range.upperBound)
        }
        return .milliseconds(timeoutMs)
    }

    /// Places the hold for `prepared`, or throws `HostError.refused` (and
    /// holds nothing) when the persona's budget cannot cover the worst case.
    init(holding prepared: PreparedRequest, ledger: Ledger?) throws {
        self.prepared = prepared
        guard let persona = prepared.persona, let ledger else {
            self.ledger = nil
            return
        }
        self.ledger = ledger
        let timeout = try Self.holdTimeout()
        let model = prepared.model
        let estimate = try ledger.estimate(
            parameterCount: Int64(model.parameterCount),
            promptTokens: Int64(prepared.prompt.count),
            maxOutputTokens: Int64(prepared.maxTokens), device: model.device.name)
        do {
            try ledger.hold(
                persona: persona.name, requestId: prepared.request.requestId, amount: estimate,
                device: model.device.name, timeout: timeout)
        } catch LedgerError.refused(let refusal) {
            throw HostError.refused(refusal)
        }
    }

    /// Posts what was used in place of the hold and returns the charge in
    /// micro-Motes; for an unbilled request, the price it would have cost.
    ///
    /// - Parameter promptTokensComputed: prompt positions computed for the
    ///   request (neither cached nor left undone).
    func settle(_ usage: CompletionUsage, promptTokensComputed: Int) throws -> Int64 {
        let record = Usage(
            requestId: prepared.request.requestId, persona: prepared.tenant,
            model: prepared.model.name, parameterCount: Int64(prepared.model.parameterCount),
            promptTokens: Int64(promptTokensComputed),
            cachedPromptTokens: Int64(usage.cachedPromptTokens),
            outputTokens: Int64(usage.completionTokens),
            elapsedMs: Int64(usage.deviceMs.rounded(.up)), device: prepared.model.device.name)
        guard let ledger else {
            guard let schedule = try PriceSchedule.shipped().last else { return 0 }
            return try schedule.price(record).rawValue
        }
        // A reply that outlived its hold (a very slow device, a suspended
        // process) is still charged: as a plain charge, which the ledger
        // refuses only when the balance cannot cover it.
        do {
            return try ledger.post(usage: record).amount.rawValue
        } catch LedgerError.holdNotOpen(_, .expired) {
            Log("host").warn("hold expired before the reply ended", ["request": record.requestId])
            return try ledger.record(usage: record).amount.rawValue
        }
    }

    /// Releases the hold in full: nothing was computed.
    func void() throws {
        try ledger?.void(requestId: prepared.request.requestId)
    }
}

/// `ASTH_HOLD_TIMEOUT_MS` is not a whole number of milliseconds in range.
public struct HoldTimeoutError: Error, CustomStringConvertible, Equatable {
    public let variable: String
    public let value: String
    public let minMs: Int64
    public let maxMs: Int64

    public var description: String {
        "\(variable) = '\(value)': expected whole milliseconds from \(minMs) to \(maxMs),"
            + " or unset it for the default"
    }
}
