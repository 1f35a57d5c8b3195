import Foundation
import HTTPServer
import Support
import Testing

@testable import OpenAIAPI

@Suite("Access: Host, Origin and the token")
struct AccessTests {
    static let token = APIToken(value: String(repeating: "ab", count: 32))

    /// Bound address, Host header, allowed.
    static let hosts: [(String, String, Bool)] = [
        ("127.0.0.1:8080", "127.0.0.1:8080", true),
        ("127.0.0.1:8080", "localhost:8080", true),
        ("127.0.0.1:8080", "LocalHost:8080", true),
        ("127.0.0.1:8080", "127.0.0.1:8081", false),
        ("127.0.0.1:8080", "127.0.0.1", false),
        ("127.0.0.1:8080", "attacker.example:8080", false),
        ("127.0.0.1:8080", "localhost.attacker.example:8080", false),
        ("127.0.0.1:8080", "127.0.0.2:8080", false),
        ("127.0.0.1:8080", "[::1]:8080", false),
        ("[::1]:8080", "[::1]:8080", true),
        ("[::1]:8080", "localhost:8080", true),
        ("0.0.0.0:8080", "192.168.1.5:8080", true),
        ("0.0.0.0:8080", "0.0.0.0:8080", false),
        ("0.0.0.0:8080", "attacker.example:8080", false),
        ("192.168.1.5:8080", "192.168.1.5:8080", true),
        ("192.168.1.5:8080", "localhost:8080", false),
    ]

    @Test("Host must name the bound address; names other than localhost never do", arguments: hosts)
    func host(_ bound: String, _ host: String, _ allowed: Bool) throws {
        let policy = AccessPolicy(token: Self.token)
        #expect(policy.isAllowed(host: host, bound: try HTTPAddress(parsing: bound)) == allowed)
    }

    /// Headers beyond Host and the token, and the code refused with (nil: let through).
    static let heads: [([(String, String)], String?)] = [
        ([], nil),
        ([("Origin", "http://127.0.0.1:8080")], nil),
        ([("Origin", "http://attacker.example")], "cross_origin_request"),
        ([("Origin", "null")], "cross_origin_request"),
        ([("Origin", "http://127.0.0.1:8080"), ("Origin", "http://x")], "cross_origin_request"),
        ([("Sec-Fetch-Site", "cross-site")], "cross_origin_request"),
        ([("Sec-Fetch-Site", "same-origin")], nil),
        ([("Sec-Fetch-Site", "none")], nil),
        ([("Host", "127.0.0.1:8080")], "host_not_allowed"),
    ]

    @Test("browsers' cross-origin requests are refused", arguments: heads)
    func origin(_ extra: [(String, String)], _ code: String?) throws {
        var headers = HTTPHeaders([
            ("Host", "127.0.0.1:8080"), ("Authorization", "Bearer \(Self.token.value)"),
        ])
        for (name, value) in extra {
            headers.add(name, value)
        }
        let head = HTTPRequestHead(
            method: "GET", path: "/v1/models", headers: headers,
            serverAddress: try HTTPAddress(parsing: "127.0.0.1:8080"))
        #expect(AccessPolicy(token: Self.token).check(head)?.code == code)
    }

    @Test("the token matches only itself, whatever the length or case of the other")
    func matches() {
        let token = APIToken(value: "0123456789abcdef0123456789abcdef")
        #expect(token.matches("0123456789abcdef0123456789abcdef"))
        for other in [
            "", "0", "0123456789abcdef0123456789abcdeF", "0123456789abcdef0123456789abcde",
            "0123456789abcdef0123456789abcdef0", "1123456789abcdef0123456789abcdef",
        ] {
            #expect(!token.matches(other), "\(other)")
        }
    }
}

@Suite("The API token file", .serialized)
struct TokenFileTests {
    /// A fresh ASTH_HOME under the temporary folder.
    static func scratchHome() -> Home {
        Home(
            url: FileManager.default.temporaryDirectory
                .appendingPathComponent("asth-token-\(UUID().uuidString)"))
    }

    @Test("made on first start with mode 0600, then read back unchanged")
    func createsOnce() throws {
        let home = Self.scratchHome()
        defer { try? FileManager.default.removeItem(at: home.url) }
        let first = try APIToken.loadOrCreate(in: home)
        #expect(first.value.count == 64)
        #expect(first.value.allSatisfy { $0.isHexDigit })
        let path = APIToken.fileURL(in: home).path
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(try APIToken.loadOrCreate(in: home).value == first.value)
        #expect(try APIToken.loadOrCreate(in: Self.scratchHome()).value != first.value)
    }

    @Test("a file others can read, a link, or garbage is refused, not trusted")
    func refusesUnsafe() throws {
        let home = Self.scratchHome()
        defer { try? FileManager.default.removeItem(at: home.url) }
        try home.create()
        let path = APIToken.fileURL(in: home).path
        let good = String(repeating: "a1", count: 32) + "\n"

        try good.write(toFile: path, atomically: false, encoding: .utf8)
        chmod(path, 0o644)
        #expect(throws: APITokenError.self) { try APIToken.loadOrCreate(in: home) }

        try FileManager.default.removeItem(atPath: path)
        let target = home.url.appendingPathComponent("elsewhere").path
        try good.write(toFile: target, atomically: false, encoding: .utf8)
        chmod(target, 0o600)
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: target)
        #expect(throws: APITokenError.self) { try APIToken.loadOrCreate(in: home) }

        try FileManager.default.removeItem(atPath: path)
        try "short\n".write(toFile: path, atomically: false, encoding: .utf8)
        chmod(path, 0o600)
        #expect(throws: APITokenError.self) { try APIToken.loadOrCreate(in: home) }
    }
}
