import Foundation
import Support

/// Fields both completion endpoints take: sampling overrides, limits,
/// streaming and stop strings, and the OpenAI fields accepted only at
/// their defaults.
///
/// Every value is checked here against the ranges a persona file allows,
/// so that a client gets the field's name back; the host checks again
/// against the persona's own settings.
struct RequestFields {
    var maxTokens: Int?
    var temperature: Double?
    var topP: Double?
    var topK: Int?
    var minP: Double?
    var repeatPenalty: Double?
    var seed: UInt64?
    var stream = false
    /// `stream_options.include_usage`: a last chunk with `usage`.
    var includeUsage = false
    var stop: [String] = []

    /// Keys of the fields above and of the accepted-at-default ones.
    static let keys: Set<String> = [
        "max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k", "min_p",
        "repeat_penalty", "seed", "stream", "stream_options", "stop", "n", "presence_penalty",
        "frequency_penalty", "user", "logprobs",
    ]

    /// Reads and checks the fields from a body's top-level object.
    init(from object: JSONObjectReader) throws(OpenAIError) {
        try readLimits(object)
        try readSampling(object)
        stream = try object.bool("stream") ?? false
        if let options = try object.object("stream_options") {
            try options.rejectUnknown(allowed: ["include_usage"])
            includeUsage = try options.bool("include_usage") ?? false
        }
        stop = try Self.readStop(object)
        try Self.rejectNonDefault(object)
    }

    /// `max_tokens` (or its newer name), 1 to the longest reply any persona
    /// may have.
    private mutating func readLimits(_ object: JSONObjectReader) throws(OpenAIError) {
        let legacy = try object.integer("max_tokens")
        let current = try object.integer("max_completion_tokens")
        if let legacy, let current, legacy != current {
            throw .invalid(
                "max_completion_tokens",
                "max_tokens (\(legacy)) and max_completion_tokens (\(current)) disagree; send one")
        }
        maxTokens = current ?? legacy
        if let maxTokens, !(1...Limits.Personas.replyTokensMax).contains(maxTokens) {
            throw .invalid(
                current != nil ? "max_completion_tokens" : "max_tokens",
                "max_tokens = \(maxTokens) must be 1 to \(Limits.Personas.replyTokensMax)")
        }
    }

    /// Sampling overrides, each in the range a persona file allows.
    private mutating func readSampling(_ object: JSONObjectReader) throws(OpenAIError) {
        temperature = try object.number("temperature", in: 0...2, describe: "0 to 2")
        topP = try object.number("top_p", in: Double.ulpOfOne...1, describe: "above 0, at most 1")
        minP = try object.number("min_p", in: 0...(1 - Double.ulpOfOne), describe: "0, below 1")
        repeatPenalty = try object.number("repeat_penalty", in: 1...2, describe: "1 to 2")
        topK = try object.integer("top_k")
        if let topK, !(0...Limits.Personas.topKMax).contains(topK) {
            throw .invalid("top_k", "top_k = \(topK) must be 0 to \(Limits.Personas.topKMax)")
        }
        // Any 64-bit integer is a seed; negative ones keep their bits.
        if let seed = try object.integer("seed") {
            self.seed = UInt64(bitPattern: Int64(seed))
        }
    }

    /// `stop`: one string or up to `Limits.HTTP.stopStringsMax` of them.
    private static func readStop(_ object: JSONObjectReader) throws(OpenAIError) -> [String] {
        let stops: [String]
        switch object.value("stop") {
        case nil: stops = []
        case .string(let one): stops = [one]
        case .array: stops = try object.strings("stop") ?? []
        case let other?:
            throw .invalid(
                "stop", code: "invalid_type",
                "stop must be a string or an array of strings, not \(other.kind)")
        }
        guard stops.count <= Limits.HTTP.stopStringsMax else {
            throw .invalid(
                "stop", "\(stops.count) stop strings; at most \(Limits.HTTP.stopStringsMax)")
        }
        for (index, stop) in stops.enumerated()
        where stop.isEmpty || stop.utf8.count > Limits.HTTP.stopStringBytesMax {
            throw .invalid(
                "stop[\(index)]",
                "stop strings must be 1 to \(Limits.HTTP.stopStringBytesMax) bytes;"
                    + " this one has \(stop.utf8.count)")
        }
        return stops
    }

    /// OpenAI fields accepted only at values that change nothing; any other
    /// value would ask for something the host does not do.
    private static func rejectNonDefault(_ object: JSONObjectReader) throws(OpenAIError) {
        if let n = try object.integer("n"), n != 1 {
            throw .invalid("n", code: "unsupported_value", "n = \(n): only one choice is made")
        }
        for key in ["presence_penalty", "frequency_penalty"] {
            if let value = try object.number(key, in: -2...2, describe: "-2 to 2"), value != 0 {
                throw .invalid(
                    key, code: "unsupported_value",
                    "\(key) = \(value) is not supported; use repeat_penalty (1 to 2)")
            }
        }
        if try object.bool("logprobs") == true {
            throw .invalid("logprobs", code: "unsupported_value", "logprobs are not supported")
        }
        if let user = try object.string("user"), user.utf8.count > Limits.HTTP.nameBytesMax {
            throw .invalid("user", "user must be at most \(Limits.HTTP.nameBytesMax) bytes")
        }
    }
}
