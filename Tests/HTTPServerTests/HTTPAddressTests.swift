import HTTPServer
import Testing

@Suite("HTTP addresses")
struct HTTPAddressTests {
    /// Text, the address it reads as, and whether it is loopback.
    static let valid: [(String, String, Bool)] = [
        ("127.0.0.1:8080", "127.0.0.1:8080", true),
        ("localhost:0", "127.0.0.1:0", true),
        ("127.1.2.3:1", "127.1.2.3:1", true),
        ("[::1]:65535", "[::1]:65535", true),
        ("0.0.0.0:8080", "0.0.0.0:8080", false),
        ("192.168.1.10:80", "192.168.1.10:80", false),
        ("[::]:80", "[::]:80", false),
        ("[fe80::1]:80", "[fe80::1]:80", false),
    ]

    @Test("literals parse, print back, and know loopback", arguments: valid)
    func parses(_ text: String, _ printed: String, _ loopback: Bool) throws {
        let address = try HTTPAddress(parsing: text)
        #expect(address.description == printed)
        #expect(address.isLoopback == loopback)
    }

    @Test(
        "anything but a literal and a port is refused",
        arguments: [
            "", "8080", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1",
            "127.0.0.1:80a", "example.com:80", "::1:80", "[::1]", "[127.0.0.1]:80",
            "127.0.0.1:８０",
        ])
    func refuses(_ text: String) {
        #expect(throws: HTTPServerError.self) { try HTTPAddress(parsing: text) }
    }
}
