import Support

/// A tensor info as stored, before its offset is placed in the file.
struct GGUFStoredTensor {
    var name: String
    var dimensions: [Int]
    var type: GGMLType
    var elementCount: Int
    var sizeBytes: Int
    /// Relative to the start of the data section.
    var storedOffsetBytes: UInt64
}

extension GGUFParser {
    /// Reads `count` tensor infos; names must be non-empty and unique.
    static func readTensorInfos(
        _ cursor: inout GGUFCursor, count: Int
    ) throws(GGUFError) -> [GGUFStoredTensor] {
        var tensors: [GGUFStoredTensor] = []
        tensors.reserveCapacity(count)
        var names = Set<String>(minimumCapacity: count)
        for index in 0..<count {
            let name = try cursor.readString("tensor[\(index)].name")
            guard !name.isEmpty else {
                throw cursor.failure(
                    "tensor[\(index)].name", value: "\"\"",
                    limit: "1 ... \(Limits.GGUF.stringBytesMax) bytes", reason: "empty tensor name")
            }
            guard names.insert(name).inserted else {
                throw cursor.failure(
                    "tensor[\(index)].name", value: "'\(name)'", limit: "unique names",
                    reason: "duplicate tensor name")
            }
            tensors.append(try readTensorInfo(&cursor, name: name))
        }
        return tensors
    }

    /// Reads the fields after a tensor's name: dims, type and stored offset,
    /// and works out its element count and size with overflow checks.
    private static func readTensorInfo(
        _ cursor: inout GGUFCursor, name: String
    ) throws(GGUFError) -> GGUFStoredTensor {
        let field = "tensor '\(name)'"
        let dimensionCount = try cursor.readUInt32(field + ".n_dims")
        guard dimensionCount >= 1, dimensionCount <= Limits.GGUF.dimensionCountMax else {
            throw cursor.failure(
                field + ".n_dims", value: "\(dimensionCount)",
                limit: "1 ... \(Limits.GGUF.dimensionCountMax)", reason: "bad dimension count")
        }
        let dimensions = try readDimensions(&cursor, count: Int(dimensionCount), field: field)

        // The type must be one we can read, and rows must hold whole blocks.
        let typeID = try cursor.readUInt32(field + ".type")
        guard let type = GGMLType(rawValue: typeID) else {
            throw cursor.failure(
                field + ".type", value: "\(typeID)",
                limit: GGMLType.allCases.map { "\($0.rawValue) \($0.name)" }.joined(
                    separator: ", "),
                reason: "unsupported tensor type")
        }
        guard dimensions[0] % type.blockElements == 0 else {
            throw cursor.failure(
                field + ".dims[0]", value: "\(dimensions[0])",
                limit: "a multiple of \(type.blockElements) for \(type.name)",
                reason: "rows do not hold whole blocks")
        }

        let (elementCount, sizeBytes) = try measure(dimensions, type, field: field, cursor)
        let storedOffset = try cursor.readUInt64(field + ".offset")
        return GGUFStoredTensor(
            name: name, dimensions: dimensions, type: type, elementCount: elementCount,
            sizeBytes: sizeBytes, storedOffsetBytes: storedOffset)
    }

    /// Reads `count` uint64 extents; each must be in 1 ... Int.max.
    private static func readDimensions(
        _ cursor: inout GGUFCursor, count: Int, field: String
    ) throws(GGUFError) -> [Int] {
        var dimensions: [Int] = []
        dimensions.reserveCapacity(count)
        for axis in 0..<count {
            let raw = try cursor.readUInt64(field + ".dims[\(axis)]")
            guard raw >= 1, raw <= UInt64(Int.max) else {
                throw cursor.failure(
                    field + ".dims[\(axis)]", value: "\(raw)", limit: "1 ... \(Int.max)",
                    reason: "bad dimension")
            }
            dimensions.append(Int(raw))
        }
        return dimensions
    }

    /// Element count (the product of the dims) and data bytes, overflow-checked.
    private static func measure(
        _ dimensions: [Int], _ type: GGMLType, field: String, _ cursor: GGUFCursor
    ) throws(GGUFError) -> (elementCount: Int, sizeBytes: Int) {
        var elementCount = 1
        for extent in dimensions {
            let (product, overflow) = elementCount.multipliedReportingOverflow(by: extent)
            guard !overflow else {
                throw cursor.failure(
                    field + ".dims", value: dimensions.map(String.init).joined(separator: " x "),
                    limit: "product <= \(Int.max)", reason: "element count overflows")
            }
            elementCount = product
        }
        let blockCount = elementCount / type.blockElements
        let (sizeBytes, overflow) = blockCount.multipliedReportingOverflow(by: type.blockBytes)
        guard !overflow else {
            throw cursor.failure(
                field + ".dims", value: "\(blockCount) blocks of \(type.blockBytes) bytes",
                limit: "size <= \(Int.max) bytes", reason: "tensor size overflows")
        }
        return (elementCount, sizeBytes)
    }

    // MARK: Data section

    /// Turns stored offsets into file offsets, checking that each is aligned
    /// and that its data ends inside the file.
    static func place(
        _ stored: [GGUFStoredTensor], _ dataOffsetBytes: Int, _ alignment: Int,
        _ cursor: GGUFCursor
    ) throws(GGUFError) -> [GGUFTensorInfo] {
        let dataBytes = max(0, cursor.bytes.count - dataOffsetBytes)
        var tensors: [GGUFTensorInfo] = []
        tensors.reserveCapacity(stored.count)
        for tensor in stored {
            let field = "tensor '\(tensor.name)'.offset"
            let offset = tensor.storedOffsetBytes
            guard offset % UInt64(alignment) == 0 else {
                throw cursor.failure(
                    field, value: "\(offset)", limit: "a multiple of \(alignment)",
                    reason: "tensor offset is not aligned")
            }
            // offset <= dataBytes first, so the subtraction cannot wrap.
            guard offset <= UInt64(dataBytes), tensor.sizeBytes <= dataBytes - Int(offset) else {
                throw cursor.failure(
                    field, value: "\(offset) + \(tensor.sizeBytes) bytes",
                    limit: "<= \(dataBytes) data bytes",
                    reason: "tensor data runs past the end of the file")
            }
            tensors.append(
                GGUFTensorInfo(
                    name: tensor.name, dimensions: tensor.dimensions, type: tensor.type,
                    elementCount: tensor.elementCount, sizeBytes: tensor.sizeBytes,
                    offsetBytes: dataOffsetBytes + Int(offset)))
        }
        return tensors
    }

    /// Checks that no two tensors share a byte of data.
    static func checkOverlaps(
        _ tensors: [GGUFTensorInfo], _ cursor: GGUFCursor
    ) throws(GGUFError) {
        let byOffset = tensors.sorted { $0.offsetBytes < $1.offsetBytes }
        for (previous, next) in zip(byOffset, byOffset.dropFirst()) {
            // Both ends lie inside the file, so the sum cannot overflow.
            let previousEnd = previous.offsetBytes + previous.sizeBytes
            guard next.offsetBytes >= previousEnd else {
                throw cursor.failure(
                    "tensor '\(next.name)'.offset", value: "\(next.offsetBytes) (in file)",
                    limit: ">= \(previousEnd), the end of '\(previous.name)'",
                    reason: "tensor data overlaps another tensor")
            }
        }
    }
}
