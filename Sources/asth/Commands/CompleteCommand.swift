import Foundation
import Host
import Support

/// `asth complete`: a raw completion of a prompt, streamed, or as one JSON
/// object with the ids, the text and the generation's metrics. It is
/// priced but charged to nobody.
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
        /// Accepted draft tokens over drafted ones, 0 to 1; null when off.
        let acceptance: Nullable<Double>
        let motes: Double
        let stop: String
        /// The drafter and its figures: off and zeros through the host;
        /// `SpeculativeComplete` fills them in, and the rest of them, which
        /// only it reports (left out of the JSON when nil).
        var speculate = "off"
        var drafted = 0
        var accepted = 0
        var drafting_dispatches: Int? = nil
        var mean_accepted_length: Double? = nil
        var acceptance_by_position: [Double]? = nil
        var speculation_pauses: Int? = nil
        var paused_dispatches: Int? = nil
    }

    static func run(_ arguments: inout Arguments) throws {
        let context = try Context(&arguments)
        let speculate = try arguments.option("--speculate") ?? "off"
        if speculate != "off" {
            try SpeculativeComplete.run(&arguments, context: context, mode: speculate)
            return
        }
        let catalog = try Context.catalog(&arguments)
        let json = arguments.flag("--json")
        let request = try self.request(&arguments)
        try arguments.finish()

        // Stream the text unless the answer is one JSON object.
        let service = context.service(catalog: catalog)
        Interrupt.install()
        let cancellation = Cancellation()
        var text = ""
        let loading = LoadLine()
        let usage = try Interrupt.reply(cancellation) {
            defer { loading.clear() }
            return try service.complete(request, cancellation: cancellation) { event in
                if case .progress(let step) = event { loading.show(step) }
                guard case .text(let piece) = event else { return }
                text += piece
                if !json {
                    print(piece, terminator: "")
                    flushOutput()
                }
            }
        }
        if json {
            try printJSON(output(usage, text: text))
        } else {
            print("")
            StatusLine.print(usage: usage, charged: false)
        }
    }

    /// The request the options describe: greedy by default, or the sampler's
    /// defaults at `--temperature T`, every setting spelled out so that no
    /// persona default applies.
    static func request(_ arguments: inout Arguments) throws -> CompletionRequest {
        let special = arguments.flag("--special")
        guard let model = try arguments.option("--model") else {
            throw UsageError("asth complete: --model is required (e.g. smollm2-135m-instruct)")
        }
        guard let prompt = try arguments.option("--prompt") else {
            throw UsageError("asth complete: --prompt is required")
        }
        let maxTokens =
            try arguments.number("--max-tokens", in: 1...Limits.Personas.replyTokensMax) ?? 128
        let temperature = try arguments.number("--temperature", in: 0.0...2.0) ?? 0
        let seed = try arguments.number("--seed", in: UInt64.min...UInt64.max)

        var request = CompletionRequest(
            persona: "", input: .raw(prompt, special: special), maxTokens: maxTokens)
        request.model = model
        request.returnsTokenIds = true
        request.temperature = temperature
        request.seed = seed
        let greedy = temperature == 0
        request.topK = greedy ? 0 : 40
        request.topP = greedy ? 1 : 0.95
        request.minP = greedy ? 0 : 0.05
        request.repeatPenalty = 1
        return request
    }

    static func output(_ usage: CompletionUsage, text: String) -> Output {
        Output(
            ids: usage.outputIds ?? [], text: text, tokens: usage.completionTokens,
            prompt_tokens: usage.promptTokens, dispatches: usage.dispatches,
            elapsed_ms: rounded(usage.elapsedMs), tok_s: rounded(usage.dispatchesPerSecond),
            eff_tok_s: rounded(usage.tokensPerSecond), acceptance: Nullable(nil),
            motes: Double(usage.microMotes) / 1e6, stop: usage.stopReason)
    }

    static func rounded(_ value: Double) -> Double {
        (value * 10).rounded() / 10
    }
}
