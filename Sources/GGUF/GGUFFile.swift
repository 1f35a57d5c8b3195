import Support

/// A GGUF model file, read and checked: its metadata, its tensor infos and a
/// view of each tensor's data.
///
/// The file is mapped read-only, not copied; `data(of:)` hands out views into
/// the mapping that stay valid as long as this object lives. Every count,
/// length, dimension, offset and size in the file is checked against the
/// bytes left and against `Limits.GGUF` before it is used, so a malformed
/// file gives a `GGUFError` naming the field, the value and the limit.
/// Immutable after init, hence `Sendable`.
public final class GGUFFile: @unchecked Sendable {
    /// The path or label the file was opened with; errors name it.
    public let name: String
    /// The GGUF version: 2 or 3.
    public let version: UInt32
    /// Alignment of the data section and of every tensor offset, in bytes.
    public let alignment: Int
    /// Every key/value pair of the file.
    public let metadata: [String: GGUFValue]
    /// Tensor infos, in file order.
    public let tensors: [GGUFTensorInfo]
    /// Bytes of the whole file.
    public let fileSizeBytes: Int

    /// Where the data section starts, from the start of the file.
    public let dataOffsetBytes: Int
    /// The file's bytes; released when the last reference goes.
    private let storage: GGUFStorage
    /// Index into `tensors` by name.
    private let tensorIndexByName: [String: Int]

    private static let log = Log("gguf")

    /// Maps and reads the file at `path` (`PROT_READ`, `MAP_PRIVATE`).
    public convenience init(path: String) throws(GGUFError) {
        let clock = ContinuousClock()
        let start = clock.now
        try self.init(storage: try GGUFStorage(mapping: path), name: path)
        let elapsed = (clock.now - start).components
        let parseMs = Double(elapsed.seconds) * 1e3 + Double(elapsed.attoseconds) * 1e-15
        Self.log.info(
            "load",
            [
                "file": path, "version": version, "tensors": tensors.count,
                "keys": metadata.count, "bytes": fileSizeBytes, "parseMs": parseMs,
            ])
    }

    /// Reads a file held in memory, labelled `name` in errors; for tests and
    /// files built in code. The bytes are copied.
    public convenience init(bytes: [UInt8], name: String) throws(GGUFError) {
        try self.init(storage: GGUFStorage(copying: bytes), name: name)
    }

    private init(storage: GGUFStorage, name: String) throws(GGUFError) {
        let layout = try GGUFParser.parse(storage.bytes, file: name)
        self.storage = storage
        self.name = name
        self.version = layout.version
        self.alignment = layout.alignment
        self.metadata = layout.metadata
        self.tensors = layout.tensors
        self.fileSizeBytes = storage.bytes.count
        self.dataOffsetBytes = layout.dataOffsetBytes
        var index: [String: Int] = [:]
        index.reserveCapacity(layout.tensors.count)
        for (position, tensor) in layout.tensors.enumerated() {
            index[tensor.name] = position
        }
        self.tensorIndexByName = index
    }

    /// The tensor called `name`, or nil.
    public func tensor(named name: String) -> GGUFTensorInfo? {
        tensorIndexByName[name].map { tensors[$0] }
    }

    /// The `sizeBytes` bytes of `tensor`'s data, valid as long as this file
    /// object lives. `tensor` must come from this file.
    public func data(of tensor: GGUFTensorInfo) -> UnsafeRawBufferPointer {
        // Infos are checked when read; one from another file could point anywhere.
        precondition(
            self.tensor(named: tensor.name) == tensor,
            "GGUFFile.data(of:): tensor '\(tensor.name)' does not come from '\(name)'")
        return UnsafeRawBufferPointer(
            rebasing: storage.bytes[tensor.offsetBytes..<tensor.offsetBytes + tensor.sizeBytes])
    }

    /// Drops the resident pages wholly inside `bytes` (a range of this file)
    /// once a copy has replaced them; see `GGUFStorage.releasePages(_:)`.
    public func releasePages(_ bytes: UnsafeRawBufferPointer) {
        storage.releasePages(bytes)
    }
}
