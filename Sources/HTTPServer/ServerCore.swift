import CMicroHTTPD
import Foundation
import Support
import Synchronization

/// Set once when the server stops; every connection looks at it.
final class StopFlag: Sendable {
    private let flag = Atomic<Bool>(false)

    func set() { flag.store(true, ordering: .releasing) }

    var isSet: Bool { flag.load(ordering: .acquiring) }
}

/// One request between its head and its response: what libmicrohttpd keeps
/// for us in its per-request pointer.
final class Exchange: @unchecked Sendable {
    let head: HTTPRequestHead
    let client: HTTPClient
    /// The body so far, at most `Limits.HTTP.bodyBytesMax` bytes. Touched
    /// only by the connection's own thread.
    var body = Data()

    init(head: HTTPRequestHead, client: HTTPClient) {
        self.head = head
        self.client = client
    }
}

/// What a streamed response's C callbacks reach: the stream and the flag.
final class StreamSource: Sendable {
    let stream: HTTPStream
    let stop: StopFlag

    init(stream: HTTPStream, stop: StopFlag) {
        self.stream = stream
        self.stop = stop
    }
}

/// The server's state as the C callbacks see it, and the callbacks.
final class ServerCore: Sendable {
    let responder: any HTTPResponder
    let stop = StopFlag()
    /// Requests between their head and the end of their response.
    let exchangesInFlight = Atomic<Int>(0)
    /// The bound address, known once the daemon has started; a request that
    /// races the start sees port 0 (and fails any check on it).
    let address: Mutex<HTTPAddress>
    let log = Log("http")

    /// Bytes libmicrohttpd asks a stream for at a time.
    static let streamBlockBytes = 4_096
    /// `MHD_SIZE_UNKNOWN`: a body of unknown length, sent chunked.
    static let sizeUnknown = UInt64.max
    /// `MHD_CONTENT_READER_END_OF_STREAM`: the body is complete.
    static let readerEnd = -1
    /// `MHD_CONTENT_READER_END_WITH_ERROR`: close without ending the body.
    static let readerBroken = -2

    init(responder: any HTTPResponder, address: HTTPAddress) {
        self.responder = responder
        self.address = Mutex(address)
    }

    static func from(_ context: UnsafeMutableRawPointer?) -> ServerCore {
        Unmanaged<ServerCore>.fromOpaque(context!).takeUnretainedValue()
    }

    /// Called by libmicrohttpd once the head is in, once per piece of body,
    /// and once when the request is whole.
    static let accessHandler: MHD_AccessHandlerCallback = {
        context, connection, url, method, version, upload, uploadBytes, perRequest in
        let core = ServerCore.from(context)
        guard let connection, let perRequest, let uploadBytes else { return MHD_Result.NO }

        // First call: the head. Screen it before any body is read.
        guard let stored = perRequest.pointee else {
            let head = core.readHead(connection, url: url, method: method, version: version)
            if let refusal = core.screen(head) {
                return core.queue(refusal, on: connection)
            }
            let client = HTTPClient(socket: asth_mhd_connection_fd(connection), stop: core.stop)
            let exchange = Exchange(head: head, client: client)
            perRequest.pointee = Unmanaged.passRetained(exchange).toOpaque()
            core.exchangesInFlight.add(1, ordering: .relaxed)
            return MHD_Result.YES
        }
        let exchange = Unmanaged<Exchange>.fromOpaque(stored).takeUnretainedValue()

        // A piece of body: keep it, within the bound the head promised.
        if uploadBytes.pointee > 0 {
            let count = uploadBytes.pointee
            guard exchange.body.count + count <= Limits.HTTP.bodyBytesMax, let upload else {
                core.log.warn("body over limit", ["limit": Limits.HTTP.bodyBytesMax])
                return MHD_Result.NO
            }
            exchange.body.append(
                UnsafeRawPointer(upload).assumingMemoryBound(to: UInt8.self), count: count)
            uploadBytes.pointee = 0
            return MHD_Result.YES
        }

        // The whole request: answer it.
        let request = HTTPRequest(head: exchange.head, body: exchange.body)
        let response = core.responder.respond(to: request, client: exchange.client)
        return core.queue(response, on: connection)
    }

    /// Called by libmicrohttpd when a request is over, answered or not.
    static let completedHandler: MHD_RequestCompletedCallback = {
        context, connection, perRequest, termination in
        guard let stored = perRequest?.pointee else { return }
        perRequest?.pointee = nil
        let exchange = Unmanaged<Exchange>.fromOpaque(stored).takeRetainedValue()
        exchange.client.disconnect()
        ServerCore.from(context).exchangesInFlight.subtract(1, ordering: .relaxed)
        if termination != .REQUEST_TERMINATED_COMPLETED_OK {
            ServerCore.from(context).log.debug(
                "request ended early",
                ["path": exchange.head.path, "reason": termination.rawValue])
        }
    }

    /// libmicrohttpd's own diagnostics, into our log at `info`: most are
    /// clients misbehaving or leaving, which is theirs to fix, and what
    /// matters to us (a bind that failed) is also thrown.
    static let logHandler: MHD_LogCallback = { context, format, arguments in
        guard let format else { return }
        var text = [CChar](repeating: 0, count: 512)
        guard let arguments else { return }
        _ = vsnprintf(&text, text.count, format, arguments)
        let message = String(
            decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self
        ).trimmingCharacters(in: .whitespacesAndNewlines)
        ServerCore.from(context).log.info("libmicrohttpd", ["message": message])
    }

    /// Gives libmicrohttpd the next bytes of a stream.
    static let streamReader: MHD_ContentReaderCallback = { context, _, buffer, capacity in
        let source = Unmanaged<StreamSource>.fromOpaque(context!).takeUnretainedValue()
        guard let buffer else { return ServerCore.readerBroken }
        let chunk = source.stream.read(into: buffer, capacity: capacity) { source.stop.isSet }
        switch chunk {
        case .bytes(let count): return count
        case .end: return ServerCore.readerEnd
        case .broken: return ServerCore.readerBroken
        }
    }

    /// Lets a stream go once libmicrohttpd is done with it; a stream still
    /// open then lost its client.
    static let streamReleaser: MHD_ContentReaderFreeCallback = { context in
        let source = Unmanaged<StreamSource>.fromOpaque(context!).takeRetainedValue()
        source.stream.breakStream()
    }
}
