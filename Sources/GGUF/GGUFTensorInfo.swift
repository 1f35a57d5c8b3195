/// Where one tensor lives in a GGUF file and what shape it has.
///
/// Sizes and offsets are checked against the file when it is read, so a
/// `GGUFTensorInfo` taken from a `GGUFFile` always names bytes inside it.
public struct GGUFTensorInfo: Sendable, Equatable {
    /// The tensor's name, e.g. `blk.0.attn_q.weight`.
    public let name: String
    /// Extent of each dimension, ne0 (the contiguous one) first; 1 ... 4 entries.
    public let dimensions: [Int]
    /// How the elements are stored.
    public let type: GGMLType
    /// The product of `dimensions`.
    public let elementCount: Int
    /// Bytes of data: `elementCount / type.blockElements * type.blockBytes`.
    public let sizeBytes: Int
    /// From the start of the file (data section start + the stored offset).
    public let offsetBytes: Int

    /// Rows of ne0 elements: the product of every dimension but the first.
    public var rowCount: Int { elementCount / dimensions[0] }

    /// Bytes of one row of ne0 elements.
    public var rowBytes: Int { dimensions[0] / type.blockElements * type.blockBytes }
}
