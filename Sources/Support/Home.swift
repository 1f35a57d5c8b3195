import Foundation

/// Where Asthenosphere keeps its state: models, the ledger, keys and the
/// host socket.
///
/// `ASTH_HOME` wins; otherwise `$XDG_DATA_HOME/asthenosphere`, else
/// `~/.local/share/asthenosphere`. Tests set `ASTH_HOME` to a temporary folder.
public struct Home: Sendable {
    /// The root folder; created on first use by whoever writes into it.
    public let url: URL

    public init(url: URL) {
        self.url = url
    }

    /// The home chosen by the environment, as described above.
    public static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> Home {
        if let explicit = environment["ASTH_HOME"], !explicit.isEmpty {
            return Home(url: URL(fileURLWithPath: explicit, isDirectory: true))
        }
        if let data = environment["XDG_DATA_HOME"], !data.isEmpty {
            return Home(url: URL(fileURLWithPath: data).appendingPathComponent("asthenosphere"))
        }
        let home = environment["HOME"] ?? NSHomeDirectory()
        return Home(
            url: URL(fileURLWithPath: home).appendingPathComponent(".local/share/asthenosphere"))
    }

    /// The model store: `<home>/models/<name>.gguf`.
    public var modelsURL: URL { url.appendingPathComponent("models", isDirectory: true) }

    /// The SQLite ledger.
    public var ledgerURL: URL { url.appendingPathComponent("ledger.sqlite") }

    /// The host's Ed25519 signing key, mode 0600.
    public var signingKeyURL: URL { url.appendingPathComponent("host.key") }

    /// The host daemon's Unix socket.
    public var socketURL: URL { url.appendingPathComponent("host.sock") }

    /// Creates the home folder (mode 0700) if it is missing.
    public func create() throws {
        try FileManager.default.createDirectory(
            at: url, withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700])
    }
}
