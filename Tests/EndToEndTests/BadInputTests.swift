import Foundation
import Testing

/// Malformed models and persona files through the CLI: one clear line on
/// standard error, exit code 1, well under a second, never a crash.
@Suite("CLI: bad input")
struct BadInputTests {
    /// How long a refusal may take. Each takes ~0.1 s on an idle machine
    /// (the bar is one second); the bound leaves room for a busy CI
    /// machine running the other suites at the same time, where a process
    /// start alone has been seen at over a second.
    static let secondsMax = 3.0

    /// GGUF header pieces, little-endian.
    static func u32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }
    static func u64(_ v: UInt64) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }
    static let magic: [UInt8] = Array("GGUF".utf8)

    /// Each case: a name, the bytes of the file, and a word the message names.
    static let models: [(String, [UInt8], String)] = [
        ("empty", [], "magic"),
        ("bad magic", Array("GGML".utf8) + u32(3) + u64(0) + u64(0), "magic"),
        ("only the magic", magic, "version"),
        ("version 1", magic + u32(1) + u64(0) + u64(0), "version"),
        ("version 99", magic + u32(99) + u64(0) + u64(0), "version"),
        ("n_tensors 2^64-1", magic + u32(3) + u64(.max) + u64(0), "n_tensors"),
        ("n_kv 2^64-1", magic + u32(3) + u64(0) + u64(.max), "n_kv"),
        ("key length past the end", magic + u32(3) + u64(0) + u64(1) + u64(1 << 40), "n_kv"),
        ("no metadata at all", magic + u32(3) + u64(0) + u64(0), "missing metadata key"),
    ]

    @Test("a malformed GGUF is one error line with exit code 1", arguments: models.indices)
    func malformedModel(index: Int) throws {
        let (name, bytes, word) = Self.models[index]
        let cli = try CLI()
        defer { cli.cleanUp() }
        let path = cli.home.appendingPathComponent("bad.gguf")
        try Data(bytes).write(to: path)
        for command in [
            ["tokenize", "--model", path.path, "hi"],
            ["complete", "--model", path.path, "--prompt", "hi"],
        ] {
            let result = try cli.run(command)
            #expect(result.status == 1, "\(name): \(result.stderr)")
            #expect(CLI.isErrorLine(result.stderr), "\(name)")
            #expect(result.stderr.split(separator: "\n").count == 1, "\(name): \(result.stderr)")
            #expect(result.stderr.contains(word), "\(name): \(result.stderr)")
            #expect(result.seconds < Self.secondsMax, "\(name) took \(result.seconds) s")
        }
    }

    @Test("the real model cut short is refused, not crashed on")
    func truncatedModel() throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        let whole = try FileHandle(forReadingFrom: URL(fileURLWithPath: CLI.modelPath))
        defer { try? whole.close() }
        let path = cli.home.appendingPathComponent("cut.gguf")
        for length in [24, 4096, 2_000_000] {
            try whole.seek(toOffset: 0)
            try (whole.readData(ofLength: length)).write(to: path)
            let result = try cli.run(["complete", "--model", path.path, "--prompt", "hi"])
            #expect(result.status == 1, "\(length) bytes: \(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
        }
    }

    /// Each case: the file's text, and what the message must name.
    static let personas: [(String, [String])] = [
        ("model = \"smollm2-135m-instruct\"\ncolour = \"red\"\n", ["bad.toml:2", "colour"]),
        (
            "model = \"smollm2-135m-instruct\"\n[sampling]\ntemperature = 5.0\n",
            ["bad.toml:3", "sampling.temperature", "5"]
        ),
        (
            "model = \"smollm2-135m-instruct\"\nmax_tokens = \"many\"\n",
            ["bad.toml:2", "max_tokens"]
        ),
        ("description = \"no model\"\n", ["bad.toml", "model"]),
        (
            "model = \"smollm2-135m-instruct\"\n[economy]\npriority = 0\n",
            ["bad.toml:3", "economy.priority"]
        ),
        ("model = \"smollm2-135m-instruct\"\n[sampling\n", ["bad.toml:2"]),
    ]

    @Test(
        "a bad persona file is one error naming file, line and key",
        arguments: personas.indices)
    func badPersona(index: Int) throws {
        let (text, words) = Self.personas[index]
        let cli = try CLI()
        defer { cli.cleanUp() }
        let folder = cli.home.appendingPathComponent("personas")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let file = folder.appendingPathComponent("bad.toml")
        try Data(text.utf8).write(to: file)

        let check = try cli.run(["personas", "check", file.path])
        #expect(check.status == 1, "\(check.stderr)")
        let chat = try cli.run(["chat", "--personas", folder.path, "bad"], input: "hi\n")
        #expect(chat.status == 1, "\(chat.stderr)")
        for result in [check, chat] {
            #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
            for word in words {
                #expect(result.stderr.contains(word), "\(word) in \(result.stderr)")
            }
            #expect(result.seconds < Self.secondsMax, "took \(result.seconds) s")
        }
    }

    @Test(
        "usage errors exit 1 with a message",
        arguments: [
            ["frobnicate"], ["complete", "--prompt", "hi"], ["tokenize", "--model"],
            [
                "complete", "--model", "smollm2-135m-instruct", "--prompt", "hi", "--max-tokens",
                "-3",
            ],
            ["complete", "--model", "no-such-model", "--prompt", "hi"],
        ])
    func usage(arguments: [String]) throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        let result = try cli.run(arguments)
        #expect(result.status == 1, "\(arguments): \(result.stderr)")
        #expect(CLI.isErrorLine(result.stderr))
    }
}
