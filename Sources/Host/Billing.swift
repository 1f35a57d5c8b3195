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

    /// How long a hold lives if the process dies before settling it.
    static let holdTimeout = Duration.seconds(600)

    /// Places the hold for `prepared`, or throws `HostError.refused` (and
    /// holds nothing) when the persona's budget cannot cover the worst case.
    init(holding prepared: PreparedRequest, ledger: Ledger?) throws {
        self.prepared = prepared
        guard let persona = prepared.persona, let ledger else {
            self.ledger = nil
            return
        }
        self.ledger = ledger
        let model = prepared.model
        let estimate = try ledger.estimate(
            parameterCount: Int64(model.parameterCount),
            promptTokens: Int64(prepared.prompt.count),
            maxOutputTokens: Int64(prepared.maxTokens), device: model.device.name)
        do {
            try ledger.hold(
                persona: persona.name, requestId: prepared.request.requestId, amount: estimate,
                device: model.device.name, timeout: Self.holdTimeout)
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
        return try ledger.post(usage: record).amount.rawValue
    }

    /// Releases the hold in full: nothing was computed.
    func void() throws {
        try ledger?.void(requestId: prepared.request.requestId)
    }
}
