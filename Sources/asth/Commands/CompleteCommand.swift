import Foundation
import Inference
import Ledger
import Tokenizer

/// `asth complete`: a raw completion of a prompt, streamed, or as one JSON
/// object with the ids, the text and the generation's metrics.
enum CompleteCommand {
    struct Output: Encodable {
        let ids: [Int]
        let text: String
        let tokens: Int
        let prompt_tokens: Int
        let dispatches: Int
        let elapsed_ms: Double
        let tok_s: Double
        let eff_tok_s: Double
        let acceptance: Double?
        let motes: Double
        let stop: String
    }

    static func run(_ arguments: inout Arguments) throws {
        let context = try Context(&arguments)
        let json = arguments.flag("--json")
        let special = arguments.flag("--special")
        guard let modelName = try arguments.option("--model") else {
            throw UsageError("asth complete: --model is required (e.g. smollm2-135m-instruct)")
        }
        guard let prompt = try arguments.option("--prompt") else {
            throw UsageError("asth complete: --prompt is required")
        }
        let maxTokens = try arguments.number("--max-tokens", in: 1...65_536) ?? 128
        let temperature = try arguments.number("--temperature", in: Float(0)...Float(2)) ?? 0
        let seed = try arguments.number("--seed", in: UInt64.min...UInt64.max)
        let speculate = try arguments.option("--speculate") ?? "off"
        guard speculate == "off" else {
            throw UsageError("asth complete: --speculate \(speculate): not available yet (off)")
        }
        try arguments.finish()

        let model = try context.host().model(modelName)
        let ids = try model.tokenizer.encode(prompt, parseSpecial: special, addSpecial: true)
        guard !ids.isEmpty else {
            throw UsageError("asth complete: --prompt is empty after tokenization")
        }
        var settings = temperature == 0 ? SamplingSettings.greedy : SamplingSettings()
        settings.temperature = temperature
        settings.seed = seed

        let (generated, text, stats) = try generate(
            model: model, prompt: ids, maxTokens: maxTokens, settings: settings, echo: !json)
        let price = try PriceSchedule.shipped().last!.price(
            Usage(
                requestId: "complete", persona: "complete", model: model.name,
                parameterCount: Int64(model.parameterCount),
                promptTokens: Int64(stats.promptTokens), outputTokens: Int64(stats.outputTokens),
                elapsedMs: Int64(stats.elapsed.milliseconds.rounded(FloatingPointRoundingRule.up)),
                device: model.device.name))
        if json {
            try printJSON(
                Output(
                    ids: generated, text: text, tokens: stats.outputTokens,
                    prompt_tokens: stats.promptTokens, dispatches: stats.dispatches,
                    elapsed_ms: (stats.elapsed.milliseconds * 10).rounded() / 10,
                    tok_s: rounded(stats.dispatchesPerSecond),
                    eff_tok_s: rounded(stats.tokensPerSecond), acceptance: nil,
                    motes: Double(price.rawValue) / 1e6, stop: stats.stopReason.rawValue))
        } else {
            print("")
            StatusLine.print(stats: stats, motes: price, charged: false)
        }
    }

    /// Runs the generation, echoing text as it arrives when asked.
    static func generate(
        model: LanguageModel, prompt: [Int], maxTokens: Int, settings: SamplingSettings,
        echo: Bool
    ) throws -> ([Int], String, GenerationStats) {
        let sequence = model.makeSequence(capacity: prompt.count + maxTokens)
        var sampler = Sampler(settings: settings)
        var decoder = StreamDecoder(tokenizer: model.tokenizer)
        var ids: [Int] = []
        var text = ""
        let stats = try Generator(device: model.device).generate(
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

    static func rounded(_ value: Double) -> Double {
        (value * 10).rounded() / 10
    }
}
