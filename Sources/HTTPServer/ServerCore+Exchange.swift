import CMicroHTTPD
import Foundation
import Support

extension ServerCore {
    /// The request line and headers libmicrohttpd parsed.
    func readHead(
        _ connection: OpaquePointer, url: UnsafePointer<CChar>?, method: UnsafePointer<CChar>?,
        version: UnsafePointer<CChar>?
    ) -> HTTPRequestHead {
        var headers = HTTPHeaders()
        withUnsafeMutablePointer(to: &headers) { pointer in
            _ = MHD_get_connection_values(
                connection, .HEADER_KIND, ServerCore.headerCollector, pointer)
        }
        return HTTPRequestHead(
            method: method.map { String(cString: $0) } ?? "",
            path: url.map { String(cString: $0) } ?? "/",
            version: version.map { String(cString: $0) } ?? "", headers: headers,
            serverAddress: address.withLock { $0 })
    }

    /// Adds one header to the `HTTPHeaders` the context points at.
    static let headerCollector: MHD_KeyValueIterator = { context, _, key, value in
        guard let context, let key else { return MHD_Result.YES }
        let headers = context.assumingMemoryBound(to: HTTPHeaders.self)
        headers.pointee.add(String(cString: key), value.map { String(cString: $0) } ?? "")
        return MHD_Result.YES
    }

    /// The server's own checks on a head, then the responder's; nil lets
    /// the request through to its body.
    func screen(_ head: HTTPRequestHead) -> HTTPResponse? {
        // The head as a whole: libmicrohttpd's memory limit is the hard stop,
        // this is the documented one.
        let headBytes = head.method.utf8.count + head.path.utf8.count + head.headers.byteCount
        if headBytes > Limits.HTTP.headerBytesMax {
            return .text(
                431,
                "request head of \(headBytes) bytes is over the limit of"
                    + " \(Limits.HTTP.headerBytesMax)")
        }

        // A body must say its length up front, within the limit, so that an
        // oversized one is refused before a byte of it is read.
        if let refusal = screenBodyLength(head.headers) {
            return refusal
        }
        return responder.screen(head)
    }

    /// 411 for a chunked body, 413 for one over `Limits.HTTP.bodyBytesMax`,
    /// 400 for a length that is not one number.
    private func screenBodyLength(_ headers: HTTPHeaders) -> HTTPResponse? {
        if headers["Transfer-Encoding"] != nil {
            return .text(411, "send the body with a Content-Length, not chunked")
        }
        let lengths = headers.values("Content-Length")
        guard let text = lengths.first else { return nil }
        guard lengths.count == 1, let bytes = Int(text), bytes >= 0 else {
            return .text(
                400,
                "Content-Length '\(lengths.joined(separator: ", "))' is not one"
                    + " byte count")
        }
        if bytes > Limits.HTTP.bodyBytesMax {
            return .text(
                413,
                "body of \(bytes) bytes is over the limit of"
                    + " \(Limits.HTTP.bodyBytesMax)")
        }
        return nil
    }

    /// Hands `response` to libmicrohttpd for `connection`; a response it
    /// cannot make (a header with a forbidden character) becomes a 500.
    func queue(_ response: HTTPResponse, on connection: OpaquePointer) -> MHD_Result {
        if let made = makeResponse(response) {
            defer { MHD_destroy_response(made) }
            return MHD_queue_response(connection, UInt32(response.status), made)
        }
        if case .stream(let stream) = response.body {
            stream.breakStream()
        }
        guard let fallback = makeResponse(.text(500, "the server could not form its response"))
        else { return MHD_Result.NO }
        defer { MHD_destroy_response(fallback) }
        return MHD_queue_response(connection, 500, fallback)
    }

    /// A libmicrohttpd response with `response`'s body and headers, or nil.
    private func makeResponse(_ response: HTTPResponse) -> OpaquePointer? {
        guard let made = makeBody(response.body) else {
            log.error("response not made", ["status": response.status])
            return nil
        }
        var headers = response.headers
        for (name, value) in Self.alwaysHeaders where headers[name] == nil {
            headers.add(name, value)
        }
        for (name, value) in headers
        where MHD_add_response_header(made, name, value) != MHD_Result.YES {
            log.error("header refused", ["name": name, "status": response.status])
            MHD_destroy_response(made)
            return nil
        }
        return made
    }

    /// Headers every response carries unless the responder set them:
    /// nothing cached, nothing sniffed into another content type.
    static let alwaysHeaders = [
        ("Cache-Control", "no-store"),
        ("X-Content-Type-Options", "nosniff"),
    ]

    /// A libmicrohttpd response for `body`: a copy of whole bytes, or a
    /// callback that reads the stream as the socket takes it.
    private func makeBody(_ body: HTTPResponse.Body) -> OpaquePointer? {
        switch body {
        case .bytes(let data):
            return data.withUnsafeBytes { bytes in
                MHD_create_response_from_buffer(
                    bytes.count, UnsafeMutableRawPointer(mutating: bytes.baseAddress),
                    .RESPMEM_MUST_COPY)
            }
        case .stream(let stream):
            let source = StreamSource(stream: stream, stop: stop)
            let context = Unmanaged.passRetained(source).toOpaque()
            let made = MHD_create_response_from_callback(
                ServerCore.sizeUnknown, Self.streamBlockBytes, Self.streamReader, context,
                Self.streamReleaser)
            if made == nil {
                Unmanaged<StreamSource>.fromOpaque(context).release()
            }
            return made
        }
    }
}
