import Foundation
import Inference
import Support
import Synchronization

/// The draft models of one engine, by file: loaded on the first request
/// that names one, shared by every persona on the engine that names the
/// same file, and let go with the engine.
///
/// Each draft model is its own `LanguageModel` with its own device, even
/// when it is the target's very file: a device has one caller at a time,
/// and the target's is the engine loop's. The draft device is dispatched
/// only by `DraftModelDrafter.propose`, which the decoder calls from
/// `EngineSequence.rows`, that is, on the engine loop's thread, one
/// sequence after another; loading here dispatches nothing.
final class DraftModels: @unchecked Sendable {
    private let threads: Int?
    private let log = Log("speculation")

    /// Guards `models`; held while a model loads, so that two first
    /// requests for one file load it once (the engine loop never takes it).
    private let lock = NSLock()
    /// By file path with links resolved.
    private var models: [String: LanguageModel] = [:]
    /// The loaded files' sizes together, readable without `lock` (the
    /// registry reads it under its own lock while a load may hold this one).
    private let fileBytesTotal = Atomic<Int>(0)

    /// - Parameter threads: threads for each draft model's CPU device; nil
    ///   takes every core.
    init(threads: Int?) {
        self.threads = threads
    }

    /// The draft model in the file at `url`, loaded on first use.
    ///
    /// - Throws: the loader's errors (a missing or broken file).
    func model(at url: URL) throws -> LanguageModel {
        let key = ModelStore.fileKey(url)
        return try lock.withLock {
            if let loaded = models[key] { return loaded }
            let loaded = try LanguageModel(url: url, threads: threads)
            models[key] = loaded
            let bytes = Self.fileBytes(key)
            fileBytesTotal.wrappingAdd(bytes, ordering: .relaxed)
            log.info("draft model loaded", ["model": loaded.name, "path": key, "bytes": bytes])
            return loaded
        }
    }

    /// Draft models loaded so far.
    var count: Int { lock.withLock { models.count } }

    /// What the loaded draft models' files take, in bytes: the part of
    /// their cost the registry counts against its bound.
    var fileBytes: Int { fileBytesTotal.load(ordering: .relaxed) }

    /// The size of the file at `path`; 0 when it cannot be read (the model
    /// loaded from it, so this only undercounts).
    private static func fileBytes(_ path: String) -> Int {
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        return (attributes?[.size] as? NSNumber)?.intValue ?? 0
    }
}

/// A persona's draft model that cannot draft for its target model.
public struct DraftModelError: Error, CustomStringConvertible, Equatable {
    /// The persona file, as shown in messages (the persona's name when it
    /// was made in code).
    public let file: String
    /// The `draft_model` value, as the file gives it.
    public let draftModel: String
    /// What is wrong, with both models and their vocabulary sizes.
    public let reason: SpeculationError

    public var description: String {
        "\(file): speculation.draft_model = \"\(draftModel)\": \(reason)"
    }
}
