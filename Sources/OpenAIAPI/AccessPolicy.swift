import Foundation
import HTTPServer

/// Who may use the API, decided from a request's head alone.
///
/// Three checks, in order, each answering in the OpenAI error shape:
/// 1. **Host** (403): the name the client used must be the bound address.
///    A web page that rebinds its own DNS name to 127.0.0.1 still sends its
///    own name, so it is turned away. Only IP literals and `localhost` are
///    taken; on a wildcard address (`0.0.0.0`, `::`) any IP literal is.
/// 2. **Origin** (403): a browser names the page that made a request; one
///    from any other origin than the API's own is refused, as is one that
///    `Sec-Fetch-Site` marks cross-site. Nothing grants CORS.
/// 3. **Token** (401): `Authorization: Bearer <token>`, compared in constant
///    time. `/health` alone is open, and tells nothing but that we are up.
public struct AccessPolicy: Sendable {
    public let token: APIToken

    /// Paths answered without a token.
    static let openPaths: Set<String> = ["/health"]

    public init(token: APIToken) {
        self.token = token
    }

    /// The refusal for `head`, or nil to let it through.
    public func check(_ head: HTTPRequestHead) -> OpenAIError? {
        let bound = head.serverAddress
        let hosts = head.headers.values("Host")
        guard hosts.count == 1, isAllowed(host: hosts[0], bound: bound) else {
            return .forbidden(
                code: "host_not_allowed",
                message: "Host '\(hosts.joined(separator: ", "))' is not this server's"
                    + " address \(bound); use http://\(bound)")
        }
        if let refusal = checkOrigin(head.headers, host: hosts[0]) {
            return refusal
        }
        if Self.openPaths.contains(head.path) {
            return nil
        }
        return checkToken(head.headers)
    }

    /// Whether `host` (a Host header) names the bound address.
    func isAllowed(host: String, bound: HTTPAddress) -> Bool {
        // A wildcard is where one listens, never where one connects; browsers
        // that reach 0.0.0.0 anyway must not get in by it.
        guard let named = try? HTTPAddress(parsing: host.lowercased()), named.port == bound.port,
            !named.isWildcard
        else { return false }
        if named.host == bound.host || bound.isWildcard {
            return true
        }
        // `localhost` reads as 127.0.0.1; a bind to ::1 answers to it too.
        return bound.isLoopback && host.lowercased().hasPrefix("localhost:")
    }

    /// 403 for a browser request from another origin.
    private func checkOrigin(_ headers: HTTPHeaders, host: String) -> OpenAIError? {
        let site = headers["Sec-Fetch-Site"]?.lowercased()
        if site == "cross-site" || site == "same-site" {
            return .forbidden(
                code: "cross_origin_request",
                message: "requests from other web sites are refused (Sec-Fetch-Site: \(site!))")
        }
        let origins = headers.values("Origin")
        guard !origins.isEmpty else { return nil }
        guard origins.count == 1, origins[0].lowercased() == "http://\(host.lowercased())" else {
            return .forbidden(
                code: "cross_origin_request",
                message: "requests from origin '\(origins.joined(separator: ", "))' are refused;"
                    + " only http://\(host) may call this API from a browser")
        }
        return nil
    }

    /// 401 unless the request carries the token.
    private func checkToken(_ headers: HTTPHeaders) -> OpenAIError? {
        let values = headers.values("Authorization")
        guard !values.isEmpty else {
            return .unauthorized(
                message: "missing bearer token: send 'Authorization: Bearer TOKEN'"
                    + " (see `asth serve --print-token`)")
        }
        let prefix = "bearer "
        guard values.count == 1, values[0].count > prefix.count,
            values[0].prefix(prefix.count).lowercased() == prefix,
            token.matches(String(values[0].dropFirst(prefix.count)))
        else {
            return .unauthorized(
                message: "incorrect bearer token (see `asth serve --print-token`)")
        }
        return nil
    }
}

extension HTTPAddress {
    /// True for `0.0.0.0` and `::`: every address of this machine.
    var isWildcard: Bool {
        switch host {
        case .ipv4(let bytes): return bytes.allSatisfy { $0 == 0 }
        case .ipv6(let bytes): return bytes.allSatisfy { $0 == 0 }
        }
    }
}
