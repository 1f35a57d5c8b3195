import Foundation

/// Where the server listens: an IP literal and a port.
///
/// Only literals are taken (and `localhost`, read as 127.0.0.1): resolving
/// a name could bind somewhere the person did not mean.
public struct HTTPAddress: Sendable, Hashable, CustomStringConvertible {
    /// The address family and its bytes in network order.
    public enum Host: Sendable, Hashable {
        case ipv4([UInt8])  // 4 bytes
        case ipv6([UInt8])  // 16 bytes
    }

    public var host: Host
    /// 0 asks the kernel for a free port.
    public var port: UInt16

    /// The loopback address on `port`: the default.
    public static func loopback(port: UInt16) -> HTTPAddress {
        HTTPAddress(host: .ipv4([127, 0, 0, 1]), port: port)
    }

    public init(host: Host, port: UInt16) {
        self.host = host
        self.port = port
    }

    /// Parses `127.0.0.1:8080`, `[::1]:8080` or `localhost:8080`.
    public init(parsing text: String) throws(HTTPServerError) {
        let bad = HTTPServerError.badAddress(text, reason: "expected IP:PORT or [IPv6]:PORT")
        guard let colon = text.lastIndex(of: ":") else { throw bad }
        var hostText = String(text[..<colon])
        let portText = String(text[text.index(after: colon)...])
        guard let port = UInt16(portText), portText.allSatisfy(\.isASCII) else {
            throw HTTPServerError.badAddress(text, reason: "port must be 0 to 65535")
        }
        if hostText.hasPrefix("[") && hostText.hasSuffix("]") {
            hostText = String(hostText.dropFirst().dropLast())
            guard let bytes = Self.parse(hostText, family: AF_INET6, count: 16) else { throw bad }
            self.init(host: .ipv6(bytes), port: port)
        } else if hostText == "localhost" {
            self = .loopback(port: port)
        } else if let bytes = Self.parse(hostText, family: AF_INET, count: 4) {
            self.init(host: .ipv4(bytes), port: port)
        } else {
            throw bad
        }
    }

    /// Bytes of an address literal of `family`, or nil.
    private static func parse(_ text: String, family: Int32, count: Int) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: count)
        guard inet_pton(family, text, &bytes) == 1 else { return nil }
        return bytes
    }

    /// True for 127.0.0.0/8 and ::1: reachable from this machine only.
    public var isLoopback: Bool {
        switch host {
        case .ipv4(let bytes): return bytes[0] == 127
        case .ipv6(let bytes): return bytes == [UInt8](repeating: 0, count: 15) + [1]
        }
    }

    /// The host as it appears in a URL: `127.0.0.1`, `[::1]`.
    public var hostLiteral: String {
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        switch host {
        case .ipv4(let bytes):
            _ = inet_ntop(AF_INET, bytes, &text, socklen_t(text.count))
            return String(
                decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        case .ipv6(let bytes):
            _ = inet_ntop(AF_INET6, bytes, &text, socklen_t(text.count))
            let literal = String(
                decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            return "[\(literal)]"
        }
    }

    /// `host:port`, as a client writes it in a `Host` header.
    public var description: String { "\(hostLiteral):\(port)" }

    /// Calls `body` with this address as a `sockaddr`.
    func withSocketAddress<T>(_ body: (UnsafePointer<sockaddr>) -> T) -> T {
        switch host {
        case .ipv4(let bytes):
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            withUnsafeMutableBytes(of: &address.sin_addr) { $0.copyBytes(from: bytes) }
            return withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1, body)
            }
        case .ipv6(let bytes):
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = port.bigEndian
            withUnsafeMutableBytes(of: &address.sin6_addr) { $0.copyBytes(from: bytes) }
            return withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1, body)
            }
        }
    }
}
