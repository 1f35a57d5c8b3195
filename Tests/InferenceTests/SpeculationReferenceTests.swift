import Foundation
import Inference
import Support
import Testing
import Tokenizer

/// Greedy speculation on the real model: every drafter gives exactly the
/// ids of our own plain greedy decode on each reference prompt (llama.cpp's
/// ids are `ReferenceTests`' business), and the figures are plausible.
@Suite("Speculation: greedy on SmolLM2-135M equals plain greedy")
struct SpeculationReferenceTests {
    /// Tokens per reply: the reference replies are at most 48.
    static let maxTokens = 48
    static let stopIDs: Set<Int> = [2]

    /// The drafters, each on its own device (and the draft model on one of
    /// its own: the same weights, so greedy drafts are always accepted).
    enum Mode: String, CaseIterable, Sendable {
        case ngram, memory, draft, auto
    }

    struct Run {
        var ids: [Int] = []
        var stats = GenerationStats()
    }

    static func decode(_ prompt: [Int], device: CPUDevice, speculator: Speculator?) throws -> Run {
        let sequence = TokenSequence(cache: device.makeCache(capacity: 256))
        var sampler = Sampler(settings: .greedy)
        var run = Run()
        run.stats = try Generator(device: device, speculator: speculator).generate(
            prompt: prompt, on: sequence, maxTokens: maxTokens, sampler: &sampler,
            stopIDs: stopIDs
        ) { id in
            run.ids.append(id)
            return true
        }
        return run
    }

    /// A speculator for `mode`; the memory has learned `learned` after the
    /// prompt, as if the persona had answered it before.
    static func speculator(
        _ mode: Mode, prompt: [Int], learned: [Int], device: CPUDevice
    ) throws -> Speculator {
        let memory = PersonaMemory.inMemory(
            persona: "reference", model: "smollm2", vocabularySize: device.config.vocabularySize)
        try memory.learn(reply: learned, after: prompt)
        let draftDevice = try TestModel.device()
        let draft = DraftModelDrafter(
            device: draftDevice, modelName: "smollm2", capacity: 256, settings: .greedy)
        let drafter = try Speculator.drafter(
            for: SpeculationMode(rawValue: mode.rawValue)!, memory: memory, draftModel: draft)
        let costs = try MeasuredCostModel.calibrated(device: device, repeats: 1)
        return Speculator(drafter: drafter, governor: SpeculationGovernor(costModel: costs))
    }

    @Test(
        "each drafter gives plain greedy's ids",
        arguments: Reference.shared.greedy.indices, Mode.allCases)
    func equalsPlain(index: Int, mode: Mode) throws {
        let prompt = Reference.shared.greedy[index].prompt_ids
        let device = try TestModel.device()
        let plain = try Self.decode(prompt, device: device, speculator: nil)

        // The memory learned the second half of the plain reply, so its
        // drafts are right only part of the time.
        let learned = Array(plain.ids.suffix(plain.ids.count / 2))
        let speculator = try Self.speculator(mode, prompt: prompt, learned: learned, device: device)
        let run = try Self.decode(prompt, device: device, speculator: speculator)
        #expect(run.ids == plain.ids)
        #expect(run.stats.stopReason == plain.stats.stopReason)
        #expect(run.stats.dispatches <= plain.stats.dispatches)
        // The governor may pause drafting on a slow or loaded machine (it
        // prices dispatches by measured time); what was drafted was right.
        if mode == .draft, let acceptance = run.stats.acceptance {
            #expect(acceptance == 1, "a draft model equal to the target is always right")
        }
        Log("speculation-test").info(
            "reference",
            [
                "prompt": index, "mode": mode.rawValue, "tokens": run.stats.outputTokens,
                "dispatches": run.stats.dispatches, "plain_dispatches": plain.stats.dispatches,
                "acceptance": run.stats.acceptance ?? -1,
            ])
    }

    @Test("a reply that repeats itself is mostly drafted by prompt lookup")
    func repetitiveReply() throws {
        // "The days of the week, each followed by a colon": the model lists
        // them, then lists them again.
        let tokenizer = try Tokenizer(gguf: TestModel.gguf)
        let prompt = try tokenizer.encode(
            "<|im_start|>user\nList the days of the week, one per line, each followed by a colon"
                + " and the word ok.<|im_end|>\n<|im_start|>assistant\n",
            parseSpecial: true, addSpecial: false)
        let device = try TestModel.device()
        let plain = try Self.decode(prompt, device: device, speculator: nil)
        // Fixed costs, where a verified row is cheap: what this test checks
        // is what prompt lookup drafts, not what a loaded machine measures.
        let speculator = Speculator(
            drafter: PromptLookupDrafter(), governor: SpeculationGovernor(costModel: FixedCosts()))
        let run = try Self.decode(prompt, device: device, speculator: speculator)
        #expect(run.ids == plain.ids)
        #expect((run.stats.acceptance ?? 0) >= 0.7, "acceptance \(run.stats.acceptance ?? 0)")
        #expect(
            Double(run.stats.dispatches) <= 0.7 * Double(plain.stats.dispatches),
            "\(run.stats.dispatches) dispatches against \(plain.stats.dispatches)")
    }
}

/// Dispatch costs that never change: 10 ms plus 1 ms a row.
final class FixedCosts: DispatchCostModel, @unchecked Sendable {
    func cost(rows: Int) -> Duration? { .milliseconds(10 + rows) }
    func observe(rows: Int, elapsed: Duration) {}
}
