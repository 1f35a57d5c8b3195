import GGUF

/// Builds GGUF files in memory for tests, byte by byte after the GGUF
/// specification (ggml `docs/gguf.md`), with hooks to break any field.
///
/// Self-contained on purpose: another test target that depends on `GGUF` can
/// copy or symlink this one file to build tiny models.
///
/// ```swift
/// var builder = GGUFBuilder()
/// builder.add("general.architecture", .string("llama"))
/// builder.addTensor("w", dimensions: [32, 2], type: .q8_0)
/// let file = try GGUFFile(bytes: builder.build(), name: "tiny")
/// ```
struct GGUFBuilder {
    /// One key/value pair as it will be written.
    enum Entry {
        /// A well-formed pair.
        case value(key: String, GGUFValue)
        /// Any key bytes, value type id and value bytes, for malformed files.
        case raw(key: [UInt8], typeID: UInt32, payload: [UInt8])
    }

    /// One tensor info and its data.
    struct Tensor {
        var name: [UInt8]
        /// ne0 first.
        var dimensions: [UInt64]
        var typeID: UInt32
        /// Written at `offset` when the builder places the tensor itself.
        var data: [UInt8]
        /// Stored offset (relative to the data section); nil lets the builder
        /// place the tensor after the previous one, aligned. A tensor with an
        /// explicit offset has no data written for it.
        var offset: UInt64?
    }

    /// The first four bytes.
    var magic: [UInt8] = Array("GGUF".utf8)
    var version: UInt32 = 3
    /// Overrides for the header counts; nil writes the true counts.
    var tensorCountOverride: UInt64?
    var metadataCountOverride: UInt64?
    /// Alignment used to lay out the file. It is written to the file only by
    /// `setAlignment`; changing it alone makes a file that disagrees with itself.
    var alignment = 32
    var entries: [Entry] = []
    var tensors: [Tensor] = []

    /// Adds a well-formed key/value pair.
    mutating func add(_ key: String, _ value: GGUFValue) {
        entries.append(.value(key: key, value))
    }

    /// Adds a pair written exactly as given.
    mutating func addRaw(key: [UInt8], typeID: UInt32, payload: [UInt8]) {
        entries.append(.raw(key: key, typeID: typeID, payload: payload))
    }

    /// Writes `general.alignment` as a uint32 and lays the file out with it.
    mutating func setAlignment(_ bytes: Int) {
        alignment = bytes
        add("general.alignment", .uint32(UInt32(bytes)))
    }

    /// Adds a tensor; without `data` it gets a deterministic byte pattern of
    /// the right size.
    mutating func addTensor(
        _ name: String, dimensions: [Int], type: GGMLType, data: [UInt8]? = nil,
        offset: UInt64? = nil
    ) {
        let elementCount = dimensions.reduce(1, *)
        let sizeBytes = elementCount / type.blockElements * type.blockBytes
        let bytes = data ?? (0..<sizeBytes).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        tensors.append(
            Tensor(
                name: Array(name.utf8), dimensions: dimensions.map { UInt64($0) },
                typeID: type.rawValue, data: bytes, offset: offset))
    }

    /// Adds an F32 tensor holding `values` (ne0 first), for tiny test models.
    mutating func addTensor(_ name: String, dimensions: [Int], floats values: [Float]) {
        precondition(
            values.count == dimensions.reduce(1, *),
            "GGUFBuilder: \(name) needs one value per element")
        var bytes: [UInt8] = []
        bytes.reserveCapacity(values.count * 4)
        for value in values {
            Self.appendUInt32(value.bitPattern, to: &bytes)
        }
        addTensor(name, dimensions: dimensions, type: .f32, data: bytes)
    }

    /// Adds a tensor written exactly as given, with no data.
    mutating func addRawTensor(name: String, dimensions: [UInt64], typeID: UInt32, offset: UInt64) {
        tensors.append(
            Tensor(
                name: Array(name.utf8), dimensions: dimensions, typeID: typeID, data: [],
                offset: offset))
    }

    // MARK: Building

    /// The file's bytes. The last tensor's data ends the file (no padding after
    /// it), so that cutting any byte off a built file breaks it.
    func build() -> [UInt8] {
        var out: [UInt8] = magic
        Self.appendUInt32(version, to: &out)
        Self.appendUInt64(tensorCountOverride ?? UInt64(tensors.count), to: &out)
        Self.appendUInt64(metadataCountOverride ?? UInt64(entries.count), to: &out)
        for entry in entries {
            Self.append(entry, to: &out)
        }

        // Tensor infos, placing each tensor whose offset is not given.
        var data: [UInt8] = []
        for tensor in tensors {
            let offset = tensor.offset ?? UInt64(Self.placeData(tensor.data, in: &data, alignment))
            Self.appendString(tensor.name, to: &out)
            Self.appendUInt32(UInt32(tensor.dimensions.count), to: &out)
            for extent in tensor.dimensions {
                Self.appendUInt64(extent, to: &out)
            }
            Self.appendUInt32(tensor.typeID, to: &out)
            Self.appendUInt64(offset, to: &out)
        }

        // Padding to the alignment, then the data section.
        if !data.isEmpty {
            out += [UInt8](repeating: 0, count: Self.padding(out.count, alignment))
            out += data
        }
        return out
    }

    /// Appends `bytes` to `data` at the next aligned offset; returns that offset.
    private static func placeData(_ bytes: [UInt8], in data: inout [UInt8], _ alignment: Int) -> Int
    {
        data += [UInt8](repeating: 0, count: padding(data.count, alignment))
        let offset = data.count
        data += bytes
        return offset
    }

    /// Bytes of padding that bring `count` to a multiple of `alignment`.
    static func padding(_ count: Int, _ alignment: Int) -> Int {
        precondition(alignment > 0, "GGUFBuilder: layout alignment must be positive")
        return (alignment - count % alignment) % alignment
    }

    // MARK: Encoding

    private static func append(_ entry: Entry, to out: inout [UInt8]) {
        switch entry {
        case .value(let key, let value):
            appendString(Array(key.utf8), to: &out)
            appendUInt32(typeID(of: value), to: &out)
            appendValue(value, to: &out)
        case .raw(let key, let typeID, let payload):
            appendString(key, to: &out)
            appendUInt32(typeID, to: &out)
            out += payload
        }
    }

    /// The GGUF value type id of `value`.
    static func typeID(of value: GGUFValue) -> UInt32 {
        switch value {
        case .uint8: return 0
        case .int8: return 1
        case .uint16: return 2
        case .int16: return 3
        case .uint32: return 4
        case .int32: return 5
        case .float32: return 6
        case .bool: return 7
        case .string: return 8
        case .array: return 9
        case .uint64: return 10
        case .int64: return 11
        case .float64: return 12
        }
    }

    /// Appends `value` without its type id. An array's element type is that
    /// of its first element (uint8 when empty); all elements must share it.
    static func appendValue(_ value: GGUFValue, to out: inout [UInt8]) {
        switch value {
        case .uint8(let v): out.append(v)
        case .int8(let v): out.append(UInt8(bitPattern: v))
        case .uint16(let v): appendLittleEndian(v, to: &out)
        case .int16(let v): appendLittleEndian(v, to: &out)
        case .uint32(let v): appendLittleEndian(v, to: &out)
        case .int32(let v): appendLittleEndian(v, to: &out)
        case .uint64(let v): appendLittleEndian(v, to: &out)
        case .int64(let v): appendLittleEndian(v, to: &out)
        case .float32(let v): appendLittleEndian(v.bitPattern, to: &out)
        case .float64(let v): appendLittleEndian(v.bitPattern, to: &out)
        case .bool(let v): out.append(v ? 1 : 0)
        case .string(let v): appendString(Array(v.utf8), to: &out)
        case .array(let elements):
            let elementType = elements.first.map(typeID(of:)) ?? 0
            precondition(
                elements.allSatisfy { typeID(of: $0) == elementType },
                "GGUFBuilder: array elements must share one type")
            appendUInt32(elementType, to: &out)
            appendUInt64(UInt64(elements.count), to: &out)
            for element in elements {
                appendValue(element, to: &out)
            }
        }
    }

    static func appendUInt32(_ value: UInt32, to out: inout [UInt8]) {
        appendLittleEndian(value, to: &out)
    }

    static func appendUInt64(_ value: UInt64, to out: inout [UInt8]) {
        appendLittleEndian(value, to: &out)
    }

    /// A GGUF string: uint64 byte count, then the bytes as given.
    static func appendString(_ bytes: [UInt8], to out: inout [UInt8]) {
        appendUInt64(UInt64(bytes.count), to: &out)
        out += bytes
    }

    private static func appendLittleEndian<T: FixedWidthInteger>(_ value: T, to out: inout [UInt8])
    {
        withUnsafeBytes(of: value.littleEndian) { out += $0 }
    }
}
