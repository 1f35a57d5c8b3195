import Foundation
import HTTPServer
import OpenAIAPI

/// A response as curl saw it.
struct CurlResponse {
    var status: Int
    /// Names lowercased; the last response's headers (after any 100).
    var headers: [String: String]
    var body: Data

    var text: String { String(decoding: body, as: UTF8.self) }

    /// The body as a JSON object.
    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:]
    }

    /// `error.code`, `error.param`, ... of an OpenAI error body.
    func error(_ field: String) -> String? {
        (json["error"] as? [String: Any])?[field] as? String
    }
}

/// Runs the system's `curl` against the test server, so that requests are
/// what a real client puts on the wire.
enum Curl {
    /// `curl ARGS URL`, the body from `stdin` when given; waits for the end.
    static func run(_ arguments: [String], stdin: Data? = nil) throws -> CurlResponse {
        let folder = FileManager.default.temporaryDirectory
            .appendingPathComponent("asth-curl-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let headersFile = folder.appendingPathComponent("headers").path
        let bodyFile = folder.appendingPathComponent("body").path

        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments =
            ["curl", "-sS", "--max-time", "60", "-D", headersFile, "-o", bodyFile] + arguments
        let input = Pipe()
        process.standardInput = input
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        if let stdin {
            input.fileHandleForWriting.write(stdin)
        }
        try input.fileHandleForWriting.close()
        process.waitUntilExit()

        let head = (try? String(contentsOfFile: headersFile, encoding: .utf8)) ?? ""
        let body = FileManager.default.contents(atPath: bodyFile) ?? Data()
        guard process.terminationStatus == 0 || !head.isEmpty else {
            let message = String(
                decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            throw CurlFailure(description: "curl exited \(process.terminationStatus): \(message)")
        }
        return parse(head: head, body: body)
    }

    /// The status and headers of the last response block in a `-D` dump.
    private static func parse(head: String, body: Data) -> CurlResponse {
        let blocks = head.components(separatedBy: "\r\n\r\n").filter { !$0.isEmpty }
        var lines = (blocks.last ?? "").components(separatedBy: "\r\n")
        let statusLine = lines.isEmpty ? "" : lines.removeFirst()
        let parts = statusLine.split(separator: " ")
        var headers: [String: String] = [:]
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] =
                line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return CurlResponse(
            status: parts.count > 1 ? Int(parts[1]) ?? 0 : 0, headers: headers, body: body)
    }
}

struct CurlFailure: Error, CustomStringConvertible {
    let description: String
}

/// An API server over a `FakeHost` on a free loopback port.
final class TestServer: Sendable {
    static let token = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

    let host = FakeHost()
    let server: OpenAIServer

    init(metrics: @escaping @Sendable () -> String = { "" }) throws {
        server = try OpenAIServer(
            service: host, address: .loopback(port: 0), token: APIToken(value: Self.token),
            metrics: metrics)
    }

    deinit {
        server.stop()
    }

    var base: String { "http://\(server.address)" }

    /// curl options for an authorised JSON POST of `body` to `path`.
    func post(_ path: String, _ body: String, extra: [String] = []) throws -> CurlResponse {
        try Curl.run(
            [
                "-X", "POST", "-H", "Authorization: Bearer \(Self.token)",
                "-H", "Content-Type: application/json", "--data-binary", "@-",
            ] + extra + [base + path], stdin: Data(body.utf8))
    }

    /// An authorised GET of `path`.
    func get(_ path: String, extra: [String] = []) throws -> CurlResponse {
        try Curl.run(["-H", "Authorization: Bearer \(Self.token)"] + extra + [base + path])
    }
}

/// The JSON objects of a server-sent event stream, and whether it ended
/// with `[DONE]`.
func events(_ text: String) -> (objects: [[String: Any]], done: Bool) {
    var objects: [[String: Any]] = []
    var done = false
    for line in text.components(separatedBy: "\n") where line.hasPrefix("data: ") {
        let payload = String(line.dropFirst(6))
        if payload == "[DONE]" {
            done = true
        } else if let object = try? JSONSerialization.jsonObject(with: Data(payload.utf8))
            as? [String: Any]
        {
            objects.append(object)
        }
    }
    return (objects, done)
}
