import Foundation
import Inference
import Tokenizer

extension BenchSpeculateCommand {
    /// The prompts: lists, edits of text the prompt gives, a reply that
    /// repeats itself (the prompt lookup's ground), a persona's recurring
    /// phrases (its memory's), and free prose. Chosen before measuring and
    /// reported whatever they give: some ask for repeats the small model
    /// does not produce.
    static let workloads: [Workload] = [
        Workload(
            name: "week-list", kind: .structured, system: nil,
            user: "List the days of the week, one per line, each followed by a colon and the"
                + " word ok.",
            learnedFrom: []),
        Workload(
            name: "repeat-line", kind: .structured, system: nil,
            user: "Write the line 'Error 404: page not found. Please check the address.' ten"
                + " times, one per line.",
            learnedFrom: []),
        Workload(
            name: "numbered-list", kind: .structured, system: nil,
            user: "Turn this into a numbered list: apples, bananas, cherries, dates, elderberries,"
                + " figs, grapes.",
            learnedFrom: []),
        Workload(
            name: "spelling-fix", kind: .structured, system: nil,
            user: "Fix the spelling mistakes in this text and write it out again: Teh quick brown"
                + " fox jumpd over the lazzy dog. It was a sunny day and the fox was very hapy.",
            learnedFrom: []),
        Workload(
            name: "code-edit", kind: .structured, system: nil,
            user: """
                Add a comment above each line of this Python function and show the whole \
                function.

                def add_all(values):
                    total = 0
                    for value in values:
                        if value > 0:
                            total = total + value
                    return total
                """,
            learnedFrom: []),
        Workload(
            name: "persona-phrases", kind: .structured,
            system: "You are Captain Byte, a pirate who helps people with computers. Begin"
                + " every answer with 'Ahoy, matey! Captain Byte at your service.' and end it"
                + " with 'Fair winds and full sails!'",
            user: "How do I copy a file?",
            learnedFrom: [
                "How do I restart my computer?", "What is a file?", "How do I save a document?",
                "How do I delete a file?", "How do I make a new folder?",
            ]),
        Workload(
            name: "pirate-sea", kind: .structured,
            system: "You are a pirate. Answer like a pirate.", user: "Tell me about the sea.",
            learnedFrom: []),
        Workload(
            name: "story", kind: .prose, system: nil,
            user: "Write a short story about a lighthouse keeper who finds a message in a bottle.",
            learnedFrom: []),
        Workload(
            name: "explain", kind: .prose, system: nil,
            user: "Explain to a ten-year-old why the sky is blue.", learnedFrom: []),
        Workload(
            name: "letter", kind: .prose, system: nil,
            user: "Write a friendly letter inviting a neighbour to a garden party.",
            learnedFrom: []),
    ]

    /// Runs workloads on one model.
    struct Bench {
        let model: LanguageModel
        let draftModel: LanguageModel?
        let mode: SpeculationMode
        let costs: MeasuredCostModel
        let maxTokens: Int

        /// Plain and speculative runs in turn, `repeats` of each; medians.
        func measure(_ workload: Workload, repeats: Int) throws -> Row {
            let prompt = try encode(system: workload.system, user: workload.user)

            // The persona: its governor, and its memory of earlier replies.
            let governor = SpeculationGovernor(costModel: costs)
            let memory = PersonaMemory.inMemory(
                persona: workload.name, model: model.name,
                vocabularySize: model.config.vocabularySize)
            for question in workload.learnedFrom {
                let context = try encode(system: workload.system, user: question)
                let reply = try generate(context, speculator: nil).ids
                try memory.learn(reply: reply, after: context)
            }

            // Interleaved, so that the machine's load falls on both alike.
            var plain: [Timed] = []
            var speculative: [Timed] = []
            for _ in 0..<repeats {
                plain.append(try generate(prompt, speculator: nil))
                let speculator = try makeSpeculator(
                    memory: memory, governor: governor, capacity: prompt.count + maxTokens)
                speculative.append(try generate(prompt, speculator: speculator))
            }
            return row(workload, plain: plain, speculative: speculative)
        }

        /// One run: its ids, its figures, and the process's CPU time.
        struct Timed {
            let ids: [Int]
            let stats: GenerationStats
            let cpuSeconds: Double

            var tokensPerCPUSecond: Double { Double(stats.outputTokens) / cpuSeconds }
        }

        private func row(_ workload: Workload, plain: [Timed], speculative: [Timed]) -> Row {
            let pairs = zip(plain, speculative)
            let ratios = pairs.map { $1.stats.tokensPerSecond / $0.stats.tokensPerSecond }
            let cpuRatios = pairs.map { $1.tokensPerCPUSecond / $0.tokensPerCPUSecond }
            let stats = speculative.map(\.stats)
            let drafted = stats.map(\.draftedTokens).reduce(0, +)
            let accepted = stats.map(\.acceptedTokens).reduce(0, +)
            let drafting = stats.map(\.draftingDispatches).reduce(0, +)
            return Row(
                workload: workload.name, kind: workload.kind, mode: mode.rawValue,
                tokens: stats[0].outputTokens,
                plain_tok_s: rounded(median(plain.map(\.stats.tokensPerSecond)), 1),
                eff_tok_s: rounded(median(stats.map(\.tokensPerSecond)), 1),
                ratio: rounded(median(ratios), 2), cpu_ratio: rounded(median(cpuRatios), 2),
                acceptance: drafted > 0 ? rounded(Double(accepted) / Double(drafted), 3) : nil,
                mean_accepted_length: drafting > 0
                    ? rounded(Double(accepted) / Double(drafting), 2) : 0,
                plain_dispatches: plain[0].stats.dispatches, dispatches: stats[0].dispatches,
                pauses: stats.map(\.speculationPauses).reduce(0, +),
                identical: pairs.allSatisfy { $0.ids == $1.ids },
                reply: (try? model.tokenizer.decode(plain[0].ids)) ?? "")
        }

        /// The drafter for the mode, frozen so that measured replies teach
        /// the memory nothing (each run must start from the same memory).
        private func makeSpeculator(
            memory: PersonaMemory, governor: SpeculationGovernor, capacity: Int
        ) throws -> Speculator {
            let drafter = try Speculator.drafter(
                for: mode, memory: memory,
                draftModel: SpeculativeComplete.draftDrafter(
                    mode: mode, model: model, draftModel: draftModel, capacity: capacity,
                    settings: .greedy))
            return Speculator(drafter: drafter.map(FrozenDrafter.init), governor: governor)
        }

        /// The chat prompt with the model's template.
        private func encode(system: String?, user: String) throws -> [Int] {
            var messages: [ChatMessage] = []
            if let system {
                messages.append(ChatMessage(role: .system, content: system))
            }
            messages.append(ChatMessage(role: .user, content: user))
            return try model.template.encode(
                messages, addGenerationPrompt: true, with: model.tokenizer)
        }

        /// One greedy reply on a fresh sequence, timed from after the
        /// prefill: the prompt but its last token is in the cache before the
        /// clocks start, so both runs time decoding alone (as llama.cpp's
        /// eval rate does), and a short reply is not diluted by a prefill
        /// that speculation cannot shorten.
        private func generate(_ prompt: [Int], speculator: Speculator?) throws -> Timed {
            let sequence = model.makeSequence(capacity: prompt.count + maxTokens)
            if prompt.count > 1 {
                var prefillSampler = Sampler(settings: .greedy)
                _ = try Generator(device: model.device).generate(
                    prompt: Array(prompt.dropLast()), on: sequence, maxTokens: 1,
                    sampler: &prefillSampler, stopIDs: []
                ) { _ in true }
            }
            var sampler = Sampler(settings: .greedy)
            var ids: [Int] = []
            let cpuStart = BenchSpeculateCommand.processCPUSeconds()
            let stats = try Generator(device: model.device, speculator: speculator).generate(
                prompt: prompt, on: sequence, maxTokens: maxTokens, sampler: &sampler,
                stopIDs: model.stopIDs
            ) { id in
                ids.append(id)
                return true
            }
            return Timed(
                ids: ids, stats: stats,
                cpuSeconds: BenchSpeculateCommand.processCPUSeconds() - cpuStart)
        }
    }

    /// CPU time of every thread of the process: on a machine shared with
    /// other work it moves far less than wall time, so with `--threads 1`
    /// (no pool waiting) it measures the device time a run needed.
    static func processCPUSeconds() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }
}

/// Proposes as its drafter does and learns nothing from finished replies.
final class FrozenDrafter: Drafter {
    let inner: Drafter
    var name: String { inner.name }
    var sources: [String] { inner.sources }

    init(_ inner: Drafter) {
        self.inner = inner
    }

    func propose(after history: [Int], countMax: Int) throws -> Draft {
        try inner.propose(after: history, countMax: countMax)
    }

    func propose(after history: [Int], countMax: Int, lengths: (String) -> Int) throws -> Draft {
        try inner.propose(after: history, countMax: countMax, lengths: lengths)
    }
}
