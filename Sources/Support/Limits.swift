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
