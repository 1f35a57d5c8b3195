import Foundation
import GGUF
import Inference
import Support

/// How a host bounds the models it keeps loaded.
public struct ModelRegistrySettings: Sendable, Equatable {
    /// Seconds a model may sit unused before it is unloaded; 0 never
    /// unloads.
    public var idleSeconds: Int
    /// What the loaded models may cost together, in bytes (each model's
    /// file plus the most its caches may hold); nil sets no bound.
    public var memoryBytesMax: Int?
    /// Whether a model bigger than the bound may still load when it is the
    /// only one: true for the default bound, which guesses at the machine
    /// (a model's cost counts every cache it *could* fill, far above what
    /// one user fills), false for a bound the operator set.
    public var admitsLoneModel: Bool

    public init(idleSeconds: Int, memoryBytesMax: Int?, admitsLoneModel: Bool = false) {
        precondition(idleSeconds >= 0, "idle timeout of \(idleSeconds) s")
        self.idleSeconds = idleSeconds
        self.memoryBytesMax = memoryBytesMax
        self.admitsLoneModel = admitsLoneModel
    }

    /// A host inside a client's process (`asth chat` with no daemon): it
    /// serves one client for a short while, so it keeps what it loads.
    public static let inProcess = ModelRegistrySettings(idleSeconds: 0, memoryBytesMax: nil)

    /// The daemon's default bound: `Limits.Host.modelsMemoryPercentDefault`
    /// of physical memory, within the bound's limits.
    public static var daemonMemoryBytesDefault: Int {
        let physical = ProcessInfo.processInfo.physicalMemory
        let share = physical / 100 * UInt64(Limits.Host.modelsMemoryPercentDefault)
        let bytes = Int(clamping: share)
        return min(max(bytes, Limits.Host.modelsMemoryBytesMin), Limits.Host.modelsMemoryBytesMax)
    }
}

/// The models a host has loaded, each with its engine: one mapping per
/// resolved file, shared by every persona that names it.
///
/// A model is *in use* while a request holds a lease on it (from the moment
/// the request resolves its model until its reply ends) or its engine has
/// queued or generating jobs. A model unused for `settings.idleSeconds` is
/// unloaded by `reap(now:)`; a load that would pass `settings.memoryBytesMax`
/// first unloads the least recently used models not in use, and is refused
/// as busy when the rest are in use. Unloading stops the engine and lets
/// go of the model: the mapping and every KV cache go with the last
/// reference.
final class ModelRegistry: @unchecked Sendable {
    /// A model held by one request; hand it back with `release(_:)`.
    struct Lease {
        let key: String
        let model: LanguageModel
        let engine: ModelEngine
    }

    /// Where a model is in its life.
    private enum State {
        /// Being loaded by the request that asked first; the loader's last
        /// step so far, nil before the first.
        case loading(LoadProgress?)
        /// Loaded, its engine running.
        case ready(LanguageModel, ModelEngine)
    }

    /// One loaded (or loading) model. Every field is guarded by the
    /// registry's `condition`.
    private final class Entry {
        /// The file's path with links resolved: a store name and a path to
        /// the same file are one model.
        let key: String
        let name: String
        var state: State = .loading(nil)
        var fileBytes = 0
        /// The file plus the most its caches may hold; 0 until the file is
        /// parsed.
        var costBytes = 0
        /// Requests holding the model now.
        var leases = 0
        /// When the last lease was taken or handed back, on the host's clock.
        var lastUsed: Duration

        init(key: String, name: String, now: Duration) {
            self.key = key
            self.name = name
            self.lastUsed = now
        }
    }

    /// What `lookUp` found for a request. Caller holds `condition`.
    private enum Lookup {
        case leased(Lease)
        /// Another request loads it: report this step and wait on.
        case progress(LoadProgress?)
        /// Nobody loads it: this request does.
        case load(Entry)
    }

    let settings: ModelRegistrySettings
    /// The bounds of every engine, which size each model's caches.
    let engineLimits: EngineLimits
    private let store: ModelStore
    private let threads: Int?
    /// The host's clock: when each model was last used.
    let clock: any EngineClock
    private let makeEngine: (LanguageModel) -> ModelEngine

    /// Guards every field below and every entry; waiting loads sleep on it.
    private let condition = NSCondition()
    private var entries: [String: Entry] = [:]
    /// Set by `drain`: loads are refused as busy.
    private var draining = false
    private var counters = ModelMemoryStatus.Counters()
    private var reaper: DispatchSourceTimer?

    private let log = Log("models")

    init(
        settings: ModelRegistrySettings, store: ModelStore, threads: Int?,
        clock: any EngineClock, engineLimits: EngineLimits,
        makeEngine: @escaping (LanguageModel) -> ModelEngine
    ) {
        self.settings = settings
        self.store = store
        self.threads = threads
        self.clock = clock
        self.engineLimits = engineLimits
        self.makeEngine = makeEngine
    }

    deinit {
        reaper?.cancel()
    }

    // MARK: - Leases

    /// The model `reference` names (a store name or a `.gguf` path) with
    /// its engine, loaded on first use; `progress` hears each step of a
    /// load this request makes or waits for, on the calling thread.
    ///
    /// - Throws: `HostError.busy` while draining, or when the models in use
    ///   leave no room; `HostError.badRequest` for a model bigger than the
    ///   bound alone; the store's and the loader's errors.
    func acquire(_ reference: String, progress: (ModelLoadProgress) -> Void) throws -> Lease {
        let url = try store.resolve(reference)
        let key = ModelStore.fileKey(url)
        let name = url.deletingPathExtension().lastPathComponent
        var seen: LoadProgress?
        while true {
            let found = try condition.withLock { try lookUp(key, name: name, seen: seen) }
            switch found {
            case .leased(let lease):
                return lease
            case .progress(let step):
                seen = step
                if let step { progress(ModelLoadProgress(model: name, step: step)) }
            case .load(let entry):
                return try load(entry, url: url, progress: progress)
            }
        }
    }

    /// Hands a lease back: the model counts as used now.
    func release(_ lease: Lease) {
        condition.withLock {
            guard let entry = entries[lease.key], case .ready(_, let engine) = entry.state,
                engine === lease.engine
            else { preconditionFailure("lease on \(lease.key) outlived its model") }
            precondition(entry.leases > 0, "lease on \(lease.key) released twice")
            entry.leases -= 1
            entry.lastUsed = clock.now()
        }
    }

    /// Leases `key` if it is loaded, waits while another request loads it,
    /// or makes an entry for this request to load. Caller holds `condition`.
    private func lookUp(_ key: String, name: String, seen: LoadProgress?) throws -> Lookup {
        guard !draining else {
            throw HostError.busy(queueDepth: 0, retryAfterSeconds: Limits.Host.drainSecondsMax)
        }
        guard let entry = entries[key] else {
            let entry = Entry(key: key, name: name, now: clock.now())
            entries[key] = entry
            return .load(entry)
        }
        switch entry.state {
        case .ready(let model, let engine):
            entry.leases += 1
            entry.lastUsed = clock.now()
            return .leased(Lease(key: key, model: model, engine: engine))
        case .loading(let step):
            if step != seen { return .progress(step) }
            condition.wait()
            return .progress(seen)
        }
    }

    // MARK: - Loading

    /// Loads `entry`'s file: maps and parses it, makes room for its cost,
    /// builds the model and starts its engine. On failure the entry goes,
    /// and requests waiting for it try again themselves.
    private func load(_ entry: Entry, url: URL, progress: (ModelLoadProgress) -> Void) throws
        -> Lease
    {
        let name = entry.name
        do {
            // Map and parse: now the cost is known, and room is made for it.
            progress(ModelLoadProgress(model: name, stage: "mapping", fraction: 0))
            log.info("load", ["model": name, "path": entry.key])
            let file = try GGUFFile(path: url.path)
            let config = try LlamaConfig(gguf: file)
            let cost = Self.costBytes(
                fileBytes: file.fileSizeBytes, config: config, limits: engineLimits)
            try condition.withLock {
                entry.fileBytes = file.fileSizeBytes
                entry.costBytes = cost
                try makeRoom(for: entry)
            }

            // Build the model, step by step, and start its engine.
            var stage: LoadProgress.Stage?
            let model = try LanguageModel(file: file, name: name, threads: threads) { step in
                condition.withLock {
                    entry.state = .loading(step)
                    condition.broadcast()
                }
                if step.stage != stage {
                    stage = step.stage
                    log.info("loading", ["model": name, "stage": step.stage.rawValue])
                }
                progress(ModelLoadProgress(model: name, step: step))
            }
            let engine = makeEngine(model)
            engine.start()

            // Ready, unless the host began draining meanwhile.
            let lease = try condition.withLock {
                guard !draining else {
                    engine.stop()
                    throw HostError.busy(
                        queueDepth: 0, retryAfterSeconds: Limits.Host.drainSecondsMax)
                }
                entry.state = .ready(model, engine)
                entry.leases = 1
                entry.lastUsed = clock.now()
                counters.loads += 1
                condition.broadcast()
                return Lease(key: entry.key, model: model, engine: engine)
            }
            log.info("ready", ["model": name, "cost_bytes": cost, "loaded": loadedCount])
            progress(ModelLoadProgress(model: name, stage: "ready", fraction: 1))
            return lease
        } catch {
            condition.withLock {
                if entries[entry.key] === entry { entries[entry.key] = nil }
                condition.broadcast()
            }
            log.info("load failed", ["model": name, "error": "\(error)"])
            throw error
        }
    }

    /// Unloads the least recently used models not in use until `entry`
    /// fits the memory bound. Caller holds `condition`.
    ///
    /// - Throws: `HostError.badRequest` when the model alone passes the
    ///   bound; `HostError.busy` when the models in use leave no room.
    private func makeRoom(for entry: Entry) throws {
        guard var bound = settings.memoryBytesMax else { return }
        if entry.costBytes > bound && settings.admitsLoneModel {
            // Under the default bound a model bigger than it may load alone:
            // the other models make room as for a bound of its own size.
            log.warn(
                "model over the default memory bound: it loads alone",
                ["model": entry.name, "cost_bytes": entry.costBytes, "bound_bytes": bound])
            bound = entry.costBytes
        }
        guard entry.costBytes <= bound else {
            let caches = entry.costBytes - entry.fileBytes
            throw HostError.badRequest(
                field: "model",
                value: "\(entry.name) costs \(ByteSize.text(entry.costBytes)) (file "
                    + "\(ByteSize.text(entry.fileBytes)) + KV caches up to "
                    + "\(ByteSize.text(caches)))",
                limit: "the models memory bound, \(ByteSize.text(bound)); raise it with "
                    + "`asth serve --models-memory-max`")
        }
        var used = entries.values.filter { $0 !== entry }.reduce(0) { $0 + cost(of: $1) }
        let idle = entries.values.filter { $0 !== entry && !isInUse($0) }
            .sorted { $0.lastUsed < $1.lastUsed }
        for victim in idle where used + entry.costBytes > bound {
            used -= cost(of: victim)
            unload(victim, reason: "evict")
            counters.evictions += 1
        }
        guard used + entry.costBytes <= bound else {
            counters.refusals += 1
            log.info(
                "refuse",
                [
                    "model": entry.name, "cost_bytes": entry.costBytes, "used_bytes": used,
                    "bound_bytes": bound, "busy": true,
                ])
            throw HostError.busy(
                queueDepth: 0, retryAfterSeconds: Limits.Host.modelsFullRetrySeconds)
        }
    }

    /// The most a model may cost, in bytes: its file (mapped read-only)
    /// plus every KV cache its engine may hold at once: its generating
    /// sequences (a raw prompt may use the model's whole context), its kept
    /// conversations and its persona prefixes (each at most a chat's
    /// positions). A position of a cache holds keys and values in f16 for
    /// every block (`KVCache`'s layout).
    static func costBytes(fileBytes: Int, config: LlamaConfig, limits: EngineLimits) -> Int {
        let positionBytes = 2 * 2 * config.blockCount * config.kvDimension
        let chatPositions = min(Limits.Host.conversationTokensMax, config.contextLength)
        let positions =
            limits.activeSequencesMax * config.contextLength
            + (limits.conversationsCachedMax + limits.prefixEntriesMax) * chatPositions
        return fileBytes + positions * positionBytes
    }

    // MARK: - Unloading

    /// Unloads every model unused for the idle timeout by `now`; returns
    /// their names.
    @discardableResult
    func reap(now: Duration) -> [String] {
        guard settings.idleSeconds > 0 else { return [] }
        let timeout = Duration.seconds(settings.idleSeconds)
        return condition.withLock {
            let idle = entries.values.filter { !isInUse($0) && now - $0.lastUsed >= timeout }
            for entry in idle.sorted(by: { $0.lastUsed < $1.lastUsed }) {
                unload(entry, reason: "idle")
                counters.idleUnloads += 1
            }
            return idle.map(\.name).sorted()
        }
    }

    /// Reaps on the host's clock, a few times per idle timeout, until the
    /// registry drains.
    func startReaper() {
        guard settings.idleSeconds > 0 else { return }
        let seconds = min(max(1, settings.idleSeconds / 4), Limits.Host.modelReapSecondsMax)
        let timer = DispatchSource.makeTimerSource(queue: .global())
        timer.schedule(deadline: .now() + .seconds(seconds), repeating: .seconds(seconds))
        timer.setEventHandler { [weak self] in
            guard let self else { return }
            self.reap(now: self.clock.now())
        }
        condition.withLock {
            precondition(reaper == nil, "model reaper started twice")
            reaper = timer
        }
        timer.resume()
    }

    /// Refuses loads as busy from now on and stops the reaper; returns the
    /// engines of the loaded models, for the host to finish.
    func drain() -> [ModelEngine] {
        condition.withLock {
            draining = true
            reaper?.cancel()
            reaper = nil
            return entries.values.compactMap {
                if case .ready(_, let engine) = $0.state { return engine }
                return nil
            }
        }
    }

    /// Whether a request holds `entry` or its engine has work; a model
    /// still loading is in use by its loader. Caller holds `condition`.
    private func isInUse(_ entry: Entry) -> Bool {
        guard case .ready(_, let engine) = entry.state else { return true }
        return entry.leases > 0 || !engine.isIdle
    }

    /// Forgets `entry` and stops its engine (it has no work). Caller holds
    /// `condition`.
    private func unload(_ entry: Entry, reason: String) {
        guard case .ready(_, let engine) = entry.state else {
            preconditionFailure("unloading \(entry.name) while it loads")
        }
        entries[entry.key] = nil
        counters.dispatchesUnloaded += engine.snapshot().counters.dispatches
        engine.stop()
        log.info(
            "unload",
            [
                "model": entry.name, "reason": reason, "cost_bytes": cost(of: entry),
                "idle_s": Int((clock.now() - entry.lastUsed).seconds),
            ])
    }

    /// What `entry` costs now: its own cost, plus the files of the draft
    /// models its engine has loaded since (their KV caches, one per
    /// speculating sequence, are not counted). Caller holds `condition`.
    private func cost(of entry: Entry) -> Int {
        guard case .ready(_, let engine) = entry.state else { return entry.costBytes }
        return entry.costBytes + engine.draftModels.fileBytes
    }

    /// Models loaded or loading, for the log.
    private var loadedCount: Int { condition.withLock { entries.count } }
}

// MARK: - Status

extension ModelRegistry {
    /// Every model loaded or loading, with its engine's figures.
    func statuses() -> [ModelStatus] {
        let now = clock.now()
        let rows = condition.withLock {
            entries.values.map { entry in
                (
                    entry: entry, state: entry.state, inUse: isInUse(entry),
                    lastUsed: entry.lastUsed, cost: cost(of: entry), file: entry.fileBytes
                )
            }
        }
        return rows.map { row in
            var status: ModelStatus
            switch row.state {
            case .loading(let step):
                status = ModelStatus(loading: row.entry.name)
                status.state = "loading"
                status.loadStage = step?.stage.rawValue ?? "mapping"
                status.loadFraction = step?.fraction ?? 0
            case .ready(_, let engine):
                status = engine.status()
                status.state = row.inUse ? "in_use" : "idle"
                status.idleSeconds = row.inUse ? 0 : (now - row.lastUsed).seconds
            }
            status.path = row.entry.key
            status.fileBytes = row.file
            status.costBytes = row.cost
            return status
        }.sorted { $0.name < $1.name }
    }

    /// Dispatches of the engines of models since unloaded.
    var dispatchesUnloaded: Int { condition.withLock { counters.dispatchesUnloaded } }

    /// The bound, the models' cost against it, and what the registry did.
    func memoryStatus() -> ModelMemoryStatus {
        condition.withLock {
            ModelMemoryStatus(
                usedBytes: entries.values.reduce(0) { $0 + cost(of: $1) },
                boundBytes: settings.memoryBytesMax, idleTimeoutSeconds: settings.idleSeconds,
                counters: counters)
        }
    }
}

extension ModelLoadProgress {
    /// The wire form of a loader step of `model`.
    init(model: String, step: LoadProgress) {
        self.init(model: model, stage: step.stage.rawValue, fraction: step.fraction)
    }
}
