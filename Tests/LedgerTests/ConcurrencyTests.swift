import Foundation
import Synchronization
import Testing

@testable import Ledger

/// Many writers on one database file, each with its own connection, as
/// separate host processes would be.
@Suite struct ConcurrencyTests {
    /// 64 concurrent requests against a balance that covers 10: exactly 10
    /// are charged, the rest refused before compute, never a negative
    /// balance, and the chain still verifies.
    @Test func sixtyFourRequestsAgainstTenCovered() throws {
        let scratch = try Scratch()
        let request = usage("template", output: 64, elapsedMs: 3_600_000)
        let cost: MicroMotes
        do {
            let ledger = try scratch.open()
            cost = try ledger.currentSchedule.price(request)
            #expect(
                try cost
                    == ledger.estimate(
                        parameterCount: request.parameterCount, promptTokens: request.promptTokens,
                        maxOutputTokens: request.outputTokens))
            try ledger.grant(persona: "ada", amount: MicroMotes(cost.rawValue * 10))
        }

        // 64 threads, each with its own ledger connection, released together.
        let outcomes = Mutex<[String]>([])
        let start = DispatchSemaphore(value: 0)
        let group = DispatchGroup()
        for index in 0..<64 {
            group.enter()
            let thread = Thread {
                defer { group.leave() }
                start.wait()
                let outcome = Self.request(index, scratch: scratch, template: request, cost: cost)
                outcomes.withLock { $0.append(outcome) }
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
        for _ in 0..<64 { start.signal() }
        group.wait()

        // Exactly the covered ten were charged; the books still balance.
        let results = outcomes.withLock { $0 }
        #expect(results.count == 64)
        #expect(results.filter { $0 == "charged" }.count == 10, "\(results)")
        #expect(results.filter { $0 == "refused" }.count == 54, "\(results)")
        let ledger = try scratch.open()
        #expect(try ledger.balance(persona: "ada") == .zero)
        #expect(
            try ledger.history(persona: "ada", limit: 1000).filter {
                $0.transfer.kind == .post
            }.count == 10)
        let report = try ledger.verify()
        #expect(report.ok, "\(report.problems)")
    }

    /// Processes that open a fresh home at the same moment migrate it once
    /// and agree on one signing key.
    @Test func concurrentFirstOpensAgreeOnOneKey() throws {
        let scratch = try Scratch()
        let keys = Mutex<[String]>([])
        let group = DispatchGroup()
        for index in 0..<16 {
            group.enter()
            Thread {
                defer { group.leave() }
                do {
                    let ledger = try scratch.open()
                    try ledger.grant(persona: "p\(index)", amount: .motes(1))
                    keys.withLock { $0.append(ledger.publicKeyHex) }
                } catch {
                    keys.withLock { $0.append("error \(error)") }
                }
            }.start()
        }
        group.wait()
        let seen = keys.withLock { $0 }
        #expect(seen.count == 16)
        #expect(Set(seen).count == 1, "\(Set(seen))")
        let attributes = try FileManager.default.attributesOfItem(atPath: scratch.keyURL.path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        #expect(try scratch.open().verify().ok)
    }

    /// One request: open, hold the worst case, post the usage.
    private static func request(
        _ index: Int, scratch: Scratch, template: Usage, cost: MicroMotes
    ) -> String {
        do {
            let ledger = try scratch.open()
            var usage = template
            usage.requestId = "req-\(index)"
            try ledger.hold(
                persona: "ada", requestId: usage.requestId, amount: cost, timeout: .seconds(600))
            let charge = try ledger.post(usage: usage)
            return charge.amount == cost ? "charged" : "charged \(charge.amount)"
        } catch LedgerError.refused {
            return "refused"
        } catch {
            return "error \(error)"
        }
    }
}
