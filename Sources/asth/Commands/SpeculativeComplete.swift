import Foundation
import Host
import Inference
import Ledger
import Support
import Tokenizer

/// `asth complete --speculate MODE`: the completion decoded with a
/// speculator in this process (drafts verified in one dispatch), with the
/// speculation figures in `--json`. Plain completions go through the host
/// (`CompleteCommand`).
enum SpeculativeComplete {
    static func run(_ arguments: inout Arguments, context: Context, mode text: String) throws {
        let json = arguments.flag("--json")
        let special = arguments.flag("--special")
        guard let modelName = try arguments.option("--model") else {
            throw UsageError("asth complete: --model is required (e.g. smollm2-135m-instruct)")
        }
        guard let prompt = try arguments.option("--prompt") else {
            throw UsageError("asth complete: --prompt is required")
        }
        let maxTokensAsked =
            try arguments.number("--max-tokens", in: 1...Limits.Personas.replyTokensMax) ?? 128
        let temperature = try arguments.number("--temperature", in: Float(0)...Float(2)) ?? 0
        let seed = try arguments.number("--seed", in: UInt64.min...UInt64.max)
        let mode = try speculationMode(text)
        let draftModelName = try arguments.option("--draft-model")
        try arguments.finish()
        if draftModelName != nil && mode != .draft && mode != .auto {
            throw UsageError(
                "asth complete: --draft-model needs --speculate draft or auto, not \(mode.rawValue)"
            )
        }

        let host = context.host()
        let model = try host.model(modelName)
        let ids = try model.tokenizer.encode(prompt, parseSpecial: special, addSpecial: true)
        guard !ids.isEmpty else {
            throw UsageError("asth complete: --prompt is empty after tokenization")
        }
        // The room a plain completion gets from the host, so that both
        // decode the same tokens and end for the same reason.
        let contextTokens = try CompletionRequest.rawContextTokens(
            promptTokens: ids.count, replyTokens: maxTokensAsked,
            contextLength: model.config.contextLength)
        let maxTokens = contextTokens - ids.count
        var settings = temperature == 0 ? SamplingSettings.greedy : SamplingSettings()
        settings.temperature = temperature
        settings.seed = seed

        let speculator = try makeSpeculator(
            mode: mode, model: model, draftModel: draftModelName.map { try host.model($0) },
            capacity: ids.count + maxTokens, settings: settings)
        let (generated, text, stats) = try generate(
            model: model, prompt: ids, maxTokens: maxTokens, settings: settings,
            speculator: speculator, echo: !json)
        let price = try PriceSchedule.shipped().last!.price(
            Usage(
                requestId: "complete", persona: "complete", model: model.name,
                parameterCount: Int64(model.parameterCount),
                promptTokens: Int64(stats.promptTokens), outputTokens: Int64(stats.outputTokens),
                elapsedMs: Int64(stats.elapsed.milliseconds.rounded(FloatingPointRoundingRule.up)),
                device: model.device.name))
        if json {
            try printJSON(
                CompleteCommand.Output(
                    ids: generated, text: text, tokens: stats.outputTokens,
                    prompt_tokens: stats.promptTokens, dispatches: stats.dispatches,
                    elapsed_ms: CompleteCommand.rounded(stats.elapsed.milliseconds),
                    tok_s: CompleteCommand.rounded(stats.dispatchesPerSecond),
                    eff_tok_s: CompleteCommand.rounded(stats.tokensPerSecond),
                    acceptance: Nullable(stats.acceptance.map { ($0 * 1000).rounded() / 1000 }),
                    motes: Double(price.rawValue) / 1e6, stop: stats.stopReason.rawValue,
                    speculate: mode.rawValue, drafted: stats.draftedTokens,
                    accepted: stats.acceptedTokens,
                    drafting_dispatches: stats.draftingDispatches,
                    mean_accepted_length: (stats.meanAcceptedLength * 100).rounded() / 100,
                    acceptance_by_position: stats.acceptanceByPosition.map {
                        ($0 * 1000).rounded() / 1000
                    },
                    speculation_pauses: stats.speculationPauses,
                    paused_dispatches: stats.pausedDispatches))
        } else {
            print("")
            var usage = CompletionUsage()
            usage.completionTokens = stats.outputTokens
            usage.elapsedMs = stats.elapsed.milliseconds
            usage.microMotes = price.rawValue
            usage.stopReason = stats.stopReason.rawValue
            StatusLine.print(usage: usage, charged: false)
            if let acceptance = stats.acceptance {
                StatusLine.note(
                    "\(mode.rawValue): \(Int((acceptance * 100).rounded()))% of"
                        + " \(stats.draftedTokens) drafts accepted · \(stats.dispatches)"
                        + " dispatches · "
                        + "\(String(format: "%.1f", stats.dispatchesPerSecond)) tok/s"
                )
            }
        }
    }

    /// The modes `complete` takes: memory needs a persona, so it is `chat`'s.
    static func speculationMode(_ text: String) throws -> SpeculationMode {
        guard let mode = SpeculationMode(rawValue: text), mode != .memory else {
            throw UsageError(
                "asth complete: --speculate \(text): expected off, ngram, draft or auto"
                    + " (memory needs a persona)")
        }
        return mode
    }

    /// The speculator for `mode`; a draft mode without `--draft-model`
    /// drafts with the model itself, which checks the machinery rather
    /// than saving time.
    static func makeSpeculator(
        mode: SpeculationMode, model: LanguageModel, draftModel: LanguageModel?, capacity: Int,
        settings: SamplingSettings
    ) throws -> Speculator? {
        guard mode != .off else { return nil }
        let drafter = try Speculator.drafter(
            for: mode,
            draftModel: draftDrafter(
                mode: mode, model: model, draftModel: draftModel, capacity: capacity,
                settings: settings))
        let costs = try MeasuredCostModel.calibrated(device: model.device)
        return Speculator(drafter: drafter, governor: SpeculationGovernor(costModel: costs))
    }

    /// The draft model's drafter `mode` runs: `draftModel`'s under `auto`
    /// when one is given, under `draft` that one or the model itself; nil
    /// for the other modes.
    static func draftDrafter(
        mode: SpeculationMode, model: LanguageModel, draftModel: LanguageModel?, capacity: Int,
        settings: SamplingSettings
    ) throws -> DraftModelDrafter? {
        guard mode == .draft || (mode == .auto && draftModel != nil) else { return nil }
        return try DraftModelDrafter(
            draft: draftModel ?? model, target: model, capacity: capacity, settings: settings)
    }

    /// Runs the generation, echoing text as it arrives when asked.
    static func generate(
        model: LanguageModel, prompt: [Int], maxTokens: Int, settings: SamplingSettings,
        speculator: Speculator? = nil, echo: Bool
    ) throws -> ([Int], String, GenerationStats) {
        let sequence = model.makeSequence(capacity: prompt.count + maxTokens)
        var sampler = Sampler(settings: settings)
        var decoder = StreamDecoder(tokenizer: model.tokenizer)
        var ids: [Int] = []
        var text = ""
        let generator = Generator(device: model.device, speculator: speculator)
        let stats = try generator.generate(
            prompt: prompt, on: sequence, maxTokens: maxTokens, sampler: &sampler,
            stopIDs: model.stopIDs
        ) { id in
            ids.append(id)
            let piece = (try? decoder.push(id)) ?? ""
            text += piece
            if echo && !piece.isEmpty {
                Swift.print(piece, terminator: "")
                flushOutput()
            }
            return !Interrupt.requested
        }
        let tail = decoder.finish()
        text += tail
        if echo { Swift.print(tail, terminator: "") }
        return (ids, text, stats)
    }
}

/// An optional that encodes `nil` as JSON `null` rather than leaving the
/// key out, so that clients always find the field.
struct Nullable<Value: Encodable>: Encodable {
    let value: Value?

    init(_ value: Value?) {
        self.value = value
    }

    func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        if let value {
            try container.encode(value)
        } else {
            try container.encodeNil()
        }
    }
}
