import Foundation
import Inference
import Support

@testable import Host

/// The real default model, found as every test target finds it:
/// `ASTH_TEST_MODEL`, else the model store under `ASTH_HOME`, else the
/// default home.
enum RealModel {
    static let path: String = {
        let environment = ProcessInfo.processInfo.environment
        if let explicit = environment["ASTH_TEST_MODEL"], !explicit.isEmpty {
            return explicit
        }
        return Home.fromEnvironment().modelsURL
            .appendingPathComponent("smollm2-135m-instruct.gguf").path
    }()

    static var isAvailable: Bool { FileManager.default.fileExists(atPath: path) }

    /// The model, loaded once for the whole test run.
    static let shared: LanguageModel = {
        do {
            return try LanguageModel(url: URL(fileURLWithPath: path), threads: 2)
        } catch {
            fatalError("the default model is needed at \(path) (run `make model`): \(error)")
        }
    }()

    /// Prompts of the llama.cpp reference (Tests/Fixtures), as ids.
    static let referencePrompts: [[Int]] = {
        struct Fixture: Decodable {
            struct Greedy: Decodable { let prompt_ids: [Int] }
            let greedy: [Greedy]
        }
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../Fixtures/smollm2-135m-q4_1.llamacpp.json")
        let data = try! Data(contentsOf: url)
        return try! JSONDecoder().decode(Fixture.self, from: data).greedy.map(\.prompt_ids)
    }()
}

/// A fresh folder under the system's temporary directory, removed with
/// everything in it when the test lets go of it.
final class Scratch {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("asth-host-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(at: url)
    }

    /// Writes `text` to `name` in the folder.
    func write(_ name: String, _ text: String) throws {
        try Data(text.utf8).write(to: url.appendingPathComponent(name))
    }
}
