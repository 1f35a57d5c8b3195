import Foundation
import Support
import Testing

@testable import Ledger

/// A seeded random sequence of grants, holds, posts, voids, charges, clock
/// jumps and retries keeps the books: after every step the balances derived
/// from the transfers equal the cached ones, debits equal credits, and no
/// persona is below zero. A failure names its seed and step; replay it
/// with `ASTH_LEDGER_SEED=<seed>` (and `ASTH_LEDGER_STEPS` to go faster).
@Suite struct PropertyTests {
    @Test func randomOperationsKeepTheBooks() throws {
        let environment = ProcessInfo.processInfo.environment
        let seed = environment["ASTH_LEDGER_SEED"].flatMap { UInt64($0) } ?? 20_250_101
        let steps = environment["ASTH_LEDGER_STEPS"].flatMap { Int($0) } ?? 100_000
        var run = try RandomRun(seed: seed)
        for step in 0..<steps {
            if let failure = try run.step() {
                Issue.record(
                    "seed \(seed), step \(step): \(failure); replay with ASTH_LEDGER_SEED=\(seed)")
                return
            }
        }

        // At the end: the full verification, and an independent SQL derivation.
        let report = try run.ledger.verify()
        #expect(report.ok, "seed \(seed): \(report.problems)")
        #expect(report.transfersChecked > steps / 2)
        let raw = try RawLedger(url: run.scratch.ledgerURL)
        #expect(try raw.derivedBalances() == raw.cachedBalances(), "seed \(seed)")
        #expect(run.counts.values.reduce(0, +) == steps)
        for kind in ["grant", "hold", "post", "void", "charge", "expired", "refused", "retry"] {
            #expect(run.counts[kind, default: 0] > 0, "seed \(seed) never did \(kind)")
        }
    }
}

/// One random run: the ledger, the generator, and a derivation of every
/// balance folded from the transfer rows as they appear.
struct RandomRun {
    let scratch: Scratch
    let clock = ManualClock()
    let ledger: Ledger
    var random: SplitMix64
    let personas = ["ada", "bob", "cy", "dee", "eve"]
    let devices = ["cpu", "npu"]

    /// Request ids of holds this run believes open.
    var placed: [String] = []
    /// The last usage charged, for retries.
    var lastUsage: Usage?
    /// Operations done, by kind.
    var counts: [String: Int] = [:]

    /// Balances derived from the rows read so far, by account id.
    var derived: [Int64: BalanceDelta] = [:]
    /// Hold amounts by hold id, for folding their resolutions.
    var holdAmounts: [String: Int64] = [:]
    /// The highest sequence folded.
    var lastSequence: Int64 = 0

    init(seed: UInt64) throws {
        scratch = try Scratch()
        random = SplitMix64(seed: seed)
        ledger = try scratch.open(clock: clock)
        // Commits need not reach the disk here: this test checks arithmetic,
        // not durability, and 100,000 fsyncs would take minutes.
        try ledger.store.withLock { try $0.db.execute("PRAGMA synchronous = OFF") }
        for (index, persona) in personas.prefix(3).enumerated() {
            try ledger.ensureAccount(
                persona: persona, allowance: .motes(Int64(5 * (index + 1))),
                periodSeconds: 3600 * Int64(index + 1))
        }
    }

    /// Does one random operation, then checks the books; returns what went
    /// wrong, if anything.
    mutating func step() throws -> String? {
        let before = lastSequence
        if let failure = try operate() { return failure }
        return try check(after: before)
    }

    // MARK: - Operations

    private mutating func operate() throws -> String? {
        let persona = personas.randomElement(using: &random)!
        switch Int.random(in: 0..<100, using: &random) {
        case 0..<10:
            try ledger.grant(persona: persona, amount: micro(100_000...4_000_000))
            counts["grant", default: 0] += 1
        case 10..<40:
            return try placeHold(persona: persona)
        case 40..<60:
            return try resolveHold(post: true)
        case 60..<70:
            return try resolveHold(post: false)
        case 70..<80:
            let jump = Bool.random(using: &random) ? 3_600_000 : 60_000
            clock.advance(ms: Int64.random(in: 0...Int64(jump), using: &random))
            let expired = try ledger.expireHolds()
            counts["expired", default: 0] += expired > 0 ? 1 : 0
            counts["clock", default: 0] += expired > 0 ? 0 : 1
        case 80..<92:
            return try charge(usage: randomUsage("c\(lastSequence)-\(counts.count)", persona))
        default:
            guard let usage = lastUsage else {
                _ = try ledger.balance(persona: persona)
                counts["balance", default: 0] += 1
                return nil
            }
            let charge = try ledger.record(usage: usage)
            counts["retry", default: 0] += 1
            if !charge.alreadyRecorded { return "retry of \(usage.requestId) charged again" }
        }
        return nil
    }

    private mutating func placeHold(persona: String) throws -> String? {
        let requestId = "q\(lastSequence)-\(counts["hold", default: 0])-\(placed.count)"
        let amount = micro(1_000...3_000_000)
        do {
            let hold = try ledger.hold(
                persona: persona, requestId: requestId, amount: amount,
                device: devices.randomElement(using: &random)!,
                timeout: .milliseconds(Int64.random(in: 1_000...120_000, using: &random)))
            if hold.amount != amount || hold.alreadyPlaced { return "hold \(requestId) misplaced" }
            placed.append(requestId)
            counts["hold", default: 0] += 1
        } catch LedgerError.refused(let refusal) {
            counts["refused", default: 0] += 1
            if refusal.available >= amount { return "refused \(amount) with \(refusal.available)" }
        }
        return nil
    }

    private mutating func resolveHold(post: Bool) throws -> String? {
        guard !placed.isEmpty else {
            counts["idle", default: 0] += 1
            return nil
        }
        let requestId = placed.remove(at: Int.random(in: 0..<placed.count, using: &random))
        let hold = try ledger.openHolds().first { $0.requestId == requestId }
        do {
            if post, let hold {
                var usage = randomUsage(requestId, hold.persona)
                usage.device = hold.device
                let charge = try ledger.post(usage: usage)
                if charge.amount > hold.amount { return "post \(requestId) exceeds its hold" }
                if charge.amount != min(charge.price, hold.amount) { return "post mispriced" }
                lastUsage = usage
                counts["post", default: 0] += 1
            } else {
                try ledger.void(requestId: requestId)
                counts["void", default: 0] += 1
            }
        } catch LedgerError.holdNotOpen(_, let state) where state == .expired {
            counts["expired", default: 0] += 1
            if hold != nil { return "hold \(requestId) listed open but expired" }
        }
        return nil
    }

    private mutating func charge(usage: Usage) throws -> String? {
        do {
            let charge = try ledger.record(usage: usage)
            lastUsage = usage
            counts["charge", default: 0] += 1
            if charge.alreadyRecorded { return "fresh request \(usage.requestId) was a retry" }
        } catch LedgerError.refused(let refusal) {
            counts["refused", default: 0] += 1
            if refusal.available >= refusal.estimate { return "charge refused with funds" }
        }
        return nil
    }

    private mutating func randomUsage(_ requestId: String, _ persona: String) -> Usage {
        Usage(
            requestId: requestId, persona: persona, model: "m",
            parameterCount: [134_515_008, 1_700_000_000, 3_000_000_000].randomElement(
                using: &random)!,
            promptTokens: Int64.random(in: 0...200, using: &random),
            cachedPromptTokens: Int64.random(in: 0...200, using: &random),
            outputTokens: Int64.random(in: 0...64, using: &random),
            elapsedMs: Int64.random(in: 0...4_000, using: &random),
            device: devices.randomElement(using: &random)!)
    }

    private mutating func micro(_ range: ClosedRange<Int64>) -> MicroMotes {
        MicroMotes(Int64.random(in: range, using: &random))
    }

    // MARK: - Checks

    /// Folds the new rows into `derived` and compares with the caches.
    private mutating func check(after before: Int64) throws -> String? {
        let (rows, cached) = try ledger.store.withLock { store in
            (
                try store.db.query(
                    "SELECT \(TransferRow.columns) FROM transfers WHERE seq > ? ORDER BY seq",
                    [.integer(before)]
                ).compactMap(TransferRow.init(row:)),
                try RawLedger.cached(store.db)
            )
        }
        for row in rows {
            if row.sequence != lastSequence + 1 { return "sequence \(row.sequence) skipped" }
            fold(row)
            lastSequence = row.sequence
        }
        for (id, sums) in cached where derived[id, default: BalanceDelta()] != sums {
            return "account \(id): cached \(sums), derived \(derived[id, default: BalanceDelta()])"
        }
        var total = BalanceDelta()
        for sums in cached.values { total.add(sums) }
        if total.debitsPosted != total.creditsPosted || total.debitsPending != total.creditsPending
        {
            return "debits \(total) differ from credits"
        }
        let personaIds = try ledger.store.withLock { store in
            try store.db.query("SELECT id FROM accounts WHERE kind = 'persona'").compactMap {
                $0.int(0)
            }
        }
        for id in personaIds {
            let sums = cached[id, default: BalanceDelta()]
            if sums.creditsPosted - sums.debitsPosted - sums.debitsPending < 0 {
                return "persona account \(id) is below zero: \(sums)"
            }
        }
        return nil
    }

    private mutating func fold(_ row: TransferRow) {
        let amount = row.amountMicro
        switch row.kind {
        case .grant, .refill, .charge, .correction, .post:
            derived[row.debitAccountId, default: BalanceDelta()].debitsPosted += amount
            derived[row.creditAccountId, default: BalanceDelta()].creditsPosted += amount
        case .hold:
            derived[row.debitAccountId, default: BalanceDelta()].debitsPending += amount
            derived[row.creditAccountId, default: BalanceDelta()].creditsPending += amount
            holdAmounts[row.id] = amount
        case .void, .expire:
            break
        }
        if row.kind.resolvesHold, let pendingId = row.pendingId {
            let held = holdAmounts.removeValue(forKey: pendingId) ?? 0
            derived[row.debitAccountId, default: BalanceDelta()].debitsPending -= held
            derived[row.creditAccountId, default: BalanceDelta()].creditsPending -= held
        }
    }
}
