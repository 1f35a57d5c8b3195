import Foundation

/// What a host is doing now: `asth ps`, and the `status` request of the
/// socket protocol.
public struct HostStatus: Codable, Sendable, Equatable {
    /// The host's process, and whether it is the daemon or this process.
    public var pid: Int32
    public var isDaemon: Bool
    public var uptimeSeconds: Double
    /// Dispatches over every model.
    public var dispatches: Int
    public var models: [ModelStatus]
    /// The models memory bound and the registry's counts; absent from a
    /// host older than the registry.
    public var modelMemory: ModelMemoryStatus?

    public init(
        pid: Int32, isDaemon: Bool, uptimeSeconds: Double, dispatches: Int,
        models: [ModelStatus], modelMemory: ModelMemoryStatus? = nil
    ) {
        self.pid = pid
        self.isDaemon = isDaemon
        self.uptimeSeconds = uptimeSeconds
        self.dispatches = dispatches
        self.models = models
        self.modelMemory = modelMemory
    }
}

/// The models a host keeps loaded, against its bounds.
public struct ModelMemoryStatus: Codable, Sendable, Equatable {
    /// What the models loaded or loading cost together: each file plus the
    /// most its caches may hold.
    public var usedBytes: Int
    /// The bound on `usedBytes`; nil when there is none.
    public var boundBytes: Int?
    /// Seconds an unused model stays loaded; 0 keeps it.
    public var idleTimeoutSeconds: Int
    /// Models loaded since the host started.
    public var loads: Int
    /// Models unloaded to make room for another.
    public var evictions: Int
    /// Models unloaded for sitting unused past the timeout.
    public var idleUnloads: Int
    /// Loads refused as busy: the models in use filled the bound.
    public var refusals: Int

    /// What a registry counts as it goes.
    struct Counters: Equatable {
        var loads = 0
        var evictions = 0
        var idleUnloads = 0
        var refusals = 0
        /// Dispatches of the engines of models since unloaded.
        var dispatchesUnloaded = 0
    }

    init(usedBytes: Int, boundBytes: Int?, idleTimeoutSeconds: Int, counters: Counters) {
        self.usedBytes = usedBytes
        self.boundBytes = boundBytes
        self.idleTimeoutSeconds = idleTimeoutSeconds
        loads = counters.loads
        evictions = counters.evictions
        idleUnloads = counters.idleUnloads
        refusals = counters.refusals
    }
}

/// One loaded model and its engine. The fields from `state` on are absent
/// from a host older than the model registry.
public struct ModelStatus: Codable, Sendable, Equatable {
    public var name: String
    public var device: String
    /// Sequences generating now, each holding a KV cache.
    public var activeSequences: Int
    /// Requests waiting for a sequence, over every persona.
    public var queued: Int
    public var dispatches: Int
    /// Rows (positions) over every dispatch.
    public var rows: Int
    public var deviceSeconds: Double
    /// The most rows one dispatch carried.
    public var rowsLargest: Int
    /// How many dispatches carried each number of sequences: the batch
    /// sizes reached.
    public var batchSizes: [BatchSizeCount]
    public var cachedConversations: Int
    public var cachedPrefixes: Int
    /// The personas that sent it requests since it loaded.
    public var personas: [PersonaStatus]
    /// `loading`, `in_use` (a request holds it, or its engine has work) or
    /// `idle`.
    public var state: String?
    /// Its file, links resolved.
    public var path: String?
    public var fileBytes: Int?
    /// What counts against the models memory bound: the file plus the most
    /// its caches may hold.
    public var costBytes: Int?
    /// While loading: the loader's last step (`mapping`, `binding`,
    /// `tokenizer`, `device`) and its steps done over all, 0 to 1.
    public var loadStage: String?
    public var loadFraction: Double?
    /// Seconds since its last request ended; 0 while in use.
    public var idleSeconds: Double?
}

extension ModelStatus {
    /// A model still loading: no engine, no figures yet.
    init(loading name: String) {
        self.init(
            name: name, device: "", activeSequences: 0, queued: 0, dispatches: 0, rows: 0,
            deviceSeconds: 0, rowsLargest: 0, batchSizes: [], cachedConversations: 0,
            cachedPrefixes: 0, personas: [])
    }
}

/// Dispatches that carried `sequences` sequences.
public struct BatchSizeCount: Codable, Sendable, Equatable {
    public var sequences: Int
    public var dispatches: Int
}

/// One persona on one model.
public struct PersonaStatus: Codable, Sendable, Equatable {
    public var name: String
    /// Its weight in the fair share (`economy.priority`).
    public var weight: Int
    /// Requests waiting for a sequence.
    public var queueDepth: Int
    public var activeSequences: Int
    /// Tokens produced per second over the last few seconds.
    public var tokensPerSecond: Double
    /// Its share of the model's device time since the host started, 0 to 1.
    public var deviceShare: Double
    /// The same over the last minute.
    public var recentDeviceShare: Double
    /// Device seconds attributed to its rows since the host started.
    public var deviceSeconds: Double
    /// Rows it had in dispatches since the host started.
    public var rows: Int
    /// Motes charged per minute over the last minute.
    public var motesPerMinute: Double
    public var tokens: Int
    public var replies: Int
    /// Requests refused as busy.
    public var refused: Int
    /// Its speculation on this model, nil when it has not speculated: the
    /// dispatches left in a pause (0 while drafting) and the pauses so far.
    public var speculationPauseRemaining: Int? = nil
    public var speculationPauses: Int? = nil
}
