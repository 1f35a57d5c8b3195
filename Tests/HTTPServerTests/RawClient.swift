import Foundation

/// A bare TCP client for tests: sends exactly the bytes given, so that
/// malformed and oversized requests reach the server as written.
final class RawClient {
    private let socket: Int32
    private var isClosed = false

    /// Connects to 127.0.0.1:`port`.
    init(port: UInt16) throws {
        socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw RawClientError("socket", errno) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            Glibc.close(socket)
            throw RawClientError("connect", errno)
        }
        var timeout = timeval(tv_sec: 20, tv_usec: 0)
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit {
        hangUp()
    }

    func send(_ text: String) throws {
        try send(Data(text.utf8))
    }

    func send(_ data: Data) throws {
        var offset = 0
        while offset < data.count {
            let sent = data.withUnsafeBytes {
                Glibc.send(
                    socket, $0.baseAddress! + offset, data.count - offset, Int32(MSG_NOSIGNAL))
            }
            guard sent > 0 else { throw RawClientError("send", errno) }
            offset += sent
        }
    }

    /// Reads what is there, up to `count` bytes; empty at end of stream.
    func receive(upTo count: Int = 65_536) -> Data {
        var buffer = [UInt8](repeating: 0, count: count)
        let received = recv(socket, &buffer, count, 0)
        return received > 0 ? Data(buffer[0..<received]) : Data()
    }

    /// Everything until the server closes the connection.
    func receiveAll() -> Data {
        var all = Data()
        while true {
            let piece = receive()
            if piece.isEmpty { return all }
            all.append(piece)
        }
    }

    /// Closes at once; with `reset`, the kernel sends RST instead of FIN.
    func hangUp(reset: Bool = false) {
        guard !isClosed else { return }
        isClosed = true
        if reset {
            var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
            setsockopt(
                socket, SOL_SOCKET, SO_LINGER, &linger,
                socklen_t(MemoryLayout<Glibc.linger>.size))
        }
        Glibc.close(socket)
    }
}

struct RawClientError: Error, CustomStringConvertible {
    let description: String

    init(_ call: String, _ code: Int32) {
        description = "\(call): errno \(code)"
    }
}

/// A response as the tests read it back.
struct RawResponse {
    var status: Int
    var headers: [String: String]  // names lowercased
    var body: Data

    var text: String { String(decoding: body, as: UTF8.self) }

    /// Parses one HTTP/1.1 response, decoding a chunked body.
    init(parsing data: Data) throws {
        let bytes = [UInt8](data)
        guard let end = Self.find([13, 10, 13, 10], in: bytes, from: 0) else {
            throw RawClientError("no head in \(bytes.count) bytes", 0)
        }
        let head = String(decoding: bytes[0..<end], as: UTF8.self)
        var lines = head.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ")
        status = statusLine.count > 1 ? Int(statusLine[1]) ?? 0 : 0
        headers = [:]
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].lowercased()
            headers[name] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let rest = Array(bytes[(end + 4)...])
        body = headers["transfer-encoding"] == "chunked" ? Data(Self.dechunk(rest)) : Data(rest)
    }

    private static func find(_ needle: [UInt8], in bytes: [UInt8], from start: Int) -> Int? {
        guard bytes.count >= needle.count else { return nil }
        var index = start
        while index + needle.count <= bytes.count {
            if Array(bytes[index..<(index + needle.count)]) == needle { return index }
            index += 1
        }
        return nil
    }

    private static func dechunk(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var index = 0
        while let lineEnd = find([13, 10], in: bytes, from: index) {
            let sizeText = String(decoding: bytes[index..<lineEnd], as: UTF8.self)
            guard let size = Int(sizeText.split(separator: ";")[0], radix: 16), size > 0 else {
                break
            }
            let start = lineEnd + 2
            guard start + size <= bytes.count else { break }
            out += bytes[start..<(start + size)]
            index = start + size + 2
        }
        return out
    }
}
