import Foundation

/// Why the HTTP server could not start; each case carries the address and
/// what the system said. (Failures inside a request are answered there:
/// libmicrohttpd's callbacks cannot throw.)
public enum HTTPServerError: Error, CustomStringConvertible, Equatable {
    /// An address that is not `IP:PORT`.
    case badAddress(String, reason: String)
    /// The daemon did not start: the port is taken, the address is not
    /// this machine's, or threads could not be made. `errno` as it stood.
    case startFailed(address: String, errno: Int32)

    public var description: String {
        switch self {
        case .badAddress(let text, let reason):
            return "HTTP address '\(text)': \(reason)"
        case .startFailed(let address, let code):
            return "cannot listen on \(address): \(String(cString: strerror(code)))"
                + " (errno \(code)); pick another port or address"
        }
    }
}
