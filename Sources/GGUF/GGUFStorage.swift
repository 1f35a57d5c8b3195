#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// The bytes of a GGUF file: a read-only private mapping of the file, or a
/// copy owned by us (for files built in memory). Released in `deinit`.
///
/// A mapping reflects the file as it is on disk: if another process shrinks
/// the file while it is mapped, reading the lost pages raises SIGBUS. Model
/// files are written once and then only read, so we accept that rather than
/// copy 100 MB+ of weights into memory.
final class GGUFStorage: @unchecked Sendable {
    /// How the bytes were obtained, and so how they are released.
    private enum Origin {
        /// `mmap(PROT_READ, MAP_PRIVATE)`; released with `munmap`.
        case mapped
        /// `allocate`; released with `deallocate`.
        case owned
    }

    /// The file's bytes; never written after init.
    let bytes: UnsafeRawBufferPointer
    /// The start of the mapping or allocation, which `bytes` may not keep
    /// when it is empty.
    private let base: UnsafeMutableRawPointer
    private let origin: Origin

    /// Alignment of an owned copy: a page, like a mapping, so that tensor
    /// data is as aligned in memory as it is in the file.
    private static let ownedAlignmentBytes = 4096

    private init(base: UnsafeMutableRawPointer, count: Int, origin: Origin) {
        self.base = base
        self.bytes = UnsafeRawBufferPointer(start: base, count: count)
        self.origin = origin
    }

    /// Copies `source` into memory this storage owns.
    convenience init(copying source: [UInt8]) {
        // Allocate at least one byte so that the buffer always has an address.
        let memory = UnsafeMutableRawPointer.allocate(
            byteCount: max(source.count, 1), alignment: Self.ownedAlignmentBytes)
        memory.initializeMemory(as: UInt8.self, repeating: 0, count: max(source.count, 1))
        source.withUnsafeBytes { source in
            if let start = source.baseAddress {
                memory.copyMemory(from: start, byteCount: source.count)
            }
        }
        self.init(base: memory, count: source.count, origin: .owned)
    }

    /// Maps the file at `path` read-only. An empty file is held as an owned
    /// empty buffer, since `mmap` refuses a length of zero.
    convenience init(mapping path: String) throws(GGUFError) {
        let descriptor = try Self.openReadOnly(path)
        defer { _ = close(descriptor) }

        // The size comes from the open descriptor, so it matches what we map.
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            throw Self.systemError(path, field: "file", reason: "cannot stat the file")
        }
        guard (status.st_mode & S_IFMT) == S_IFREG else {
            throw GGUFError(
                file: path, field: "file", value: Self.kind(of: status.st_mode),
                limit: "a regular file", reason: "not a regular file")
        }
        let sizeBytes = Int(status.st_size)
        guard sizeBytes > 0 else {
            self.init(copying: [])
            return
        }

        guard let base = mmap(nil, sizeBytes, PROT_READ, MAP_PRIVATE, descriptor, 0),
            base != MAP_FAILED
        else {
            throw Self.systemError(path, field: "file", reason: "cannot map the file")
        }
        self.init(base: base, count: sizeBytes, origin: .mapped)
    }

    deinit {
        switch origin {
        case .mapped:
            let result = munmap(base, bytes.count)
            precondition(result == 0, "GGUFStorage: munmap of our own mapping failed")
        case .owned:
            base.deallocate()
        }
    }

    /// Drops the resident pages of the mapping wholly inside `range` (a
    /// range of `bytes`), so that memory holds one copy of weights a loader
    /// has repacked. The mapping is read-only and private, so its pages
    /// always equal the file: a later read pages them back in from it. A
    /// page the range only partly covers stays. An owned copy, or a range
    /// outside the mapping, is left alone.
    func releasePages(_ range: UnsafeRawBufferPointer) {
        guard origin == .mapped, let start = range.baseAddress, range.count > 0 else { return }
        let mappingStart = UInt(bitPattern: base)
        let lower = UInt(bitPattern: start)
        let upper = lower + UInt(range.count)
        guard lower >= mappingStart, upper <= mappingStart + UInt(bytes.count) else { return }

        // Inward to whole pages; the mapping itself starts on one.
        let page = UInt(sysconf(Int32(_SC_PAGESIZE)))
        let first = (lower + page - 1) / page * page
        let end = upper / page * page
        guard first < end, let pages = UnsafeMutableRawPointer(bitPattern: first) else { return }
        let result = madvise(pages, Int(end - first), Int32(MADV_DONTNEED))
        precondition(result == 0, "GGUFStorage: madvise of our own mapping failed")
    }

    /// `open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)`, retried on EINTR.
    ///
    /// O_NONBLOCK keeps a FIFO from blocking the open until a writer comes;
    /// it is then refused as not a regular file. It changes nothing for
    /// regular files, which are all we map.
    private static func openReadOnly(_ path: String) throws(GGUFError) -> Int32 {
        while true {
            let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
            if descriptor >= 0 { return descriptor }
            if errno != EINTR {
                throw systemError(path, field: "file", reason: "cannot open the file")
            }
        }
    }

    /// What a file that is not a regular file is, for an error message.
    private static func kind(of mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFDIR: return "a directory"
        case S_IFIFO: return "a FIFO"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFSOCK: return "a socket"
        default: return "file type \(String(mode & S_IFMT, radix: 8))"
        }
    }

    /// An error carrying the current `errno` as its value.
    private static func systemError(_ path: String, field: String, reason: String) -> GGUFError {
        let code = errno
        let message = String(cString: strerror(code))
        return GGUFError(
            file: path, field: field, value: "errno \(code) (\(message))",
            limit: "a readable GGUF file", reason: reason)
    }
}
