/// Every bound Asthenosphere enforces on untrusted input, in one place.
///
/// Each limit is documented with why it has the value it has. Modules add
/// their limits here as nested enums rather than scattering constants.
public enum Limits {
    /// Bounds on GGUF files. A file that exceeds one is rejected with the
    /// field, the value found and the limit.
    public enum GGUF {
        /// Metadata keys; real models carry tens, tokenizer arrays included.
        public static let metadataCountMax = 65_536
        /// Tensors; the largest open models carry a few thousand.
        public static let tensorCountMax = 65_536
        /// Bytes of one string (key, value or tensor name): 16 MiB holds a
        /// chat template with room to spare.
        public static let stringBytesMax = 16 << 20
        /// Elements of one metadata array: vocabularies run to ~256 Ki.
        public static let arrayCountMax = 16 << 20
        /// Values in all metadata arrays of one file together. Each value
        /// costs ~40 bytes in memory against 1 byte in the file at best, so
        /// this caps what a small file can make us allocate (~160 MiB); a
        /// 256 Ki vocabulary with scores, types and merges needs ~1 Mi.
        public static let metadataValueCountMax = 4 << 20
        /// Nesting depth of arrays of arrays.
        public static let arrayDepthMax = 4
        /// Dimensions of one tensor; ggml uses at most four.
        public static let dimensionCountMax = 4
        /// Alignment of tensor data in bytes.
        public static let alignmentMax = 1 << 16
    }

    /// Bounds on persona files and the folders that hold them. A file that
    /// exceeds one is reported with the file, the key, the value and the limit.
    public enum Personas {
        /// Bytes of one persona file, checked before parsing: real personas
        /// are a few KiB; 256 KiB holds the longest system prompt with room.
        public static let fileBytesMax = 256 << 10
        /// Tables and arrays along one path, the root table included. A
        /// persona needs two (root, `[sampling]`); eight leaves room for later
        /// sections while keeping every walk over the tree shallow.
        public static let nestingDepthMax = 8
        /// Persona files read from one folder; the rest, by name, are reported
        /// and left unread.
        public static let filesPerDirectoryMax = 1024
        /// Bytes of a persona name, which matches `[a-z0-9-]` throughout.
        public static let nameBytesMax = 32
        /// Bytes of `description`: one or two sentences shown in listings.
        public static let descriptionBytesMax = 1024
        /// Bytes of `system_prompt`: 32 KiB is about 8 Ki tokens, the
        /// default model's whole context.
        public static let systemPromptBytesMax = 32 << 10
        /// Bytes of a `model` reference; a path is at most `PATH_MAX`.
        public static let modelBytesMax = 4096
        /// Tokens in one reply (`max_tokens`): the default model's context.
        public static let replyTokensMax = 8192
        /// `sampling.top_k`: larger than any vocabulary in use (~256 Ki);
        /// the sampler clamps it to the model's own.
        public static let topKMax = 262_144
        /// `sampling.repeat_last_n`: tokens looked back on for the penalty.
        public static let repeatWindowMax = 4096
        /// `economy.allowance_motes` per refill: a billion Motes is still
        /// exact in the ledger's 64-bit micro-Motes.
        public static let allowanceMotesMax = 1_000_000_000.0
        /// `economy.priority`: the weight in the scheduler's fair share.
        public static let priorityMax = 100
    }
}

extension Limits {
    /// Bounds on tokenizer input and vocabularies. Text over a bound is
    /// rejected with its size and the limit rather than truncated.
    public enum Tokenizer {
        /// UTF-8 bytes of one text to encode: 1 MiB is some 250 Ki tokens,
        /// far past any context window, and keeps one call under a second.
        public static let textBytesMax = 1 << 20
        /// Entries of a vocabulary: the largest open vocabularies hold
        /// 256 Ki; ids must also fit in `Int32`.
        public static let tokenCountMax = 1 << 20
        /// Entries of a BPE merge list; real lists are a little shorter than
        /// their vocabulary.
        public static let mergeCountMax = 1 << 20
        /// Special (control, user-defined, unknown) tokens matched in text.
        /// Matching scans the text once per special token, so this bounds the
        /// cost of one encode; real models carry tens to a few thousand.
        public static let specialTokenCountMax = 1 << 14
    }
}

extension Limits {
    /// Bounds on what the ledger accepts: usage records, ids, amounts,
    /// periods and files it reads back (checkpoints, price schedules).
    public enum Ledger {
        /// Bytes of an idempotency or request id: a UUID is 36; room for a
        /// prefix and a client's own scheme.
        public static let idBytesMax = 256
        /// Bytes of a persona, model or device name.
        public static let nameBytesMax = 256
        /// Tokens of one kind in one request (prompt, cached, output):
        /// 16 Mi is far beyond any context window we can run.
        public static let tokenCountMax: Int64 = 1 << 24
        /// Parameters of a model: 2^42 (~4.4 T) covers every open model.
        public static let parameterCountMax: Int64 = 1 << 42
        /// Elapsed time of one generation: a week, in milliseconds.
        public static let elapsedMsMax: Int64 = 7 * 24 * 3_600_000
        /// One transfer, in micro-Motes: a billion Motes, so that sums of
        /// thousands stay below Int64's 9.2e12 Motes (sums are still checked).
        public static let amountMicroMax: Int64 = 1_000_000_000_000_000
        /// Shortest refill period: one minute.
        public static let periodSecondsMin: Int64 = 60
        /// Longest refill period: about a year.
        public static let periodSecondsMax: Int64 = 366 * 86_400
        /// Longest hold timeout: a day; a generation that runs longer than
        /// that is stuck, and its hold should expire.
        public static let holdTimeoutMsMax: Int64 = 86_400_000
        /// Rows one history query returns.
        public static let historyLimitMax = 100_000
        /// Bytes of a checkpoint file: a few short lines and a signature.
        public static let checkpointBytesMax = 4_096
        /// A device's price factor, in parts per million: at most 100x CPU.
        public static let deviceFactorPpmMax: Int64 = 100_000_000
        /// A prompt token's weight relative to an output token, in parts
        /// per million: at most 16x.
        public static let tokenWeightPpmMax: Int64 = 16_000_000
        /// How many times the reference latency the time term may reach.
        public static let latencyCapFactorMax: Int64 = 1_000
    }
}

extension Limits {
    /// Bounds on speculative decoding: rows a sequence adds to a dispatch,
    /// and what persona memory keeps and reads back from its file.
    public enum Speculation {
        /// Draft tokens one sequence puts in one dispatch. Acceptance falls
        /// geometrically with the position, so drafts past 16 almost never
        /// pay; it also bounds the rows a scheduler must reserve per sequence.
        public static let draftLengthMax = 16
        /// (context, successor) pairs one persona remembers per model:
        /// about 40 bytes each on disk and 60 in memory, so 64 Ki pairs
        /// (~4 MiB) hold thousands of replies' recurring phrases.
        public static let memoryEntriesMax = 65_536
        /// Bytes of a persona or model name used as a memory key; personas
        /// allow 32, model names from the store a little more.
        public static let memoryNameBytesMax = 256
    }
}
