import Foundation
import Support
import Synchronization
import Testing

@testable import HTTPServer

/// A responder whose behaviour each test picks by path.
final class ScriptedResponder: HTTPResponder {
    /// When a stream's producer noticed its client leave (a monotonic
    /// instant), or nil. Guarded by its mutex.
    let clientGoneAt = Mutex<ContinuousClock.Instant?>(nil)
    /// Pieces a stream's producer managed to write.
    let piecesWritten = Atomic<Int>(0)

    func screen(_ head: HTTPRequestHead) -> HTTPResponse? {
        head.headers["X-Refuse"] != nil ? .text(403, "refused at the head") : nil
    }

    func respond(to request: HTTPRequest, client: HTTPClient) -> HTTPResponse {
        switch request.path {
        case "/echo":
            var headers = HTTPHeaders([("X-Method", request.method)])
            headers.add("X-Path", request.path)
            return HTTPResponse(status: 200, headers: headers, body: .bytes(request.body))
        case "/stream":
            return stream(pieces: 5, interval: .milliseconds(5), client: client)
        case "/endless":
            return stream(pieces: 100_000, interval: .milliseconds(10), client: client)
        case "/bad-header":
            return HTTPResponse(status: 200, headers: HTTPHeaders([("X-Bad", "a\r\nb")]))
        case "/wait-for-leave":
            waitForLeave(client)
            return .text(200, "late")
        default:
            return .text(404, "no route \(request.path)")
        }
    }

    /// A stream of numbered pieces written from another thread.
    private func stream(pieces: Int, interval: Duration, client: HTTPClient) -> HTTPResponse {
        let stream = HTTPStream(client: client)
        stream.onClientGone { [self] in
            clientGoneAt.withLock { $0 = $0 ?? .now }
        }
        Thread.detachNewThread { [self] in
            for index in 0..<pieces {
                guard stream.write(Data("piece \(index)\n".utf8)) else { return }
                piecesWritten.add(1, ordering: .relaxed)
                Thread.sleep(forTimeInterval: Double(interval.components.attoseconds) / 1e18)
            }
            stream.finish()
        }
        return HTTPResponse(
            status: 200, headers: HTTPHeaders([("Content-Type", "text/plain")]),
            body: .stream(stream))
    }

    /// Blocks like a generation would, until the client leaves (or 10 s).
    private func waitForLeave(_ client: HTTPClient) {
        let deadline = ContinuousClock.now + .seconds(10)
        while !client.isGone && ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.005)
        }
        if client.isGone {
            clientGoneAt.withLock { $0 = $0 ?? .now }
        }
    }
}

/// Starts a server on a free loopback port for one test.
func withServer(
    _ body: (HTTPServer, ScriptedResponder) throws -> Void
) throws {
    let responder = ScriptedResponder()
    let server = try HTTPServer(address: .loopback(port: 0), responder: responder)
    defer { server.stop() }
    try body(server, responder)
}

/// Sends `request` and reads the whole response.
func exchange(_ port: UInt16, _ request: String) throws -> RawResponse {
    let client = try RawClient(port: port)
    try client.send(request)
    return try RawResponse(parsing: client.receiveAll())
}

@Suite("HTTP server over libmicrohttpd", .serialized)
struct HTTPServerTests {
    @Test("the kernel's free port is reported, and requests reach the responder whole")
    func echo() throws {
        try withServer { server, _ in
            #expect(server.address.port != 0)
            #expect(server.address.isLoopback)
            let body = "{\"hello\": \"wörld\"}"
            let response = try exchange(
                server.address.port,
                "POST /echo?a=1&b=%2F HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                    + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)")
            #expect(response.status == 200)
            #expect(response.text == body)
            #expect(response.headers["x-method"] == "POST")
            #expect(response.headers["x-path"] == "/echo")
            #expect(response.headers["cache-control"] == "no-store")
            #expect(response.headers["x-content-type-options"] == "nosniff")
        }
    }

    /// Heads the server refuses before reading a body, and the status.
    static let refusals: [(name: String, head: String, status: Int)] = [
        (
            "body over the limit, by its declared length",
            "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: \(Limits.HTTP.bodyBytesMax + 1)\r\n",
            413
        ),
        ("chunked body", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n", 411),
        (
            "length that is not a number",
            "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1e3\r\n", 400
        ),
        ("head over the limit", "GET /echo HTTP/1.1\r\nHost: x\r\nX-Pad: {pad}\r\n", 431),
        (
            "head over libmicrohttpd's pool",
            "GET /echo HTTP/1.1\r\nHost: x\r\nX-Pad: {pad}{pad}{pad}{pad}{pad}\r\n", 431
        ),
        ("responder's screen", "GET /echo HTTP/1.1\r\nHost: x\r\nX-Refuse: 1\r\n", 403),
    ]

    @Test("heads over a bound are refused before the body", arguments: refusals)
    func refusesHeads(_ name: String, _ head: String, _ status: Int) throws {
        try withServer { server, _ in
            let pad = String(repeating: "a", count: Limits.HTTP.headerBytesMax)
            let request = head.replacingOccurrences(of: "{pad}", with: pad)
            let response = try exchange(server.address.port, request + "Connection: close\r\n\r\n")
            #expect(response.status == status, "\(name)")
        }
    }

    @Test("a header the responder cannot send becomes a 500, not a dropped connection")
    func badHeader() throws {
        try withServer { server, _ in
            let response = try exchange(
                server.address.port,
                "GET /bad-header HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            #expect(response.status == 500)
            #expect(response.headers["x-bad"] == nil)
        }
    }

    @Test("a streamed body arrives piece by piece, chunked, and ends")
    func streams() throws {
        try withServer { server, responder in
            let response = try exchange(
                server.address.port, "GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            #expect(response.status == 200)
            #expect(response.headers["transfer-encoding"] == "chunked")
            let expected = (0..<5).map { "piece \($0)\n" }.joined()
            #expect(response.text == expected)
            #expect(responder.clientGoneAt.withLock { $0 } == nil)
        }
    }

    @Test("a client that leaves mid-stream stops its producer", arguments: [false, true])
    func streamClientLeaves(reset: Bool) throws {
        try withServer { server, responder in
            let client = try RawClient(port: server.address.port)
            try client.send("GET /endless HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(!client.receive().isEmpty)
            let leftAt = ContinuousClock.now
            client.hangUp(reset: reset)

            // The producer hears of it within a few of its 10 ms pieces.
            try waitUntil(.seconds(2)) { responder.clientGoneAt.withLock { $0 } != nil }
            let noticedAt = try #require(responder.clientGoneAt.withLock { $0 })
            #expect(noticedAt - leftAt < .milliseconds(500))
            let written = responder.piecesWritten.load(ordering: .relaxed)
            Thread.sleep(forTimeInterval: 0.1)
            #expect(responder.piecesWritten.load(ordering: .relaxed) == written)
        }
    }

    @Test("a client that leaves while its request is worked on is seen gone")
    func blockingClientLeaves() throws {
        try withServer { server, responder in
            let client = try RawClient(port: server.address.port)
            try client.send("GET /wait-for-leave HTTP/1.1\r\nHost: x\r\n\r\n")
            Thread.sleep(forTimeInterval: 0.05)
            let leftAt = ContinuousClock.now
            client.hangUp()
            try waitUntil(.seconds(2)) { responder.clientGoneAt.withLock { $0 } != nil }
            let noticedAt = try #require(responder.clientGoneAt.withLock { $0 })
            #expect(noticedAt - leftAt < .milliseconds(500))
        }
    }

    @Test("stopping cuts an endless stream and returns")
    func stopCutsStreams() throws {
        let responder = ScriptedResponder()
        let server = try HTTPServer(address: .loopback(port: 0), responder: responder)
        let client = try RawClient(port: server.address.port)
        try client.send("GET /endless HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(!client.receive().isEmpty)
        let started = ContinuousClock.now
        server.stop()
        #expect(ContinuousClock.now - started < .seconds(5))

        // The producer hears of it at once, or at its next write when the
        // connection closed between two of its reads.
        try waitUntil(.seconds(1)) { responder.clientGoneAt.withLock { $0 } != nil }
        server.stop()
    }

    @Test("a port already taken is a thrown error naming the address")
    func portTaken() throws {
        try withServer { server, _ in
            #expect {
                _ = try HTTPServer(address: server.address, responder: ScriptedResponder())
            } throws: { error in
                guard case HTTPServerError.startFailed(let address, let code) = error else {
                    return false
                }
                return address == server.address.description && code == EADDRINUSE
            }
        }
    }
}

/// Polls `condition` every 5 ms until it holds, or throws after `limit`.
func waitUntil(_ limit: Duration, _ condition: () -> Bool) throws {
    let deadline = ContinuousClock.now + limit
    while !condition() {
        guard ContinuousClock.now < deadline else {
            throw RawClientError("condition not met within \(limit)", 0)
        }
        Thread.sleep(forTimeInterval: 0.005)
    }
}

@Suite("HTTP streams")
struct HTTPStreamTests {
    @Test("a producer that gets too far ahead of its client breaks the stream once")
    func fallsBehind() {
        let stream = HTTPStream(client: .detached(), pendingBytesMax: 8)
        let calls = Atomic<Int>(0)
        stream.onClientGone { calls.add(1, ordering: .relaxed) }
        #expect(stream.write(Data("12345".utf8)))
        #expect(!stream.write(Data("6789".utf8)))
        #expect(!stream.write(Data("0".utf8)))
        #expect(!stream.isOpen)
        #expect(calls.load(ordering: .relaxed) == 1)
    }

    @Test("a finished stream gives its bytes, then the end, and never calls the gone handler")
    func finishes() {
        let stream = HTTPStream(client: .detached())
        let calls = Atomic<Int>(0)
        stream.onClientGone { calls.add(1, ordering: .relaxed) }
        #expect(stream.write(Data("abc".utf8)))
        stream.finish()
        #expect(!stream.write(Data("d".utf8)))
        var buffer = [UInt8](repeating: 0, count: 2)
        let chunks = (0..<3).map { _ in
            buffer.withUnsafeMutableBytes {
                stream.read(into: $0.baseAddress!, capacity: 2) { false }
            }
        }
        #expect(chunks == [.bytes(2), .bytes(1), .end])
        stream.breakStream()
        #expect(calls.load(ordering: .relaxed) == 0)
    }

    @Test("a handler set after the client left runs at once")
    func lateHandler() {
        let client = HTTPClient.detached()
        let stream = HTTPStream(client: client)
        client.disconnect()
        #expect(!stream.write(Data("x".utf8)))
        let calls = Atomic<Int>(0)
        stream.onClientGone { calls.add(1, ordering: .relaxed) }
        #expect(calls.load(ordering: .relaxed) == 1)
    }
}

@Suite("Stopping with grace")
struct GracefulStopTests {
    @Test("a stream that ends within the grace is sent whole before the server stops")
    func graceLetsStreamsFinish() throws {
        let responder = ScriptedResponder()
        let server = try HTTPServer(address: .loopback(port: 0), responder: responder)
        let client = try RawClient(port: server.address.port)
        try client.send("GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        try waitUntil(.seconds(2)) { server.requestsInFlight == 1 }
        server.stop(grace: .seconds(5))
        let response = try RawResponse(parsing: client.receiveAll())
        #expect(response.text == (0..<5).map { "piece \($0)\n" }.joined())
        #expect(server.requestsInFlight == 0)
    }
}
