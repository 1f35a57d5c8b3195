import Foundation
import GGUF
import Inference
import Ledger

/// The report's model block: what a model file is, read from its GGUF
/// header, and the file's SHA-256.
public struct ModelSummary: Codable, Sendable, Equatable {
    /// The store name the records carry: "smollm2-135m-instruct".
    public var name: String
    public var path: String?
    /// `general.architecture`: "llama".
    public var architecture: String?
    /// Weights in the file.
    public var parameters: Int?
    /// The weight type holding the most parameters ("Q4_1"), then the
    /// others by share.
    public var quantization: String?
    /// Positions the model was trained for, tokens.
    public var contextTokens: Int?
    /// Transformer blocks.
    public var layers: Int?
    public var sizeBytes: Int?
    /// SHA-256 of the file, 64 hex digits.
    public var sha256: String?
    /// Why some fields are missing, when they are.
    public var problem: String?

    public init(name: String) {
        self.name = name
    }

    /// Reads the model the records call `name` from `models`, taking its
    /// hash from `store`'s cache when the file has not changed.
    ///
    /// Never throws: a model that was removed or cannot be read still gets a
    /// block, with `problem` saying why it is incomplete.
    public static func read(name: String, models: ModelStore, store: MetricsStore?)
        -> ModelSummary
    {
        var summary = ModelSummary(name: name)
        do {
            let url = try models.resolve(name).resolvingSymlinksInPath()
            summary.path = url.path
            let file = try GGUFFile(path: url.path)
            summary.describe(file)
            summary.sha256 = try digest(path: url.path, sizeBytes: file.fileSizeBytes, store: store)
        } catch {
            summary.problem = "\(error)"
        }
        return summary
    }

    /// Fills the fields the GGUF header gives.
    mutating func describe(_ file: GGUFFile) {
        let architecture = try? file.string("general.architecture")
        self.architecture = architecture
        sizeBytes = file.fileSizeBytes
        parameters = file.tensors.reduce(0) { $0 + $1.elementCount }
        if let architecture {
            contextTokens = try? file.int(architecture + ".context_length")
            layers = try? file.int(architecture + ".block_count")
        }

        // Quantization: weight types by the parameters they hold.
        var elements: [String: Int] = [:]
        for tensor in file.tensors {
            elements[tensor.type.name, default: 0] += tensor.elementCount
        }
        let types = elements.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
        if let main = types.first {
            let others = types.dropFirst().map(\.key)
            quantization =
                others.isEmpty ? main.key : "\(main.key) (also \(others.joined(separator: ", ")))"
        }
    }

    /// The file's SHA-256, from the cache or computed and cached.
    private static func digest(path: String, sizeBytes: Int, store: MetricsStore?) throws
        -> String
    {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        let modified = attributes[.modificationDate] as? Date ?? .distantPast
        if let cached = try store?.cachedDigest(
            path: path, sizeBytes: sizeBytes, modified: modified)
        {
            return cached
        }
        let sha256 = try FileDigest.sha256(path: path)
        try store?.saveDigest(sha256, path: path, sizeBytes: sizeBytes, modified: modified)
        return sha256
    }
}

/// The transformer pipeline the llama graph runs, as the report lists it:
/// the ops of one layer, repeated per block, then the head.
public enum Pipeline {
    /// The ops of one layer, in order.
    public static let layerOps = [
        "PreScale (RMSNorm)", "Q/K/V proj", "RoPE", "Attention", "O proj", "Attn ResAdd",
        "PreScale2 (RMSNorm)", "Gate+SiLU+Up", "EltMul", "Down", "FFN ResAdd",
    ]
    /// The ops after the last layer.
    public static let headOps = ["Final norm (RMSNorm)", "Score Head (LM head)"]
    /// Architectures whose graph is the one above.
    public static let architectures: Set<String> = ["llama"]
}
