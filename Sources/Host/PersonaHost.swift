import Foundation
import Inference
import Ledger
import Personas
import Support

/// What a host process owns: each model loaded once, and the ledger.
///
/// Models are shared: every persona that names the same file gets the same
/// `LanguageModel`, so the weights are mapped once.
public final class PersonaHost: @unchecked Sendable {
    public let home: Home
    public let store: ModelStore
    /// Threads for the CPU device; nil takes every core.
    public let threads: Int?
    /// Where conversations send their metrics records; nil keeps none.
    public let metrics: MetricsSink?

    /// Loaded models by file path with links resolved, so that a store name
    /// and a path to the same file share one mapping. Guarded by `lock`.
    private var models: [String: LanguageModel] = [:]
    /// The ledger, opened on first use. Guarded by `lock`.
    private var openLedger: Ledger?
    private let lock = NSLock()
    private let log = Log("host")

    public init(home: Home, threads: Int? = nil, metrics: MetricsSink? = nil) {
        self.home = home
        self.store = ModelStore(home: home)
        self.threads = threads
        self.metrics = metrics
    }

    /// The model a `--model` argument or a persona names, loaded on first use.
    public func model(_ reference: String) throws -> LanguageModel {
        let url = try store.resolve(reference)
        let key = ModelStore.fileKey(url)
        return try lock.withLock {
            if let loaded = models[key] {
                return loaded
            }
            let loaded = try LanguageModel(url: url, threads: threads)
            models[key] = loaded
            log.info("model loaded", ["model": loaded.name, "path": key])
            return loaded
        }
    }

    /// The ledger in the home folder, created on first use.
    public func ledger() throws -> Ledger {
        try lock.withLock {
            if let ledger = openLedger {
                return ledger
            }
            let ledger = try Ledger(home: home)
            openLedger = ledger
            return ledger
        }
    }
}

extension Persona.RefillPeriod {
    /// The period in seconds; `never` is the ledger's longest period, so the
    /// allowance is granted once a year at most.
    public var seconds: Int64 {
        switch self {
        case .hour: return 3_600
        case .day: return 86_400
        case .week: return 7 * 86_400
        case .month: return 30 * 86_400
        case .never: return Limits.Ledger.periodSecondsMax
        }
    }
}
