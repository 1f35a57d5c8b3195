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

    public init(
        pid: Int32, isDaemon: Bool, uptimeSeconds: Double, dispatches: Int,
        models: [ModelStatus]
    ) {
        self.pid = pid
        self.isDaemon = isDaemon
        self.uptimeSeconds = uptimeSeconds
        self.dispatches = dispatches
        self.models = models
    }
}

/// One loaded model and its engine.
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
    public var personas: [PersonaStatus]
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
}
