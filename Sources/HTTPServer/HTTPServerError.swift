import Foundation

/// Why the HTTP server could not do what it was asked; each case carries
/// the address or operation and what libmicrohttpd or the system said.
public enum HTTPServerError: Error, CustomStringConvertible, Equatable {
    /// An address that is not `IP:PORT`.
    case badAddress(String, reason: String)
    /// The daemon did not start: the port is taken, the address is not
    /// this machine's, or threads could not be made. `errno` as it stood.
    case startFailed(address: String, errno: Int32)
    /// A libmicrohttpd call answered `MHD_Result.NO`.
    case callFailed(operation: String)

    public var description: String {
        switch self {
        case .badAddress(let text, let reason):
            return "HTTP address '\(text)': \(reason)"
        case .startFailed(let address, let code):
            return "cannot listen on \(address): \(String(cString: strerror(code)))"
                + " (errno \(code)); pick another port or address"
        case .callFailed(let operation):
            return "libmicrohttpd: \(operation) failed"
        }
    }
}
