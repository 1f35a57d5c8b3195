import Foundation
import GGUF
import Host
import Inference
import Ledger
import Personas
import Support
import Tokenizer

/// Routes the first word to a command and maps what it throws to an exit
/// code.
enum Command {
    static let usage = """
        usage: asth COMMAND [ARGS]

          chat PERSONA [--verbose]          talk with a persona (stdin lines when not a terminal)
          complete --model M --prompt TEXT  raw completion [--special] [--max-tokens N]
                   [--temperature T] [--seed S] [--json]
                   [--speculate off|ngram|draft|auto] [--draft-model M]
          tokenize --model M [--json] TEXT  token ids of TEXT
          bench-speculate [--model M] [--speculate MODE] [--draft-model M] [--repeats N]
                   [--max-tokens N] [--clock wall|cpu] [--workload NAME] [--json]
                                            plain against speculative decoding
          personas list | show NAME | check [FILE...]
          ledger balance | history [PERSONA]
          models                            models in the store
          devices                           devices and kernel variants

        Common options: --personas DIR, --threads N, --json where it applies.
        State lives in ASTH_HOME (default ~/.local/share/asthenosphere).
        """

    static func run(_ words: [String]) -> Int32 {
        guard let name = words.first, name != "--help", name != "-h", name != "help" else {
            print(usage)
            return words.isEmpty ? 1 : 0
        }
        var arguments = Arguments(Array(words.dropFirst()), command: "asth \(name)")
        do {
            switch name {
            case "chat": try ChatCommand.run(&arguments)
            case "complete": try CompleteCommand.run(&arguments)
            case "bench-speculate": try BenchSpeculateCommand.run(&arguments)
            case "tokenize": try TokenizeCommand.run(&arguments)
            case "personas": try PersonasCommand.run(&arguments)
            case "ledger": try LedgerCommand.run(&arguments)
            case "models": try ModelsCommand.run(&arguments)
            case "devices": try DevicesCommand.run(&arguments)
            default: throw UsageError("unknown command '\(name)'; see `asth --help`")
            }
            return 0
        } catch {
            flushOutput()
            let (code, message) = describe(error)
            FileHandle.standardError.write(Data("asth: \(message)\n".utf8))
            return code
        }
    }

    /// The exit code and one-line message for anything a command throws.
    static func describe(_ error: Error) -> (Int32, String) {
        switch error {
        case let refused as RefusedError:
            return (2, refused.description)
        case LedgerError.refused(let refusal):
            return (2, "\(refusal)")
        case let failed as VerifyFailed:
            return (3, failed.description)
        case let described as CustomStringConvertible:
            return (1, described.description)
        default:
            return (1, "\(error)")
        }
    }
}

/// `asth ledger verify` found a bad entry: exit code 3.
struct VerifyFailed: Error, CustomStringConvertible {
    let description: String
}

/// What every command shares: the home folder and, on demand, the host.
struct Context {
    let home: Home
    let threads: Int?

    init(_ arguments: inout Arguments) throws {
        home = Home.fromEnvironment()
        threads = try arguments.number("--threads", in: 1...256)
    }

    func host() -> PersonaHost {
        PersonaHost(home: home, threads: threads)
    }

    /// The persona catalog: `--personas DIR`, else the standard folders.
    static func catalog(_ arguments: inout Arguments) throws -> PersonaCatalog {
        if let folder = try arguments.option("--personas") {
            return PersonaCatalog(directories: [folder], isExplicit: true)
        }
        return PersonaCatalog(
            directories: PersonaCatalog.standardDirectories(
                environment: ProcessInfo.processInfo.environment))
    }
}

/// Writes a value as one line of JSON on standard output.
func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}
