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

          chat PERSONA [--resume] [--verbose]
                                            talk with a persona (stdin lines when not a terminal)
          complete --model M --prompt TEXT  raw completion [--special] [--max-tokens N]
                   [--temperature T] [--seed S] [--json]
                   [--speculate off|ngram|draft|auto] [--draft-model M]
          tokenize --model M [--json] TEXT  token ids of TEXT
          personas list | show NAME | check [FILE...]
          ledger balance [PERSONA]          what each persona can spend
          ledger history [PERSONA]          the latest transfers [--limit N]
          ledger grant PERSONA MOTES        Motes from the treasury [--id ID: once per id]
          ledger audit                      spend, holds, budgets, largest charges, verify
                                            [--largest N]
          ledger verify                     every hash, signature, balance and price
                                            [--checkpoint FILE: and that it extends it]
          ledger checkpoint                 a signed note of the ledger's size and head
                                            [--out FILE]
          ledger export --csv|--json        every transfer with its usage [--out FILE]
          metrics [--persona P] [--since T]  inference report [--json | --prometheus]
          report --html FILE                the metrics dashboard as one HTML page
          bench [--model M] [--json]        prefill, decode and batch speed (compare with llama.cpp)
          bench --speculate [MODE]          plain against speculative decoding (default: auto;
                   [--model M] [--draft-model M]  alias: bench-speculate) [--repeats N]
                   [--max-tokens N] [--clock wall|cpu] [--workload NAME] [--json]
          serve [--http IP:PORT]            the host daemon on ASTH_HOME/host.sock, and the
                                            OpenAI API on IP:PORT (e.g. 127.0.0.1:8080)
                                            [--model-idle-seconds N: unload after N s unused]
                                            [--models-memory-max SIZE: evict the least
                                             recently used model past it, e.g. 4GiB]
          serve --print-token               the API's bearer token (made on first use)
          ps [--json]                       what the host is doing now
          models                            models in the store
          devices                           devices and kernel variants

        Common options: --personas DIR, --threads N, --json where it applies.
        State lives in ASTH_HOME (default ~/.local/share/asthenosphere).
        Exit codes: 0 ok, 1 usage or input error, 2 refused, 3 ledger verify failed.
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
            case "metrics": try MetricsCommand.run(&arguments)
            case "report": try ReportCommand.run(&arguments)
            case "models": try ModelsCommand.run(&arguments)
            case "devices": try DevicesCommand.run(&arguments)
            case "serve": try ServeCommand.run(&arguments)
            case "ps": try PsCommand.run(&arguments)
            case "bench": try BenchCommand.run(&arguments)
            default: throw UsageError("unknown command '\(name)'; see `asth --help`")
            }
            return 0
        } catch {
            flushOutput()
            let (code, message) = describe(error)
            // One "asth" at the head: a message naming its command has it.
            let line = message.hasPrefix("asth ") ? message : "asth: \(message)"
            FileHandle.standardError.write(Data("\(line)\n".utf8))
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
        case let remote as RemoteError:
            return (remote.isRefusal ? 2 : 1, remote.description)
        case let refused as HostError:
            switch refused {
            case .busy, .refused: return (2, refused.description)
            default: return (1, refused.description)
            }
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

    func host(metrics: MetricsSink? = nil) -> PersonaHost {
        PersonaHost(home: home, threads: threads, metrics: metrics)
    }

    /// The service that runs generations: the daemon when one serves this
    /// home, else a host in this process sending its records to `metrics`.
    /// A catalog named with `--personas` is this process's own, so it
    /// always runs in process.
    func service(
        catalog: PersonaCatalog, metrics: () -> MetricsSink? = { nil }
    ) -> any CompletionService {
        if !catalog.isExplicit, let daemon = RemoteHost.running(in: home) {
            return daemon
        }
        return LocalHost(host: host(metrics: metrics()), catalog: catalog)
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
