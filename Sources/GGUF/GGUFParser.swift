import Support

/// What reading the header, metadata and tensor infos of a GGUF file yields.
struct GGUFLayout {
    var version: UInt32
    var alignment: Int
    var metadata: [String: GGUFValue]
    /// File order.
    var tensors: [GGUFTensorInfo]
    /// Where the data section starts, from the start of the file.
    var dataOffsetBytes: Int
}

/// Reads and checks the structure of a GGUF v2 or v3 file (little-endian).
///
/// Layout, after the GGUF specification in the ggml repository
/// (`docs/gguf.md`): magic "GGUF", uint32 version, uint64 n_tensors,
/// uint64 n_kv, n_kv key/value pairs, n_tensors tensor infos, padding to
/// `general.alignment`, then the data section that tensor offsets point into.
/// Versions 2 and 3 share this layout; version 1 used 32-bit counts.
enum GGUFParser {
    /// "GGUF" as stored.
    static let magic: [UInt8] = [0x47, 0x47, 0x55, 0x46]
    /// The versions this reader understands.
    static let versions: ClosedRange<UInt32> = 2...3
    /// Alignment of the data section when `general.alignment` is absent.
    static let alignmentDefault = 32
    /// The metadata key that sets the alignment.
    static let alignmentKey = "general.alignment"
    /// Fewest bytes of one key/value pair: key length, value type, a 1-byte value.
    static let metadataPairBytesMin = 8 + 4 + 1
    /// Fewest bytes of one tensor info: name length, n_dims, one dim, type, offset.
    static let tensorInfoBytesMin = 8 + 4 + 8 + 4 + 8

    /// Reads the structure of `bytes`, naming `file` in errors.
    static func parse(
        _ bytes: UnsafeRawBufferPointer, file: String
    ) throws(GGUFError) -> GGUFLayout {
        var cursor = GGUFCursor(bytes: bytes, file: file)

        // Header, then the key/value pairs that may set the alignment.
        let (version, tensorCount, metadataCount) = try readHeader(&cursor)
        let metadata = try readMetadata(&cursor, count: metadataCount)
        let alignment = try readAlignment(metadata, cursor)

        // Tensor infos; the data section starts at the next aligned offset.
        let infos = try readTensorInfos(&cursor, count: tensorCount)
        let (padded, overflow) = cursor.offsetBytes.addingReportingOverflow(alignment - 1)
        precondition(!overflow, "GGUFParser: an in-file offset plus the alignment overflowed")
        let dataOffsetBytes = padded / alignment * alignment

        // Every tensor inside the data section, aligned, and none overlapping.
        let tensors = try place(infos, dataOffsetBytes, alignment, cursor)
        try checkOverlaps(tensors, cursor)
        return GGUFLayout(
            version: version, alignment: alignment, metadata: metadata, tensors: tensors,
            dataOffsetBytes: dataOffsetBytes)
    }

    // MARK: Header and metadata

    /// Reads magic, version and the two counts.
    private static func readHeader(
        _ cursor: inout GGUFCursor
    ) throws(GGUFError) -> (version: UInt32, tensorCount: Int, metadataCount: Int) {
        let found = (0..<min(magic.count, cursor.bytesLeft)).map { cursor.bytes[$0] }
        guard found == magic else {
            throw cursor.failure(
                "header.magic",
                value: found.isEmpty
                    ? "no bytes" : found.map { hexByte($0) }.joined(separator: " "),
                limit: "47 47 55 46 (\"GGUF\")", reason: "not a GGUF file")
        }
        cursor.seek(to: magic.count)

        let version = try cursor.readUInt32("header.version")
        guard !versions.contains(version.byteSwapped) else {
            throw cursor.failure(
                "header.version", value: "\(version) (\(version.byteSwapped) byte-swapped)",
                limit: "little-endian", reason: "big-endian GGUF files are not supported")
        }
        guard versions.contains(version) else {
            throw cursor.failure(
                "header.version", value: "\(version)", limit: "2 or 3",
                reason: "unsupported GGUF version")
        }

        // Both counts are bounded by the bytes after the header.
        let headerEndBytes = cursor.offsetBytes + 16
        let tensorCount = try cursor.readCount(
            "header.n_tensors", countMax: Limits.GGUF.tensorCountMax,
            itemBytesMin: tensorInfoBytesMin)
        let metadataCount = try cursor.readCount(
            "header.n_kv", countMax: Limits.GGUF.metadataCountMax,
            itemBytesMin: metadataPairBytesMin)
        precondition(cursor.offsetBytes == headerEndBytes, "GGUFParser: header is 24 bytes")
        return (version, tensorCount, metadataCount)
    }

    /// Reads `count` key/value pairs; keys must be non-empty and unique.
    private static func readMetadata(
        _ cursor: inout GGUFCursor, count: Int
    ) throws(GGUFError) -> [String: GGUFValue] {
        var metadata: [String: GGUFValue] = [:]
        metadata.reserveCapacity(count)
        for index in 0..<count {
            let key = try cursor.readString("metadata[\(index)].key")
            guard !key.isEmpty else {
                throw cursor.failure(
                    "metadata[\(index)].key", value: "\"\"",
                    limit: "1 ... \(Limits.GGUF.stringBytesMax) bytes", reason: "empty key")
            }
            guard metadata[key] == nil else {
                throw cursor.failure(
                    "metadata[\(index)].key", value: "'\(key)'", limit: "unique keys",
                    reason: "duplicate metadata key")
            }
            let typeID = try cursor.readUInt32("metadata '\(key)'.type")
            metadata[key] = try cursor.readValue(
                typeID: typeID, depth: 0, "metadata '\(key)'.value")
        }
        return metadata
    }

    /// The data alignment: `general.alignment` (a uint32 that is a power of
    /// two up to `Limits.GGUF.alignmentMax`) or 32 when absent.
    private static func readAlignment(
        _ metadata: [String: GGUFValue], _ cursor: GGUFCursor
    ) throws(GGUFError) -> Int {
        guard let value = metadata[alignmentKey] else { return alignmentDefault }
        let field = "metadata '\(alignmentKey)'.value"
        guard case .uint32(let raw) = value else {
            throw cursor.failure(
                field, value: value.evidence, limit: "uint32",
                reason: "alignment has the wrong type")
        }
        let alignment = Int(raw)
        guard alignment > 0, alignment & (alignment - 1) == 0,
            alignment <= Limits.GGUF.alignmentMax
        else {
            throw cursor.failure(
                field, value: "\(raw)",
                limit: "a power of two in 1 ... \(Limits.GGUF.alignmentMax)",
                reason: "alignment must be a non-zero power of two")
        }
        return alignment
    }

    /// "4f" for 0x4f.
    static func hexByte(_ byte: UInt8) -> String {
        let digits = Array("0123456789abcdef")
        return String([digits[Int(byte >> 4)], digits[Int(byte & 0xf)]])
    }
}
