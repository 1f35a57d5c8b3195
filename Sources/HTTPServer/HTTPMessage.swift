import Foundation

/// Request or response headers: names compared without regard to case,
/// values kept as sent, in order.
public struct HTTPHeaders: Sendable, Equatable, Sequence {
    /// Name and value pairs, in the order received or added.
    public private(set) var fields: [(name: String, value: String)] = []

    public init(_ fields: [(String, String)] = []) {
        for (name, value) in fields {
            add(name, value)
        }
    }

    /// The first value of `name`, or nil.
    public subscript(name: String) -> String? {
        fields.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }

    /// Every value of `name`, in order; a repeated header can smuggle a
    /// second meaning past a check that reads only the first.
    public func values(_ name: String) -> [String] {
        fields.filter { $0.name.caseInsensitiveCompare(name) == .orderedSame }.map(\.value)
    }

    public mutating func add(_ name: String, _ value: String) {
        fields.append((name, value))
    }

    /// Bytes of the fields as sent on the wire (`name: value` and CRLF).
    public var byteCount: Int {
        fields.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 4 }
    }

    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> {
        fields.makeIterator()
    }

    public static func == (a: HTTPHeaders, b: HTTPHeaders) -> Bool {
        a.fields.elementsEqual(b.fields) { $0.name == $1.name && $0.value == $1.value }
    }
}

/// What the server knows of a request once its head is in, before the body.
public struct HTTPRequestHead: Sendable {
    /// `GET`, `POST`, ... as sent.
    public var method: String
    /// The path, percent-decoded, without the query (which no route reads).
    public var path: String
    /// `HTTP/1.1`, `HTTP/1.0`.
    public var version: String
    public var headers: HTTPHeaders
    /// The address the server listens on, which the client had to reach.
    public var serverAddress: HTTPAddress

    public init(
        method: String, path: String, version: String = "HTTP/1.1",
        headers: HTTPHeaders = HTTPHeaders(), serverAddress: HTTPAddress = .loopback(port: 0)
    ) {
        self.method = method
        self.path = path
        self.version = version
        self.headers = headers
        self.serverAddress = serverAddress
    }
}

/// A whole request: the head and a body within `Limits.HTTP.bodyBytesMax`.
public struct HTTPRequest: Sendable {
    public var head: HTTPRequestHead
    public var body: Data

    public init(head: HTTPRequestHead, body: Data = Data()) {
        self.head = head
        self.body = body
    }

    public var method: String { head.method }
    public var path: String { head.path }
    public var headers: HTTPHeaders { head.headers }
}

/// What the server sends back: a status, headers, and a body that is either
/// whole or streamed as it is produced.
public struct HTTPResponse: Sendable {
    /// Where the body comes from.
    public enum Body: Sendable {
        /// All of it, sent with a `Content-Length`.
        case bytes(Data)
        /// Written by another thread while the response is sent, with
        /// chunked transfer encoding; see `HTTPStream`.
        case stream(HTTPStream)
    }

    /// 100...599.
    public var status: Int
    public var headers: HTTPHeaders
    public var body: Body

    public init(status: Int, headers: HTTPHeaders = HTTPHeaders(), body: Body = .bytes(Data())) {
        precondition((100...599).contains(status), "HTTP status \(status) out of range")
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A plain-text response, for the server's own refusals.
    public static func text(_ status: Int, _ text: String) -> HTTPResponse {
        HTTPResponse(
            status: status, headers: HTTPHeaders([("Content-Type", "text/plain; charset=utf-8")]),
            body: .bytes(Data((text + "\n").utf8)))
    }
}

/// Decides what to do with requests. The server calls it from one thread
/// per connection; a call may block (a generation runs inside it).
public protocol HTTPResponder: Sendable {
    /// Looks at a request as soon as its head is in, before the body is
    /// read; a response here answers it and the body is never read. Checks
    /// that need no body belong here (authentication, Host, Origin).
    func screen(_ head: HTTPRequestHead) -> HTTPResponse?

    /// Answers a whole request. `client` tells whether the client is still
    /// connected, so that long work can stop when it leaves.
    func respond(to request: HTTPRequest, client: HTTPClient) -> HTTPResponse
}
