import Foundation
import Synchronization

/// A small leveled logger: one category per module, lines shaped
/// `category: event key=value`, written to standard error.
///
/// Library modules log here and never print; only `asth` talks to the user.
/// The level comes from `ASTH_LOG` (`error`, `warn`, `info`, `debug`) and
/// defaults to `warn`, so a normal run stays quiet.
public struct Log: Sendable {
    public enum Level: Int, Comparable, Sendable {
        case error = 0
        case warn = 1
        case info = 2
        case debug = 3

        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
    }

    /// The module or component name that starts every line.
    public let category: String

    public init(_ category: String) {
        self.category = category
    }

    /// The threshold, read once from the environment.
    public static let threshold: Level = {
        switch ProcessInfo.processInfo.environment["ASTH_LOG"]?.lowercased() {
        case "error": return .error
        case "info": return .info
        case "debug": return .debug
        default: return .warn
        }
    }()

    /// Serialises writers so that lines from threads never interleave.
    private static let lock = Mutex(())

    public func error(_ event: String, _ fields: KeyValuePairs<String, Any> = [:]) {
        write(.error, event, fields)
    }

    public func warn(_ event: String, _ fields: KeyValuePairs<String, Any> = [:]) {
        write(.warn, event, fields)
    }

    public func info(_ event: String, _ fields: KeyValuePairs<String, Any> = [:]) {
        write(.info, event, fields)
    }

    public func debug(_ event: String, _ fields: KeyValuePairs<String, Any> = [:]) {
        write(.debug, event, fields)
    }

    /// A field's value as it appears in a line: as is when it is one word,
    /// else quoted with its quotes, backslashes and line breaks escaped, so
    /// that every event stays on one line (an SQLite error carries its
    /// statement, breaks and all).
    public static func render(_ value: Any) -> String {
        let text = String(describing: value)
        let plain =
            !text.isEmpty
            && !text.unicodeScalars.contains {
                $0 == "\"" || $0 == "\\" || $0 == "=" || $0.properties.isWhitespace
                    || $0.properties.generalCategory == .control
            }
        guard !plain else { return text }
        var quoted = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": quoted += "\\\""
            case "\\": quoted += "\\\\"
            case "\n": quoted += "\\n"
            case "\r": quoted += "\\r"
            case "\t": quoted += "\\t"
            default:
                if scalar.properties.generalCategory == .control {
                    quoted += "\\u{\(String(scalar.value, radix: 16))}"
                } else {
                    quoted.unicodeScalars.append(scalar)
                }
            }
        }
        return quoted + "\""
    }

    private func write(_ level: Level, _ event: String, _ fields: KeyValuePairs<String, Any>) {
        guard level <= Log.threshold else { return }
        var line = "\(category): \(event)"
        for (key, value) in fields {
            line += " \(key)=\(Log.render(value))"
        }
        line += "\n"
        Log.lock.withLock { _ in
            FileHandle.standardError.write(Data(line.utf8))
        }
    }
}
