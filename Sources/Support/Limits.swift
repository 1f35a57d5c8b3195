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
    /// Bounds on chat sessions' settings from the environment.
    public enum Chat {
        /// Shortest hold timeout (`ASTH_HOLD_TIMEOUT_MS`): a hold must outlive
        /// the reply it pays for, or the reply's post finds it expired and
        /// the reply goes unpaid; a short reply still takes about a second.
        /// The longest is the ledger's `holdTimeoutMsMax`.
        public static let holdTimeoutMsMin: Int64 = 1_000
    }

    /// Bounds on the metrics store, its writer and its reports.
    public enum Metrics {
        /// Records waiting for the background writer. `record` never waits:
        /// past this the newest record is dropped and counted, so a stalled
        /// disk costs metrics, not generation speed. 64 Ki records are about
        /// ten minutes of dispatches at 100 per second.
        public static let queueRecordsMax = 65_536
        /// Records written in one transaction: one fsync per batch rather
        /// than per record, and a lock held for milliseconds, not seconds.
        public static let batchRecordsMax = 4_096
        /// How long the writer waits after the first record of a batch for
        /// more to arrive, in milliseconds. Longer saves transactions; shorter
        /// makes `asth metrics` see a reply sooner.
        public static let writerLingerMs = 50
        /// Age past which dispatch and reply rows are deleted: 90 days keeps a
        /// quarter of history for the dashboard. Counters are kept forever
        /// (they are one row per label set), so all-time figures survive.
        public static let retentionDays = 90
        /// Reply rows kept at most; the oldest go first.
        public static let retentionRepliesMax = 200_000
        /// Dispatch rows kept at most (about 100 bytes each on disk); a
        /// reply takes one per token, so this is about 10 Ki long replies.
        public static let retentionDispatchesMax = 1_000_000
        /// Batches written between two retention passes.
        public static let pruneEveryBatches = 64
        /// Replies listed in the text report's log.
        public static let logRepliesMax = 50
        /// Replies a report or dashboard reads; older ones in the window are
        /// left out of the charts (counters still include them).
        public static let reportRepliesMax = 20_000
        /// Dispatch rows the dashboard reads for device utilisation.
        public static let reportDispatchesMax = 200_000
        /// Distinct (persona, model, device) label sets in the Prometheus
        /// output; the rest are summed under persona="other" so a flood of
        /// names cannot explode a scraper's series count.
        public static let labelSetsMax = 256
        /// Bytes of a persona, model, device or session name in a record;
        /// longer names are cut (they come from our own host).
        public static let nameBytesMax = 256
        /// Furthest back `--since` may reach, in days (about ten years).
        public static let sinceDaysMax = 3_660
    }
}

extension Limits {
    /// Bounds on what the host admits and keeps: queues, sequences, caches,
    /// and what a client may send on the socket. Past a queue bound a
    /// request is refused at once as busy and charged nothing.
    public enum Host {
        /// Positions one conversation may use, prompt and reply together,
        /// unless the model's context is shorter: 2048 keeps one
        /// conversation's KV cache of the default model under 48 MiB.
        public static let conversationTokensMax = 2048
        /// Requests of one persona waiting for a sequence on one model; the
        /// next one is refused as busy.
        public static let queueDepthPerPersonaMax = 16
        /// Sequences generating at once on one model, each holding a KV
        /// cache; more wait in their persona's queue.
        public static let activeSequencesMax = 16
        /// Sequences one dispatch carries: the batch that weighted fair
        /// share fills when more sequences are active. Batching pays on a
        /// CPU (eight decode rows took about 1.25x one row on a 2-core
        /// machine); the bound keeps every sequence's time per token near a
        /// single row's, and past it sequences take turns by weight.
        public static let sequencesPerDispatchMax = 8
        /// Prompt positions one dispatch carries, over every prefilling
        /// sequence: the most a long prompt delays the others' next token.
        public static let prefillRowsPerDispatchMax = 64
        /// Conversations per model whose KV cache is kept between turns;
        /// the least recently used goes first.
        public static let conversationsCachedMax = 64
        /// Persona prefixes (system prompts) kept prefilled per model.
        public static let prefixEntriesMax = 64
        /// Messages in one chat request.
        public static let chatMessagesMax = 4096
        /// Bytes of one line of the socket protocol: a request carries at
        /// most a tokenizer's text bound of content, plus JSON escaping.
        public static let protocolLineBytesMax = 4 << 20
        /// Clients connected to the socket at once; more are turned away.
        public static let connectionsMax = 128
        /// How long a draining host lets admitted generations run before it
        /// cuts them (they are charged for what they produced).
        public static let drainSecondsMax = 30
        /// Seconds a loaded model may sit unused before the daemon unloads
        /// it (`asth serve --model-idle-seconds`; 0 never unloads).
        public static let modelIdleSecondsDefault = 600
        /// The longest idle timeout: a week; past it, say 0 (never).
        public static let modelIdleSecondsMax = 7 * 86_400
        /// How often the daemon looks for idle models, at most: an idle
        /// model goes within this long after its timeout.
        public static let modelReapSecondsMax = 30
        /// The smallest models memory bound (`--models-memory-max`): below
        /// it no model with its caches could fit.
        public static let modelsMemoryBytesMin = 64 << 20
        /// The largest models memory bound: 1 TiB.
        public static let modelsMemoryBytesMax = 1 << 40
        /// The default models memory bound, as a share of physical memory in
        /// percent: the rest is left to the system, the ledger and clients.
        public static let modelsMemoryPercentDefault = 75
        /// Retry hint for a load refused because the models in use fill the
        /// memory bound: about one reply of a loaded model.
        public static let modelsFullRetrySeconds = 5
    }
}

extension Limits {
    /// Bounds on the HTTP API: what one request may send, how many clients
    /// it serves at once, and how long it waits for them. A request over a
    /// bound is answered with its status (413, 431, 503) naming the limit.
    public enum HTTP {
        /// Bytes of one request body: 1 MiB is the tokenizer's own bound on
        /// one text, and far more than a full context of chat messages.
        public static let bodyBytesMax = 1 << 20
        /// Bytes of the request line and headers together: clients send well
        /// under 2 KiB; 16 KiB leaves room for long cookies a browser adds.
        public static let headerBytesMax = 16 << 10
        /// Bytes libmicrohttpd may hold per connection (headers, read and
        /// write buffers); above `headerBytesMax` so that the head fits.
        public static let connectionMemoryBytesMax = 64 << 10
        /// Connections served at once, one thread each: the scheduler's
        /// queues bound the work; this bounds the threads waiting on them.
        public static let connectionsMax = 256
        /// Seconds a connection may sit idle (no bytes either way) before it
        /// is closed, so that slow or silent clients cannot hold threads.
        public static let idleTimeoutSeconds = 30
        /// Bytes of a stream's text produced but not yet sent: a client that
        /// reads slower than this falls behind and is cut off, so that it
        /// never holds the generation back.
        public static let streamPendingBytesMax = 1 << 20
        /// Messages in one chat request: a full context of one-token turns
        /// is a few thousand.
        public static let messagesMax = 4_096
        /// Stop strings in one request, as OpenAI allows.
        public static let stopStringsMax = 4
        /// Bytes of one stop string: each is held back from a stream until
        /// it cannot match, so a long one would delay every reply.
        public static let stopStringBytesMax = 256
        /// Bytes of a name a client sends that is only echoed or ignored
        /// (`user`, a message's `name`).
        public static let nameBytesMax = 256
        /// Bytes of the API token file; the token itself is 64 hex digits.
        public static let tokenFileBytesMax = 1_024
    }

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

extension Limits {
    /// Bounds on model hyperparameters; a file past one is refused before
    /// any buffer is sized from it.
    public enum Model {
        /// Residual width; the largest open models use 16 Ki.
        public static let embeddingLengthMax = 32_768
        /// Feed-forward width.
        public static let feedForwardLengthMax = 131_072
        /// Transformer blocks.
        public static let blockCountMax = 512
        /// Attention heads.
        public static let headCountMax = 1_024
        /// Trained context; bounds KV cache sizing.
        public static let contextLengthMax = 1 << 20
        /// Vocabulary rows.
        public static let vocabularySizeMax = 1 << 20
    }
}
