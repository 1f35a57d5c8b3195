/// Lines from a socket, each at most `lineBytesMax` bytes: the protocol's
/// framing. Reads as much as the socket gives and keeps what follows a
/// line for the next call.
final class LineReader {
    let socket: UnixSocket
    let lineBytesMax: Int
    /// Bytes read and not yet returned as a line.
    private var buffer: [UInt8] = []
    /// Where to look for the next newline in `buffer`.
    private var scanned = 0
    /// Set once the peer closed its side.
    private(set) var isAtEnd = false

    /// Bytes asked of the socket per read.
    static let chunkBytes = 64 << 10

    init(socket: UnixSocket, lineBytesMax: Int) {
        self.socket = socket
        self.lineBytesMax = lineBytesMax
    }

    /// The next line without its newline, or nil at the end of the stream.
    ///
    /// - Throws: `LineTooLong` past `lineBytesMax`; socket errors.
    func next() throws -> [UInt8]? {
        while true {
            if let line = try takeLine() { return line }
            guard try fill() else { return nil }
        }
    }

    /// A complete line already read, if any, without reading more.
    func takeLine() throws -> [UInt8]? {
        if let newline = buffer[scanned...].firstIndex(of: UInt8(ascii: "\n")) {
            let line = Array(buffer[..<newline])
            buffer.removeSubrange(...newline)
            scanned = 0
            return line
        }
        scanned = buffer.count
        guard buffer.count <= lineBytesMax else {
            throw LineTooLong(bytes: buffer.count, limit: lineBytesMax)
        }
        return nil
    }

    /// Reads once from the socket; false at the end of the stream.
    @discardableResult
    func fill() throws -> Bool {
        guard !isAtEnd else { return false }
        var chunk = [UInt8](repeating: 0, count: Self.chunkBytes)
        let count = try chunk.withUnsafeMutableBytes { try socket.read(into: $0) }
        guard count > 0 else {
            isAtEnd = true
            return false
        }
        buffer += chunk[..<count]
        return true
    }
}

/// A protocol line longer than the bound.
struct LineTooLong: Error, CustomStringConvertible {
    let bytes: Int
    let limit: Int

    var description: String {
        "a protocol line of more than \(bytes) bytes (limit: \(limit) bytes)"
    }
}
