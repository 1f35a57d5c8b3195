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
