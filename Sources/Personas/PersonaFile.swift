import Foundation
import Support

/// Reading one persona file: a bounded read, toml++, then the schema.
enum PersonaFile {
    static let log = Log("personas")

    /// Reads the persona file at `path` and checks every key.
    ///
    /// Never throws: what is wrong comes back in the outcome's issues, so a
    /// catalog can list the good files and report the broken ones together.
    /// Relative model paths are resolved against the file's folder.
    static func load(path: String) -> PersonaSchema.Outcome {
        let url = URL(fileURLWithPath: path).absoluteURL
        let stem = url.deletingPathExtension().lastPathComponent
        let folder = url.deletingLastPathComponent()

        // Read at most one byte past the limit: enough to know it is exceeded.
        let bytes: [UInt8]
        switch readBytes(path: path, bytesMax: Limits.Personas.fileBytesMax) {
        case .success(let read): bytes = read
        case .failure(let issue):
            log.info("refuse", ["file": path, "rule": issue.rule.rawValue])
            return PersonaSchema.Outcome(persona: nil, claimedName: stem, issues: [issue])
        }

        // Parse, then hold the tree up against the format.
        let root: TOMLNode
        do {
            root = try TOMLDocument.parse(
                bytes, bytesMax: Limits.Personas.fileBytesMax,
                depthMax: Limits.Personas.nestingDepthMax)
        } catch {
            log.info("refuse", ["file": path, "rule": "tomlMustParse"])
            let issue = Self.issue(for: error, file: path)
            return PersonaSchema.Outcome(persona: nil, claimedName: stem, issues: [issue])
        }
        let outcome = PersonaSchema.read(root: root, file: path, stem: stem, folder: folder)
        log.info(
            "load", ["file": path, "name": outcome.claimedName, "issues": outcome.issues.count])
        return outcome
    }

    /// The whole file, or the issue that stops us reading it: unreadable, or
    /// longer than `bytesMax`.
    ///
    /// POSIX rather than `FileHandle`, for `strerror`'s wording in messages
    /// and a read that stops at the limit whatever the file claims its size is
    /// (`/dev/zero` claims none). `O_NONBLOCK` keeps a FIFO from hanging us.
    static func readBytes(path: String, bytesMax: Int) -> Result<[UInt8], PersonaIssue> {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard descriptor >= 0 else { return .failure(unreadable(path, errno)) }
        defer { close(descriptor) }

        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while bytes.count <= bytesMax {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            if count < 0 { return .failure(unreadable(path, errno)) }
            if count == 0 { break }
            bytes += chunk[0..<count]
        }
        guard bytes.count <= bytesMax else {
            return .failure(tooLarge(path, descriptor: descriptor, bytesMax: bytesMax))
        }
        return .success(bytes)
    }

    private static func unreadable(_ path: String, _ code: Int32) -> PersonaIssue {
        PersonaIssue(
            file: path, rule: .fileMustBeReadable,
            message: "cannot read the file: " + String(cString: strerror(code)))
    }

    /// The size `fstat` reports when it reports one, else "more than" the limit.
    private static func tooLarge(_ path: String, descriptor: Int32, bytesMax: Int) -> PersonaIssue {
        var status = stat()
        let size =
            fstat(descriptor, &status) == 0 && status.st_size > bytesMax
            ? "\(status.st_size) bytes" : "more than \(bytesMax) bytes"
        return PersonaIssue(
            file: path, rule: .fileMustFitLimit,
            message: "the file is \(size); persona files are at most \(bytesMax) bytes")
    }

    /// The one issue a failed parse gives.
    static func issue(for failure: TOMLFailure, file: String) -> PersonaIssue {
        switch failure {
        case .syntax(let message, let line, let column):
            return PersonaIssue(
                file: file, line: line > 0 ? line : nil, column: column > 0 ? column : nil,
                rule: .tomlMustParse, message: message)
        case .tooLarge(let bytes, let bytesMax):
            return PersonaIssue(
                file: file, rule: .fileMustFitLimit,
                message: "the file is \(bytes) bytes; persona files are at most \(bytesMax) bytes")
        case .tooDeep(let key, let line, let column, let depthMax):
            return PersonaIssue(
                file: file, line: line, column: column, key: key, rule: .nestingMustFitLimit,
                message: "tables and arrays nest more than \(depthMax) deep here, "
                    + "the root table included")
        case .resources(let message):
            return PersonaIssue(file: file, rule: .tomlMustParse, message: message)
        }
    }
}
