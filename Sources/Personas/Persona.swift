import Support

/// A persona: a schedulable tenant of the host.
///
/// It names a model, speaks with a system prompt, samples with its own
/// settings, and spends a budget of Motes at a priority in the scheduler's
/// fair share. Personas are read from TOML files (see `Personas/README.md`);
/// every field but `model` has a default, listed on each field below.
public struct Persona: Sendable, Equatable {
    /// The name people type: 1 to 32 of `a-z`, `0-9` and `-`, not starting
    /// with `-`. Defaults to the file's stem.
    public var name: String
    /// One or two sentences for listings. Default: empty.
    public var description: String
    /// The model that speaks for this persona. Required.
    public var model: ModelReference
    /// The system message put before every conversation. Default: empty,
    /// which leaves the model's chat template to its own default.
    public var systemPrompt: String
    /// Tokens generated at most per reply, `1...Limits.Personas.replyTokensMax`.
    /// Default: 256.
    public var maxTokens: Int
    /// How each next token is picked.
    public var sampling: Sampling
    /// What the persona may spend, and its weight in the scheduler.
    public var economy: Economy
    /// Whether and how replies are drafted ahead and verified.
    public var speculation: Speculation
    /// The file it was read from, as shown in messages; nil when made in code.
    public var file: String?

    /// `max_tokens` when a file leaves it out.
    public static let defaultMaxTokens = 256

    public init(
        name: String, model: ModelReference, description: String = "",
        systemPrompt: String = "", maxTokens: Int = Persona.defaultMaxTokens,
        sampling: Sampling = Sampling(), economy: Economy = Economy(),
        speculation: Speculation = Speculation(), file: String? = nil
    ) {
        self.name = name
        self.model = model
        self.description = description
        self.systemPrompt = systemPrompt
        self.maxTokens = maxTokens
        self.sampling = sampling
        self.economy = economy
        self.speculation = speculation
        self.file = file
    }

    /// Whether `name` can name a persona: 1 to `Limits.Personas.nameBytesMax`
    /// of `a-z`, `0-9` and `-`, the first not `-` so that it never reads as a
    /// command-line option.
    public static func isValidName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...Limits.Personas.nameBytesMax).contains(bytes.count) else { return false }
        guard bytes[0] != UInt8(ascii: "-") else { return false }
        return bytes.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                || byte == UInt8(ascii: "-")
        }
    }
}

/// Where a model comes from: the model store, or a GGUF file.
public enum ModelReference: Sendable, Hashable, CustomStringConvertible {
    /// A model in the store, `<ASTH_HOME>/models/<name>.gguf`, such as
    /// `smollm2-135m-instruct`.
    case store(name: String)
    /// A `.gguf` file; an absolute path, since a relative one in a persona file
    /// is resolved against that file's folder when it is read.
    case file(path: String)

    /// The store name or the path, as a person would write it.
    public var description: String {
        switch self {
        case .store(let name): return name
        case .file(let path): return path
        }
    }
}

extension Persona {
    /// How the next token is picked from the model's logits (the `[sampling]`
    /// table). Filters apply in the order top-k, top-p, min-p.
    public struct Sampling: Sendable, Equatable {
        /// Softmax temperature, 0 (greedy) to 2. Default: 0.7.
        public var temperature: Double
        /// Keep the k most likely tokens; 0 turns the filter off. Default: 40.
        public var topK: Int
        /// Keep the smallest set whose probabilities reach p, in (0, 1].
        /// Default: 0.95.
        public var topP: Double
        /// Drop tokens less likely than p times the best one, in [0, 1).
        /// Default: 0.05.
        public var minP: Double
        /// Divide the logits of recently seen tokens by this, in [1, 2];
        /// 1 turns the penalty off. Default: 1.1.
        public var repeatPenalty: Double
        /// How many recent tokens the penalty looks at, 0 to 4096. Default: 64.
        public var repeatLastN: Int
        /// The random seed; nil draws a fresh one for every reply. Default: nil.
        public var seed: UInt64?

        public init(
            temperature: Double = 0.7, topK: Int = 40, topP: Double = 0.95,
            minP: Double = 0.05, repeatPenalty: Double = 1.1, repeatLastN: Int = 64,
            seed: UInt64? = nil
        ) {
            self.temperature = temperature
            self.topK = topK
            self.topP = topP
            self.minP = minP
            self.repeatPenalty = repeatPenalty
            self.repeatLastN = repeatLastN
            self.seed = seed
        }
    }

    /// What a persona may spend and how much of the device it gets (the
    /// `[economy]` table).
    public struct Economy: Sendable, Equatable {
        /// Motes granted every refill period, more than 0. Default: 50.
        public var allowanceMotes: Double
        /// How often the allowance is granted again. Default: a day.
        public var refillPeriod: RefillPeriod
        /// The weight in the scheduler's fair share of device time, 1 to 100.
        /// Default: 10, so a persona can be set below or above the rest.
        public var priority: Int

        public init(
            allowanceMotes: Double = 50, refillPeriod: RefillPeriod = .day, priority: Int = 10
        ) {
            self.allowanceMotes = allowanceMotes
            self.refillPeriod = refillPeriod
            self.priority = priority
        }

        /// The allowance in the ledger's unit, rounded to the nearest
        /// micro-Mote; exact for any allowance a persona file may hold.
        public var allowanceMicroMotes: Int64 {
            Int64((allowanceMotes * 1_000_000).rounded())
        }
    }

    /// How often a persona's allowance is granted again.
    public enum RefillPeriod: String, Sendable, CaseIterable {
        /// Every hour.
        case hour
        /// Every day; the default.
        case day
        /// Every week.
        case week
        /// Every calendar month.
        case month
        /// Once: the allowance is all the persona ever gets, unless granted more.
        case never
    }

    /// Speculative decoding: tokens drafted cheaply, then verified in one
    /// dispatch (the `[speculation]` table).
    public struct Speculation: Sendable, Equatable {
        /// Which drafter to use. Default: off.
        public var mode: SpeculationMode
        /// The small model that drafts; required by `.draft`, optional for
        /// `.auto`, refused by the others. Default: nil.
        public var draftModel: ModelReference?

        public init(mode: SpeculationMode = .off, draftModel: ModelReference? = nil) {
            self.mode = mode
            self.draftModel = draftModel
        }
    }

    /// Where draft tokens come from.
    public enum SpeculationMode: String, Sendable, CaseIterable {
        /// No drafting: one token per dispatch; the default.
        case off
        /// Continuations of n-grams already in the conversation.
        case ngram
        /// Continuations remembered from the persona's earlier replies.
        case memory
        /// A smaller draft model, `draft_model`.
        case draft
        /// The host picks per reply among the above.
        case auto
    }
}
