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
            dependencies: ["Inference", "Tokenizer", "GGUF", "Personas", "Ledger", "Support"]),
        .executableTarget(
            name: "asth",
            dependencies: [
                "Host", "Inference", "Tokenizer", "GGUF", "Personas", "Ledger", "CEdit",
                "Support",
            ]),

        // Tests: one target per module, plus end-to-end tests through the CLI.
        .testTarget(name: "GGUFTests", dependencies: ["GGUF"]),
        .testTarget(name: "TokenizerTests", dependencies: ["Tokenizer", "GGUF"]),
        .testTarget(name: "KernelTests", dependencies: ["CPUKernels"]),
        .testTarget(
            name: "InferenceTests",
            dependencies: ["Inference", "GGUF", "Tokenizer", "Database", "Support"]),
        .testTarget(name: "PersonasTests", dependencies: ["Personas"]),
        .testTarget(name: "LedgerTests", dependencies: ["Ledger", "Database"]),
        .testTarget(name: "EndToEndTests", dependencies: ["asth", "Support"]),
    ],
    cxxLanguageStandard: .cxx17
)
