import Foundation
import Testing

@testable import Ledger

/// Two-phase charges: hold the worst case, post the actual, void, expire.
@Suite struct HoldTests {
    let scratch: Scratch
    let clock = ManualClock()
    let ledger: Ledger

    init() throws {
        scratch = try Scratch()
        ledger = try scratch.open(clock: clock)
        try ledger.grant(persona: "ada", amount: .motes(20), id: "g")
    }

    /// A hold reserves; its post charges the actual price and frees the rest.
    @Test func postChargesActualAndReleasesTheRest() throws {
        let estimate = try ledger.estimate(
            parameterCount: 134_515_008, promptTokens: 20, maxOutputTokens: 64)
        let hold = try ledger.hold(
            persona: "ada", requestId: "r1", amount: estimate, timeout: .seconds(60))
        #expect(!hold.alreadyPlaced)
        #expect(try ledger.balance(persona: "ada") == .motes(20) - estimate)
        #expect(try ledger.accountBalance(persona: "ada").debitsPending == estimate)

        let charge = try ledger.post(usage: usage("r1", output: 10))
        #expect(charge.amount == charge.price)
        #expect(charge.amount < estimate)
        #expect(try ledger.balance(persona: "ada") == .motes(20) - charge.amount)
        #expect(try ledger.accountBalance(persona: "ada").debitsPending == .zero)
        #expect(try ledger.holdState(requestId: "r1") == .posted)
        #expect(try ledger.openHolds().isEmpty)
    }

    /// A cancelled generation is posted for what it produced, not its hold.
    @Test func cancelledGenerationPaysOnlyWhatItProduced() throws {
        try ledger.hold(persona: "ada", requestId: "c", amount: .motes(5), timeout: .seconds(60))
        let partial = usage("c", output: 3, elapsedMs: 12)
        let charge = try ledger.post(usage: partial)
        #expect(charge.amount == (try ledger.currentSchedule.price(partial)))
        #expect(try ledger.balance(persona: "ada") == .motes(20) - charge.amount)
    }

    /// A post never takes more than its hold.
    @Test func postIsCappedAtTheHold() throws {
        try ledger.hold(
            persona: "ada", requestId: "x", amount: MicroMotes(1_000), timeout: .seconds(60))
        let charge = try ledger.post(usage: usage("x", output: 500))
        #expect(charge.price > MicroMotes(1_000))
        #expect(charge.amount == MicroMotes(1_000))
        #expect(try ledger.verify().ok)
    }

    /// Void frees everything; resolving twice is harmless or an error.
    @Test func voidAndDoubleResolution() throws {
        try ledger.hold(persona: "ada", requestId: "v", amount: .motes(4), timeout: .seconds(60))
        try ledger.void(requestId: "v")
        try ledger.void(requestId: "v")
        #expect(try ledger.balance(persona: "ada") == .motes(20))
        #expect(try ledger.holdState(requestId: "v") == .voided)
        #expect(throws: LedgerError.self) { try ledger.post(usage: usage("v")) }

        try ledger.hold(persona: "ada", requestId: "p", amount: .motes(4), timeout: .seconds(60))
        let first = try ledger.post(usage: usage("p"))
        #expect(try ledger.post(usage: usage("p")).alreadyRecorded)
        #expect(try ledger.post(usage: usage("p")).sequence == first.sequence)
        #expect {
            try ledger.void(requestId: "p")
        } throws: { error in
            guard case .holdNotOpen(_, let state) = error as? LedgerError else { return false }
            return state == .posted
        }
    }

    /// The same hold placed twice reserves once.
    @Test func holdIsIdempotent() throws {
        let a = try ledger.hold(
            persona: "ada", requestId: "h", amount: .motes(3), timeout: .seconds(60))
        let b = try ledger.hold(
            persona: "ada", requestId: "h", amount: .motes(3), timeout: .seconds(60))
        #expect(b.alreadyPlaced && b.sequence == a.sequence)
        #expect(try ledger.balance(persona: "ada") == .motes(17))
        #expect(throws: LedgerError.self) {
            try ledger.hold(
                persona: "ada", requestId: "h", amount: .motes(4), timeout: .seconds(60))
        }
    }

    /// Over budget: refused before compute with balance, estimate and the
    /// refill time; nothing is written.
    @Test func overBudgetIsRefusedWithEvidence() throws {
        try ledger.ensureAccount(persona: "bob", allowance: .motes(2), periodSeconds: 86_400)
        let before = try ledger.history(persona: "bob").count
        #expect {
            try ledger.hold(
                persona: "bob", requestId: "big", amount: .motes(3), timeout: .seconds(60))
        } throws: { error in
            guard case .refused(let refusal) = error as? LedgerError else { return false }
            let dayMs: Int64 = 86_400_000
            let nextDay = (clock.now / dayMs + 1) * dayMs
            return refusal.available == .motes(2) && refusal.estimate == .motes(3)
                && refusal.refillsAt == Date(timeIntervalSince1970: Double(nextDay) / 1000)
                && refusal.description.contains("2.0") && refusal.description.contains("3.0")
        }
        #expect(try ledger.history(persona: "bob").count == before)
        #expect(throws: LedgerError.self) {
            try ledger.requireFunds(persona: "bob", estimate: .motes(3))
        }
        try ledger.requireFunds(persona: "bob", estimate: .motes(2))
    }

    /// A hold outliving its timeout expires on the next write.
    @Test func holdExpiresAfterTimeout() throws {
        try ledger.hold(persona: "ada", requestId: "e", amount: .motes(5), timeout: .seconds(30))
        clock.advance(ms: 29_999)
        #expect(try ledger.expireHolds() == 0)
        clock.advance(ms: 1)
        #expect(try ledger.balance(persona: "ada") == .motes(20))
        #expect(try ledger.holdState(requestId: "e") == .expired)
        #expect {
            try ledger.post(usage: usage("e"))
        } throws: { error in
            guard case .holdNotOpen(_, let state) = error as? LedgerError else { return false }
            return state == .expired
        }
    }

    /// A hold expires also when the host restarts after its timeout.
    @Test func holdExpiresAfterRestart() throws {
        try ledger.hold(persona: "ada", requestId: "k", amount: .motes(5), timeout: .seconds(30))
        #expect(try ledger.openHolds().map(\.requestId) == ["k"])
        clock.advance(ms: 3_600_000)
        let reopened = try scratch.open(clock: clock)
        #expect(try reopened.openHolds().isEmpty)
        #expect(try reopened.holdState(requestId: "k") == .expired)
        #expect(try reopened.verify().ok)
    }

    /// A post must come from the hold's persona and device.
    @Test func postFromAnotherPersonaIsRefused() throws {
        try ledger.grant(persona: "eve", amount: .motes(5))
        try ledger.hold(persona: "ada", requestId: "m", amount: .motes(5), timeout: .seconds(60))
        #expect {
            try ledger.post(usage: usage("m", persona: "eve"))
        } throws: { error in
            guard case .idempotencyConflict(_, let field, _, _) = error as? LedgerError else {
                return false
            }
            return field == "persona"
        }
    }

    /// Budget use is the sum of the period's charges.
    @Test func budgetCountsThisPeriodsCharges() throws {
        try ledger.ensureAccount(persona: "cy", allowance: .motes(10), periodSeconds: 3600)
        let first = try ledger.record(usage: usage("b1", persona: "cy", output: 50))
        clock.advance(ms: 3_600_000)
        let second = try ledger.record(usage: usage("b2", persona: "cy", output: 20))
        let budget = try #require(try ledger.budget(persona: "cy"))
        #expect(budget.spentThisPeriod == second.amount)
        #expect(budget.spentThisPeriod != first.amount + second.amount)
        #expect(budget.available == .motes(10) - second.amount)
        #expect(budget.refillsAtMs == budget.periodStartMs + 3_600_000)
    }
}
