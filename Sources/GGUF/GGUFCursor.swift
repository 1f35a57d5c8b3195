import Support

/// A forward reader over the bytes of a GGUF file that checks every read
/// against the bytes left and every count against its limit.
///
/// Field names are passed as autoclosures: they are built only when an error
/// is thrown, which keeps the 49152-entry vocabulary arrays cheap to read.
struct GGUFCursor {
    /// The whole file.
    let bytes: UnsafeRawBufferPointer
    /// The path or label used in errors.
    let file: String
    /// Where the next read starts, from the start of the file.
    private(set) var offsetBytes = 0
    /// Array elements still allowed in this file's metadata.
    private(set) var arrayValuesLeft = Limits.GGUF.metadataValueCountMax

    init(bytes: UnsafeRawBufferPointer, file: String) {
        self.bytes = bytes
        self.file = file
    }

    /// Bytes between the cursor and the end of the file.
    var bytesLeft: Int { bytes.count - offsetBytes }

    /// An error at `field` with the given evidence.
    func failure(
        _ field: String, value: String, limit: String, reason: String
    ) -> GGUFError {
        GGUFError(file: file, field: field, value: value, limit: limit, reason: reason)
    }

    // MARK: Fixed-width reads

    /// Checks that `count` more bytes exist, naming `field` if not.
    private func require(_ count: Int, _ field: () -> String) throws(GGUFError) {
        guard count <= bytesLeft else {
            throw failure(
                field(), value: "\(count) bytes", limit: "<= \(bytesLeft) bytes left",
                reason: "file ends inside this field")
        }
    }

    mutating func readUInt8(_ field: @autoclosure () -> String) throws(GGUFError) -> UInt8 {
        try require(1, field)
        defer { offsetBytes += 1 }
        return bytes[offsetBytes]
    }

    mutating func readUInt16(_ field: @autoclosure () -> String) throws(GGUFError) -> UInt16 {
        try require(2, field)
        defer { offsetBytes += 2 }
        return UInt16(
            littleEndian: bytes.loadUnaligned(fromByteOffset: offsetBytes, as: UInt16.self))
    }

    mutating func readUInt32(_ field: @autoclosure () -> String) throws(GGUFError) -> UInt32 {
        try require(4, field)
        defer { offsetBytes += 4 }
        return UInt32(
            littleEndian: bytes.loadUnaligned(fromByteOffset: offsetBytes, as: UInt32.self))
    }

    mutating func readUInt64(_ field: @autoclosure () -> String) throws(GGUFError) -> UInt64 {
        try require(8, field)
        defer { offsetBytes += 8 }
        return UInt64(
            littleEndian: bytes.loadUnaligned(fromByteOffset: offsetBytes, as: UInt64.self))
    }

    // MARK: Counts and strings

    /// Reads a uint64 count and checks it against `countMax` and against the
    /// bytes left divided by the fewest bytes one item can take, so that a
    /// forged count can neither reserve memory the file does not back nor
    /// start a loop the file cannot feed.
    mutating func readCount(
        _ field: @autoclosure () -> String, countMax: Int, itemBytesMin: Int
    ) throws(GGUFError) -> Int {
        let raw = try readUInt64(field())
        guard raw <= UInt64(countMax) else {
            throw failure(
                field(), value: "\(raw)", limit: "<= \(countMax)", reason: "count over the limit")
        }
        precondition(itemBytesMin > 0, "GGUFCursor: an item must take at least one byte")
        let fitting = bytesLeft / itemBytesMin
        guard raw <= UInt64(fitting) else {
            throw failure(
                field(), value: "\(raw)",
                limit: "<= \(fitting) items of >= \(itemBytesMin) bytes in \(bytesLeft) bytes left",
                reason: "count runs past the end of the file")
        }
        return Int(raw)
    }

    /// Reads a GGUF string: a uint64 byte length, then that many bytes of UTF-8.
    mutating func readString(_ field: @autoclosure () -> String) throws(GGUFError) -> String {
        let raw = try readUInt64(field() + ".length")
        guard raw <= UInt64(Limits.GGUF.stringBytesMax) else {
            throw failure(
                field() + ".length", value: "\(raw)", limit: "<= \(Limits.GGUF.stringBytesMax)",
                reason: "string longer than the limit")
        }
        guard raw <= UInt64(bytesLeft) else {
            throw failure(
                field() + ".length", value: "\(raw)", limit: "<= \(bytesLeft) bytes left",
                reason: "string runs past the end of the file")
        }

        // Validate in place; the file's bytes are only ever viewed as UInt8.
        let length = Int(raw)
        guard length > 0 else { return "" }
        let start = bytes.baseAddress!.advanced(by: offsetBytes)
        let utf8 = UnsafeBufferPointer(
            start: start.assumingMemoryBound(to: UInt8.self), count: length)
        guard let string = String(validating: utf8, as: UTF8.self) else {
            throw failure(
                field(), value: Self.hex(utf8), limit: "valid UTF-8",
                reason: "string is not valid UTF-8")
        }
        offsetBytes += length
        return string
    }

    /// Bytes shown as evidence for a string that is not valid UTF-8.
    static let evidenceBytesMax = 16

    /// The first bytes of `utf8` in hex: `ff fe 41 ...`.
    static func hex(_ utf8: UnsafeBufferPointer<UInt8>) -> String {
        let digits = Array("0123456789abcdef")
        var shown = utf8.prefix(evidenceBytesMax).map { byte in
            String([digits[Int(byte >> 4)], digits[Int(byte & 0xf)]])
        }
        if utf8.count > evidenceBytesMax { shown.append("...") }
        return "bytes " + shown.joined(separator: " ")
    }

    // MARK: Metadata values

    /// Reads one metadata value of type id `typeID`; `depth` counts the arrays
    /// this value sits in.
    mutating func readValue(
        typeID: UInt32, depth: Int, _ field: @autoclosure () -> String
    ) throws(GGUFError) -> GGUFValue {
        guard let type = GGUFValueType(rawValue: typeID) else {
            throw failure(
                field(), value: "type \(typeID)", limit: "type 0 ... 12",
                reason: "unknown metadata value type")
        }
        switch type {
        case .uint8: return .uint8(try readUInt8(field()))
        case .int8: return .int8(Int8(bitPattern: try readUInt8(field())))
        case .uint16: return .uint16(try readUInt16(field()))
        case .int16: return .int16(Int16(bitPattern: try readUInt16(field())))
        case .uint32: return .uint32(try readUInt32(field()))
        case .int32: return .int32(Int32(bitPattern: try readUInt32(field())))
        case .uint64: return .uint64(try readUInt64(field()))
        case .int64: return .int64(Int64(bitPattern: try readUInt64(field())))
        case .float32: return .float32(Float(bitPattern: try readUInt32(field())))
        case .float64: return .float64(Double(bitPattern: try readUInt64(field())))
        case .bool: return .bool(try readBool(field()))
        case .string: return .string(try readString(field()))
        case .array: return .array(try readArray(depth: depth + 1, field()))
        }
    }

    /// Reads a bool stored as one byte that must be 0 or 1.
    private mutating func readBool(_ field: @autoclosure () -> String) throws(GGUFError) -> Bool {
        let byte = try readUInt8(field())
        guard byte <= 1 else {
            throw failure(field(), value: "\(byte)", limit: "0 or 1", reason: "bool is not 0 or 1")
        }
        return byte == 1
    }

    /// Reads an array body: uint32 element type, uint64 count, the elements.
    private mutating func readArray(
        depth: Int, _ field: @autoclosure () -> String
    ) throws(GGUFError) -> [GGUFValue] {
        guard depth <= Limits.GGUF.arrayDepthMax else {
            throw failure(
                field(), value: "depth \(depth)", limit: "<= \(Limits.GGUF.arrayDepthMax)",
                reason: "arrays nested too deep")
        }
        let elementTypeID = try readUInt32(field() + ".element_type")
        guard let elementType = GGUFValueType(rawValue: elementTypeID) else {
            throw failure(
                field() + ".element_type", value: "\(elementTypeID)", limit: "0 ... 12",
                reason: "unknown metadata value type")
        }
        let count = try readCount(
            field() + ".count", countMax: Limits.GGUF.arrayCountMax,
            itemBytesMin: elementType.minimumBytes)
        guard count <= arrayValuesLeft else {
            throw failure(
                field() + ".count", value: "\(count)",
                limit: "<= \(arrayValuesLeft) of \(Limits.GGUF.metadataValueCountMax) values left",
                reason: "metadata arrays hold too many values")
        }
        arrayValuesLeft -= count

        // The count is backed by bytes in the file, so reserving is safe.
        var elements: [GGUFValue] = []
        elements.reserveCapacity(count)
        if elementType == .string {
            // Vocabularies are string arrays: read them without the type switch.
            for index in 0..<count {
                elements.append(.string(try readString(field() + "[\(index)]")))
            }
            return elements
        }
        for index in 0..<count {
            elements.append(
                try readValue(typeID: elementTypeID, depth: depth, field() + "[\(index)]"))
        }
        return elements
    }

    // MARK: Moving

    /// Moves the cursor to `offset`, which must lie within the file.
    mutating func seek(to offset: Int) {
        precondition(offset >= 0 && offset <= bytes.count, "GGUFCursor: seek out of the file")
        offsetBytes = offset
    }
}
