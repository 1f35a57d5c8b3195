import Foundation
import Support

/// Runs the `asth` binary the way a person would, in a fresh `ASTH_HOME`
/// whose model store links the real default model.
struct CLI {
    /// The home folder this instance's commands use; removed on `cleanUp`.
    let home: URL

    /// What one command did.
    struct Result {
        let status: Int32
        let stdout: String
        let stderr: String
        let seconds: Double

        /// Standard output parsed as a JSON object.
        func json() throws -> [String: Any] {
            let value = try JSONSerialization.jsonObject(with: Data(stdout.utf8))
            guard let object = value as? [String: Any] else {
                throw CLIError.notAnObject(stdout)
            }
            return object
        }
    }

    /// Whether `stderr` opens with one error line as the CLI writes them:
    /// `asth: …`, or `asth COMMAND [ACTION]: …` when the message names its
    /// command.
    static func isErrorLine(_ stderr: String) -> Bool {
        stderr.range(of: #"^asth( [a-z-]+)*: "#, options: .regularExpression) != nil
            && !stderr.hasPrefix("asth: asth")
    }

    enum CLIError: Error {
        case notAnObject(String)
        case binaryMissing(String)
    }

    /// The built binary: `ASTH_BIN`, else beside the test bundle.
    static let binary: String = {
        if let explicit = ProcessInfo.processInfo.environment["ASTH_BIN"] {
            return explicit
        }
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        return bundle.appendingPathComponent("asth").path
    }()

    /// The real model: `ASTH_TEST_MODEL`, else the store of the default home.
    static let modelPath: String = {
        let environment = ProcessInfo.processInfo.environment
        if let explicit = environment["ASTH_TEST_MODEL"], !explicit.isEmpty {
            return explicit
        }
        return Home.fromEnvironment().modelsURL
            .appendingPathComponent("smollm2-135m-instruct.gguf").path
    }()

    /// The repository root, for the shipped personas and fixtures.
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    init() throws {
        home = FileManager.default.temporaryDirectory
            .appendingPathComponent("asth-e2e-\(UUID().uuidString)")
        let models = home.appendingPathComponent("models")
        try FileManager.default.createDirectory(at: models, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(
            atPath: models.appendingPathComponent("smollm2-135m-instruct.gguf").path,
            withDestinationPath: Self.modelPath)
    }

    func cleanUp() {
        try? FileManager.default.removeItem(at: home)
    }

    /// Runs `asth ARGS` with `input` on standard input, from the package root.
    func run(_ arguments: [String], input: String = "") throws -> Result {
        guard FileManager.default.isExecutableFile(atPath: Self.binary) else {
            throw CLIError.binaryMissing(Self.binary)
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = arguments
        process.currentDirectoryURL = Self.packageRoot
        var environment = ProcessInfo.processInfo.environment
        environment["ASTH_HOME"] = home.path
        environment["XDG_CONFIG_HOME"] = home.appendingPathComponent("config").path
        process.environment = environment
        let (stdin, stdout, stderr) = (Pipe(), Pipe(), Pipe())
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr

        let start = Date()
        try process.run()
        stdin.fileHandleForWriting.write(Data(input.utf8))
        try stdin.fileHandleForWriting.close()
        // Read both pipes to the end before waiting, so neither can fill up.
        let group = DispatchGroup()
        nonisolated(unsafe) var errData = Data()
        group.enter()
        DispatchQueue.global().async {
            errData = stderr.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        let outData = stdout.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
            stderr: String(decoding: errData, as: UTF8.self),
            seconds: Date().timeIntervalSince(start))
    }
}

/// llama.cpp's outputs on the default model (see Tests/Fixtures/README.md).
struct Reference: Decodable {
    struct Tokenize: Decodable {
        let text: String
        let ids: [Int]
    }

    struct Greedy: Decodable {
        let prompt: String
        let prompt_ids: [Int]
        let ids: [Int]
        let text: String
    }

    let tokenize: [Tokenize]
    let greedy: [Greedy]

    static let shared: Reference = {
        let url = CLI.packageRoot.appendingPathComponent(
            "Tests/Fixtures/smollm2-135m-q4_1.llamacpp.json")
        return try! JSONDecoder().decode(Reference.self, from: Data(contentsOf: url))
    }()
}
