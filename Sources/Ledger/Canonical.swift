/// Builds the canonical bytes of a ledger row: the exact input to its hash
/// or signature.
///
/// Layout: every integer is 8 bytes big-endian; every string is a 4-byte
/// big-endian length then its UTF-8 bytes; every byte string likewise; an
/// optional is one byte (0 absent, 1 present) then the value. Each record
/// starts with a domain tag such as `asth.transfer.v1`, so bytes signed as
/// one kind of row can never be replayed as another. Length prefixes rather
/// than separators: no value can be crafted to shift a field boundary.
struct CanonicalBytes {
    /// The bytes written so far.
    private(set) var bytes: [UInt8] = []

    /// Starts a record with its domain tag.
    init(tag: String) {
        append(tag)
    }

    mutating func append(_ value: Int64) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func append(_ value: String) {
        append(bytes: Array(value.utf8))
    }

    mutating func append(bytes value: [UInt8]) {
        withUnsafeBytes(of: UInt32(value.count).bigEndian) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: value)
    }

    mutating func append(_ value: Int64?) {
        bytes.append(value == nil ? 0 : 1)
        if let value { append(value) }
    }

    mutating func append(_ value: String?) {
        bytes.append(value == nil ? 0 : 1)
        if let value { append(value) }
    }

    mutating func append(bytes value: [UInt8]?) {
        bytes.append(value == nil ? 0 : 1)
        if let value { append(bytes: value) }
    }
}
