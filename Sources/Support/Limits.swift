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
