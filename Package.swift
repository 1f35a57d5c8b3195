// swift-tools-version:6.0
// Asthenosphere: a host for many LLM personas on one shared accelerator.
// One target per layer; see DESIGN in the README for the data flow.
import PackageDescription

/// Kernels are always optimised: a debug build of the Swift layers must still
/// run the real model at a usable speed in the end-to-end tests.
let kernelFlags: [CSetting] = [
    .unsafeFlags(["-O3", "-fno-math-errno", "-Wall", "-Wextra", "-Wno-unused-parameter"])
]

let package = Package(
    name: "Asthenosphere",
    products: [
        .executable(name: "asth", targets: ["asth"])
    ],
    targets: [
        // C libraries from Debian packages, each wrapped once by one Swift module.
        .systemLibrary(
            name: "CSQLite", path: "Sources/CSQLite", pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(
            name: "CSodium", path: "Sources/CSodium", pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"])]),
        .systemLibrary(
            name: "CMicroHTTPD", path: "Sources/CMicroHTTPD", pkgConfig: "libmicrohttpd",
            providers: [.apt(["libmicrohttpd-dev"])]),
        .systemLibrary(
            name: "CEdit", path: "Sources/CEdit", pkgConfig: "libedit",
            providers: [.apt(["libedit-dev"])]),
        .target(
            name: "CTOML", path: "Sources/CTOML",
            cxxSettings: [.unsafeFlags(["-O2"])]),
        .target(name: "CPUKernels", path: "Kernels/CPU", cSettings: kernelFlags),

        // Layers, bottom up.
        .target(name: "Support"),
        .target(name: "GGUF", dependencies: ["Support"]),
        .target(name: "Tokenizer", dependencies: ["GGUF", "Support"]),
        .target(
            name: "Inference",
            dependencies: ["GGUF", "Tokenizer", "Database", "CPUKernels", "Support"]),
        .target(name: "Personas", dependencies: ["CTOML", "Support"]),
        .target(name: "Database", dependencies: ["CSQLite", "Support"]),
        .target(name: "Ledger", dependencies: ["Database", "CSodium", "Support"]),
        .target(
            name: "Host",
            dependencies: [
                "Inference", "Tokenizer", "GGUF", "Personas", "Ledger", "Database", "Support",
            ],
            exclude: ["PROTOCOL.md"]),
        // Metrics implements the host's `MetricsSink`: it sits above Host so
        // that Host never learns about storage, and `asth` joins the two.
        .target(
            name: "Metrics",
            dependencies: ["Host", "Inference", "Database", "GGUF", "Ledger", "Support"]),
        .target(name: "HTTPServer", dependencies: ["CMicroHTTPD", "Support"]),
        .target(
            name: "OpenAIAPI",
            dependencies: ["Host", "HTTPServer", "Ledger", "Personas", "Tokenizer", "Support"]),
        .executableTarget(
            name: "asth",
            dependencies: [
                "Host", "Inference", "Tokenizer", "GGUF", "Personas", "Ledger", "Database",
                "Metrics", "CEdit", "HTTPServer", "OpenAIAPI", "Support",
            ]),

        // Tests: one target per module, plus end-to-end tests through the CLI.
        .testTarget(name: "SupportTests", dependencies: ["Support"]),
        .testTarget(name: "GGUFTests", dependencies: ["GGUF"]),
        .testTarget(name: "TokenizerTests", dependencies: ["Tokenizer", "GGUF"]),
        .testTarget(name: "KernelTests", dependencies: ["CPUKernels", "Support"]),
        .testTarget(
            name: "InferenceTests",
            dependencies: ["Inference", "GGUF", "Tokenizer", "Database", "Support"]),
        .testTarget(name: "PersonasTests", dependencies: ["Personas"]),
        .testTarget(name: "LedgerTests", dependencies: ["Ledger", "Database", "Support"]),
        .testTarget(
            name: "HostTests",
            dependencies: [
                "Host", "Inference", "Ledger", "Personas", "Tokenizer", "Support", "GGUF",
            ]),
        .testTarget(
            name: "MetricsTests",
            dependencies: ["Metrics", "Host", "Inference", "Database", "Support"]),
        .testTarget(name: "HTTPServerTests", dependencies: ["HTTPServer", "Support"]),
        .testTarget(
            name: "OpenAIAPITests",
            dependencies: ["OpenAIAPI", "HTTPServer", "Host", "Personas", "Ledger", "Support"]),
        // CSQLite: the tests tamper with the ledger file through the C API.
        .testTarget(
            name: "EndToEndTests", dependencies: ["asth", "CSQLite", "Support"],
            exclude: ["OpenAIClient"]),
    ],
    cxxLanguageStandard: .cxx17
)
