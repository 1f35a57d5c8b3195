import Foundation
import Testing

@testable import Ledger

/// The Motes formula: its anchor, the README's worked example, and that the
/// price never falls when an input rises.
@Suite struct PricingTests {
    let schedule: PriceSchedule

    init() throws {
        schedule = try #require(PriceSchedule.shipped().last)
    }

    /// 1 Mote per output token of a 3B model on the CPU at the reference
    /// latency, for any number of tokens.
    @Test(arguments: [1, 7, 100, 4096] as [Int64])
    func anchor(outputTokens: Int64) throws {
        let usage = Usage(
            requestId: "anchor", persona: "p", model: "3b", parameterCount: 3_000_000_000,
            promptTokens: 0, outputTokens: outputTokens,
            elapsedMs: outputTokens * schedule.referenceMsPerMote, device: "cpu")
        #expect(try schedule.price(usage) == .motes(outputTokens))
    }

    /// The worked example in Ledger/README.md, to the micro-Mote.
    @Test func readmeWorkedExample() throws {
        let usage = Usage(
            requestId: "example", persona: "ada", model: "smollm2-135m-instruct",
            parameterCount: 134_515_008, promptTokens: 40, cachedPromptTokens: 200,
            outputTokens: 100, elapsedMs: 900, device: "cpu")
        #expect(try schedule.price(usage) == MicroMotes(7_078_204))
        #expect(try schedule.price(usage).description == "7.1")
    }

    /// Table of cases around the cap and the shares.
    @Test(
        arguments: [
            // (parameters, prompt, cached, output, elapsed ms, expected µMotes)
            (3_000_000_000, 0, 0, 10, 0, 5_000_000),  // no latency: the work half only
            (3_000_000_000, 0, 0, 10, 1_000_000, 25_000_000),  // capped at 4x work
            (3_000_000_000, 4, 0, 0, 100, 1_000_000),  // 4 prompt tokens = 1 output token
            (3_000_000_000, 0, 40, 0, 100, 1_000_000),  // 40 cached tokens = 1 output token
            (0, 100, 100, 100, 0, 0),  // a model without parameters costs nothing
        ] as [(Int64, Int64, Int64, Int64, Int64, Int64)])
    func table(_ c: (Int64, Int64, Int64, Int64, Int64, Int64)) throws {
        let usage = Usage(
            requestId: "t", persona: "p", model: "m", parameterCount: c.0, promptTokens: c.1,
            cachedPromptTokens: c.2, outputTokens: c.3, elapsedMs: c.4, device: "cpu")
        #expect(try schedule.price(usage) == MicroMotes(c.5))
    }

    /// Raising any one input over a grid never lowers the price.
    @Test func priceNeverFallsWhenAnInputRises() throws {
        let parameters: [Int64] = [0, 1, 134_515_008, 1_000_000_000, 3_000_000_000, 70_000_000_000]
        let tokens: [Int64] = [0, 1, 2, 3, 17, 100, 999, 4096]
        let latencies: [Int64] = [0, 1, 9, 10, 99, 100, 1_000, 60_000, 3_600_000]
        var checked = 0
        for p in parameters.indices {
            for a in tokens.indices {
                for b in tokens.indices {
                    for c in tokens.indices {
                        for l in latencies.indices {
                            let base = [p, a, b, c, l]
                            let price = try priceAt(base, parameters, tokens, latencies)
                            for axis in 0..<5 {
                                var next = base
                                next[axis] += 1
                                let limit = [parameters, tokens, tokens, tokens, latencies][axis]
                                guard next[axis] < limit.count else { continue }
                                let raised = try priceAt(next, parameters, tokens, latencies)
                                #expect(raised >= price, "axis \(axis) from \(base)")
                                checked += 1
                            }
                        }
                    }
                }
            }
        }
        #expect(checked > 50_000)
    }

    /// A hold's worst case covers any usage within its counts.
    @Test func worstCaseBoundsEveryActualUsage() throws {
        let estimate = try schedule.worstCase(
            parameterCount: 134_515_008, promptTokens: 300, maxOutputTokens: 128, device: "cpu")
        for (prompt, cached, output, elapsed) in [
            (300, 0, 128, 3_600_000), (0, 300, 128, 3_600_000), (150, 150, 128, 1_000_000),
            (300, 0, 0, 0), (1, 0, 1, 1),
        ] as [(Int64, Int64, Int64, Int64)] {
            let actual = try schedule.price(
                usage("w", prompt: prompt, cached: cached, output: output, elapsedMs: elapsed))
            #expect(actual <= estimate)
        }
    }

    /// A schedule with a bad field is refused naming the field and value.
    @Test(arguments: [
        ("latencySharePpm", "1000001"), ("referenceMsPerMote", "0"),
        ("cachedPromptTokenWeightPpm", "300000"), ("latencyCapFactor", "0"),
    ])
    func invalidSchedulesNameTheirField(field: String, value: String) throws {
        let text = try #require(Embedded.priceSchedules.last?.text)
        var object = try #require(
            JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        object[field] = Int(value)
        let data = try JSONSerialization.data(withJSONObject: object)
        #expect {
            try PriceSchedule.decode(data, name: "bad.json")
        } throws: { error in
            "\(error)".contains(field) && "\(error)".contains(value)
        }
    }

    /// An unknown device has no price.
    @Test func unknownDeviceIsRefused() {
        var u = usage("d")
        u.device = "gpu"
        #expect(throws: LedgerError.self) { try schedule.price(u) }
    }

    private func priceAt(
        _ index: [Int], _ parameters: [Int64], _ tokens: [Int64], _ latencies: [Int64]
    ) throws -> MicroMotes {
        try schedule.price(
            Usage(
                requestId: "g", persona: "p", model: "m", parameterCount: parameters[index[0]],
                promptTokens: tokens[index[1]], cachedPromptTokens: tokens[index[2]],
                outputTokens: tokens[index[3]], elapsedMs: latencies[index[4]], device: "cpu"))
    }
}
