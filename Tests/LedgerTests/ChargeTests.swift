import Foundation
import Testing

@testable import Ledger

/// Grants, charges, balances and history on a fresh ledger.
@Suite struct ChargeTests {
    /// Three usages: each balance and the history follow from the prices.
    @Test func threeUsagesMatchBalancesAndHistory() throws {
        let scratch = try Scratch()
        let ledger = try scratch.open()
        try ledger.grant(persona: "ada", amount: .motes(100), id: "grant-1")
        let usages = [
            usage("r1", output: 10, elapsedMs: 40), usage("r2", prompt: 200, output: 64),
            usage("r3", cached: 300, output: 1, elapsedMs: 2),
        ]

        // Each charge takes its price, no more and no less.
        var expected = MicroMotes.motes(100)
        for usage in usages {
            let charge = try ledger.record(usage: usage)
            #expect(charge.price == (try ledger.currentSchedule.price(usage)))
            #expect(charge.amount == charge.price)
            #expect(!charge.alreadyRecorded)
            expected = expected - charge.amount
            #expect(try ledger.balance(persona: "ada") == expected)
        }

        // History: newest first, three charges then the grant.
        let history = try ledger.history(persona: "ada")
        #expect(history.map(\.transfer.kind) == [.charge, .charge, .charge, .grant])
        #expect(history.compactMap(\.usage?.requestId) == ["r3", "r2", "r1"])
        #expect(history.reduce(MicroMotes.zero) { $0 + $1.change } == expected)
        #expect(history.map(\.transfer.sequence) == [4, 3, 2, 1])

        // Double entry: the device got what ada spent; the treasury is short
        // by what it granted.
        let device = try ledger.cachedBalance(of: .device("cpu"))
        #expect(device.creditsPosted == .motes(100) - expected)
        #expect(try ledger.cachedBalance(of: .treasury).posted == .motes(-100))
    }

    /// The same request id twice charges once; with a different field it
    /// is an error naming the field.
    @Test func sameRequestIdChargesOnce() throws {
        let scratch = try Scratch()
        let ledger = try scratch.open()
        try ledger.grant(persona: "ada", amount: .motes(10))
        let first = try ledger.record(usage: usage("same"))
        let second = try ledger.record(usage: usage("same"))
        #expect(second.alreadyRecorded)
        #expect(second.sequence == first.sequence)
        #expect(try ledger.balance(persona: "ada") == .motes(10) - first.amount)
        #expect(try ledger.history(persona: "ada").count == 2)

        #expect {
            try ledger.record(usage: usage("same", output: 11))
        } throws: { error in
            guard
                case .idempotencyConflict(let id, let field, let stored, let given) =
                    error as? LedgerError
            else { return false }
            return id == "same" && field == "output_tokens" && stored == "10" && given == "11"
        }
    }

    /// A grant id reused with another amount names the amount.
    @Test func grantIdReusedWithAnotherAmountIsAnError() throws {
        let scratch = try Scratch()
        let ledger = try scratch.open()
        try ledger.grant(persona: "ada", amount: .motes(5), id: "g")
        try ledger.grant(persona: "ada", amount: .motes(5), id: "g")
        #expect(try ledger.balance(persona: "ada") == .motes(5))
        #expect {
            try ledger.grant(persona: "ada", amount: .motes(6), id: "g")
        } throws: { error in
            "\(error)".contains("amount") && "\(error)".contains("5.000000")
        }
    }

    /// A charge the balance cannot cover is refused and writes nothing.
    @Test func uncoveredChargeIsRefused() throws {
        let scratch = try Scratch()
        let ledger = try scratch.open()
        try ledger.grant(persona: "ada", amount: MicroMotes(10))
        #expect {
            try ledger.record(usage: usage("big"))
        } throws: { error in
            guard case .refused(let refusal) = error as? LedgerError else { return false }
            return refusal.available == MicroMotes(10) && refusal.estimate > MicroMotes(10)
        }
        #expect(try ledger.history(persona: "ada").count == 1)
        #expect(try ledger.balance(persona: "ada") == MicroMotes(10))
    }

    /// Closing and reopening keeps every transfer, balance and usage row.
    @Test func reopenKeepsEverything() throws {
        let scratch = try Scratch()
        var charges: [Charge] = []
        do {
            let ledger = try scratch.open()
            try ledger.grant(persona: "ada", amount: .motes(50))
            try ledger.grant(persona: "bob", amount: .motes(20))
            charges.append(try ledger.record(usage: usage("a1")))
            charges.append(try ledger.record(usage: usage("b1", persona: "bob", output: 30)))
        }
        let ledger = try scratch.open()
        #expect(try ledger.balance(persona: "ada") == .motes(50) - charges[0].amount)
        #expect(try ledger.balance(persona: "bob") == .motes(20) - charges[1].amount)
        #expect(try ledger.history(persona: "bob").first?.usage == charges[1].usage)
        #expect(try ledger.record(usage: usage("a1")).alreadyRecorded)
    }

    /// Allowances refill once per period, topping the account up, and the
    /// refill is idempotent however often the balance is read.
    @Test func allowanceRefillsOncePerPeriod() throws {
        let scratch = try Scratch()
        let clock = ManualClock()
        let ledger = try scratch.open(clock: clock)
        try ledger.ensureAccount(persona: "ada", allowance: .motes(10), periodSeconds: 3600)
        #expect(try ledger.balance(persona: "ada") == .motes(10))
        let charge = try ledger.record(usage: usage("r1", output: 100))
        #expect(try ledger.balance(persona: "ada") == .motes(10) - charge.amount)

        // Same period: no second refill. Next period: back to the allowance.
        clock.advance(ms: 1_000)
        #expect(try ledger.balance(persona: "ada") == .motes(10) - charge.amount)
        clock.advance(ms: 3_600_000)
        #expect(try ledger.balance(persona: "ada") == .motes(10))
        let kinds = try ledger.history(persona: "ada").map(\.transfer.kind)
        #expect(kinds == [.refill, .charge, .refill])
    }

    /// Reports show Motes with one decimal; parsing takes up to six.
    @Test(arguments: [
        (MicroMotes(0), "0.0"), (MicroMotes(49_999), "0.0"), (MicroMotes(50_000), "0.1"),
        (MicroMotes(1_234_567), "1.2"), (MicroMotes(-1_250_000), "-1.3"), (.motes(42), "42.0"),
    ])
    func oneDecimal(amount: MicroMotes, text: String) {
        #expect(amount.description == text)
    }

    @Test func parsingMotes() {
        #expect(MicroMotes(motes: "12") == .motes(12))
        #expect(MicroMotes(motes: "0.5") == MicroMotes(500_000))
        #expect(MicroMotes(motes: "3.000001") == MicroMotes(3_000_001))
        for bad in ["", "-1", "1.", ".5", "1.0000001", "1e3", "x", "99999999999999999999"] {
            #expect(MicroMotes(motes: bad) == nil, "\(bad)")
        }
    }
}
