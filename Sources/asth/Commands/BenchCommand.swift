import CPUKernels
import Foundation
import Inference

/// `asth bench --model M [--threads N] [--json]`: prefill and decode speed
/// measured the way `llamacpp_bench.py` measures llama.cpp (a 512-token
/// prompt; 128 greedy tokens; best of three), plus total throughput with
/// several sequences decoding together. A benchmark, never a test.
/// With `--speculate [MODE]` it runs `BenchSpeculateCommand` instead.
enum BenchCommand {
    struct Output: Encodable {
        let engine = "asthenosphere"
        let model: String
        let threads: Int
        let kernels: String
        let prefill_tok_s: Double
        let decode_tok_s: Double
        let batch_tok_s: [String: Double]
        let peak_rss_mb: Double
        let model_file_mb: Double
    }

    /// The text llama.cpp's script tokenizes, cut to `promptTokens`.
    static let words = String(
        repeating: "the quick brown fox jumps over the lazy dog and keeps running far away ",
        count: 80)
    static let promptTokens = 512
    static let decodeTokens = 128
    static let rounds = 3
    static let batchSizes = [1, 2, 4, 8, 16]
    static let batchSteps = 32

    static func run(_ arguments: inout Arguments) throws {
        // `--speculate [MODE]`: plain against speculative decoding instead.
        if let mode = arguments.optionalValue("--speculate") {
            try BenchSpeculateCommand.run(&arguments, mode: mode ?? "auto")
            return
        }
        let context = try Context(&arguments)
        let json = arguments.flag("--json")
        let modelName = try arguments.option("--model") ?? ModelStore.defaultModelName
        try arguments.finish()

        let model = try context.host().model(modelName)
        let prompt = Array(
            try model.tokenizer.encode(words, parseSpecial: false, addSpecial: false)
                .prefix(promptTokens))
        var best = (prefill: 0.0, decode: 0.0)
        for _ in 0..<rounds {
            let (prefill, decode) = try prefillAndDecode(model: model, prompt: prompt)
            best = (max(best.prefill, prefill), max(best.decode, decode))
        }
        var batch: [String: Double] = [:]
        for size in batchSizes {
            let rates = try (0..<rounds).map { _ in try batchDecode(model: model, sequences: size) }
            batch[String(size)] = round1(rates.max() ?? 0)
        }
        let output = Output(
            model: model.name, threads: threadCount(model),
            kernels: String(cString: asth_variant_name(asth_variant_current())),
            prefill_tok_s: round1(best.prefill), decode_tok_s: round1(best.decode),
            batch_tok_s: batch, peak_rss_mb: round1(peakResidentMB()),
            model_file_mb: round1(Double(model.file.fileSizeBytes) / 1_048_576))
        if json {
            try printJSON(output)
        } else {
            print(report(output))
        }
    }

    /// One round: the prompt in one dispatch, then greedy decoding.
    static func prefillAndDecode(model: LanguageModel, prompt: [Int]) throws -> (Double, Double) {
        let sequence = model.makeSequence(capacity: prompt.count + decodeTokens + 1)
        let clock = ContinuousClock()
        let start = clock.now
        let rows = prompt.enumerated().map { position, token in
            BatchRow(
                cache: sequence.cache, position: position, token: token,
                wantsLogits: position == prompt.count - 1)
        }
        var token = argmax(try model.device.dispatch(rows).row(0))
        let prefilled = clock.now
        for step in 0..<decodeTokens {
            let row = BatchRow(
                cache: sequence.cache, position: prompt.count + step, token: token,
                wantsLogits: true)
            token = argmax(try model.device.dispatch([row]).row(0))
        }
        let end = clock.now
        return (
            Double(prompt.count) / (prefilled - start).seconds,
            Double(decodeTokens) / (end - prefilled).seconds
        )
    }

    /// Output tokens per second with `count` sequences decoding together.
    static func batchDecode(model: LanguageModel, sequences count: Int) throws -> Double {
        let caches = (0..<count).map { _ in model.device.makeCache(capacity: 64) }
        var tokens = (0..<count).map { 100 + $0 }
        let clock = ContinuousClock()
        let start = clock.now
        for position in 0..<batchSteps {
            let rows = (0..<count).map { i in
                BatchRow(cache: caches[i], position: position, token: tokens[i], wantsLogits: true)
            }
            let logits = try model.device.dispatch(rows)
            tokens = (0..<count).map { argmax(logits.row($0)) }
        }
        return Double(count * batchSteps) / (clock.now - start).seconds
    }

    static func argmax(_ row: UnsafeBufferPointer<Float>) -> Int {
        var best = 0
        for i in row.indices where row[i] > row[best] {
            best = i
        }
        return best
    }

    static func threadCount(_ model: LanguageModel) -> Int {
        (model.device as? CPUDevice)?.threadCount ?? 1
    }

    /// Peak resident memory of this process, from getrusage (KiB on Linux).
    static func peakResidentMB() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_maxrss) / 1024
    }

    static func round1(_ value: Double) -> Double {
        (value * 10).rounded() / 10
    }

    static func report(_ o: Output) -> String {
        var lines = [
            "model      \(o.model) (\(o.model_file_mb) MB file)",
            "device     cpu, \(o.threads) threads, kernels \(o.kernels)",
            "prefill    \(o.prefill_tok_s) tok/s (\(promptTokens)-token prompt, best of \(rounds))",
            "decode     \(o.decode_tok_s) tok/s (\(decodeTokens) greedy tokens, best of \(rounds))",
        ]
        let single = o.batch_tok_s["1"] ?? 0
        for size in batchSizes {
            let rate = o.batch_tok_s[String(size)] ?? 0
            let ratio = single > 0 ? String(format: "%.2f", rate / single) : "-"
            lines.append(
                "batch \(size)".padding(toLength: 11, withPad: " ", startingAt: 0)
                    + "\(rate) tok/s total, \(ratio)× batch 1 (best of \(rounds))")
        }
        lines.append("peak RSS   \(o.peak_rss_mb) MB")
        return lines.joined(separator: "\n")
    }
}
