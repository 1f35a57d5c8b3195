/// One position of one sequence in a dispatch.
public struct BatchRow {
    /// The sequence's KV cache; its `position` slot is written.
    public var cache: KVCache
    /// Where the token sits in its sequence.
    public var position: Int
    /// The token at that position.
    public var token: Int
    /// Whether the caller wants the logits of this row.
    public var wantsLogits: Bool
    /// A generated token fed back (a decode step, or a draft being verified):
    /// attended in the order llama.cpp uses for one token, however many rows
    /// of its sequence share the dispatch, so that verifying drafts together
    /// changes no greedy token (Kernels/CPU/NUMERICS.md).
    public var decodes: Bool

    public init(
        cache: KVCache, position: Int, token: Int, wantsLogits: Bool, decodes: Bool = false
    ) {
        self.cache = cache
        self.position = position
        self.token = token
        self.wantsLogits = wantsLogits
        self.decodes = decodes
    }
}

/// Logits of the rows that asked for them, in batch order, valid until the
/// next dispatch on the same device.
public struct Logits {
    /// Rows of `vocabularySize` floats.
    public let rowCount: Int
    public let vocabularySize: Int
    let base: UnsafePointer<Float>  // [rowCount][vocabularySize]

    public init(base: UnsafePointer<Float>, rowCount: Int, vocabularySize: Int) {
        self.base = base
        self.rowCount = rowCount
        self.vocabularySize = vocabularySize
    }

    /// The logits of the `index`-th row that asked for them.
    public func row(_ index: Int) -> UnsafeBufferPointer<Float> {
        precondition(index >= 0 && index < rowCount, "logits row \(index) of \(rowCount)")
        return UnsafeBufferPointer(start: base + index * vocabularySize, count: vocabularySize)
    }
}

/// Something that runs the model: one dispatch is one round trip that takes
/// positions from one or more sequences and gives back logits.
///
/// Rows of the same sequence must come in position order; a row may attend
/// to every earlier position of its sequence, including rows earlier in the
/// same batch.
public protocol Device: AnyObject {
    /// A short name for reports: "cpu".
    var name: String { get }
    /// Details for reports: kernel variant, threads.
    var detail: String { get }
    /// Most rows one dispatch may carry.
    var rowsMax: Int { get }
    /// A fresh KV cache for a sequence of up to `capacity` positions.
    func makeCache(capacity: Int) -> KVCache
    /// Runs the rows through the model and returns the logits they asked for,
    /// valid until the next dispatch. One caller at a time: a device belongs
    /// to the one engine (or generator) that dispatches on it.
    func dispatch(_ rows: [BatchRow]) throws -> Logits
}
