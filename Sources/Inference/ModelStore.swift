import Foundation
import Support

/// Finds models: a name in the store (`<home>/models/<name>.gguf`) or a path
/// to a `.gguf` file.
public struct ModelStore: Sendable {
    /// The name `make model` installs and the shipped personas use.
    public static let defaultModelName = "smollm2-135m-instruct"

    public let folder: URL

    public init(home: Home) {
        folder = home.modelsURL
    }

    /// The file a `--model` argument means. A value with a slash or ending in
    /// `.gguf` is a path; anything else is a store name.
    public func resolve(_ model: String) throws -> URL {
        if model.contains("/") || model.hasSuffix(".gguf") {
            let url = URL(fileURLWithPath: model)
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw InferenceError.modelNotFound(name: model, searched: url.path)
            }
            return url
        }
        let url = folder.appendingPathComponent(model + ".gguf")
        guard isStoreName(model), FileManager.default.fileExists(atPath: url.path) else {
            throw InferenceError.modelNotFound(name: model, searched: folder.path)
        }
        return url
    }

    /// The identity of the file at `url`: its path with links resolved, so
    /// that a store name and a path to the same file are one model.
    public static func fileKey(_ url: URL) -> String {
        url.resolvingSymlinksInPath().standardizedFileURL.path
    }

    /// Names of the models in the store, sorted.
    public func names() -> [String] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return files.filter { $0.hasSuffix(".gguf") }.map { String($0.dropLast(5)) }.sorted()
    }

    /// Store names are plain file stems: no separators, no leading dot.
    private func isStoreName(_ name: String) -> Bool {
        !name.isEmpty && !name.hasPrefix(".") && name.utf8.count <= 128
            && name.allSatisfy { $0.isLetter || $0.isNumber || "-_.".contains($0) }
    }
}
