import CPUKernels

/// The keys and values of one sequence, for every layer, in fp16.
///
/// Layout: `keys[layer][position][kvDimension]`, and the same for values.
/// A cache is one sequence's alone; the device writes it during a dispatch
/// and nobody else touches it meanwhile.
public final class KVCache: @unchecked Sendable {
    /// Positions the cache can hold.
    public let capacity: Int
    /// Layers of the model it belongs to.
    public let layerCount: Int
    /// fp16 values per position per layer (all KV heads).
    public let kvDimension: Int
    /// Positions filled so far: the next token goes to `count`.
    public var count: Int = 0

    let keys: UnsafeMutablePointer<asth_f16>  // [layerCount][capacity][kvDimension]
    let values: UnsafeMutablePointer<asth_f16>  // [layerCount][capacity][kvDimension]

    public init(capacity: Int, layerCount: Int, kvDimension: Int) {
        precondition(capacity > 0 && layerCount > 0 && kvDimension > 0, "empty KV cache")
        self.capacity = capacity
        self.layerCount = layerCount
        self.kvDimension = kvDimension
        let elements = capacity * layerCount * kvDimension
        keys = .allocate(capacity: elements)
        values = .allocate(capacity: elements)
    }

    deinit {
        keys.deallocate()
        values.deallocate()
    }

    /// Bytes held by keys and values together.
    public var sizeBytes: Int { 2 * capacity * layerCount * kvDimension * 2 }

    /// Forgets positions from `position` on, so they can be written again.
    public func truncate(to position: Int) {
        precondition(position >= 0 && position <= count, "truncate past the end")
        count = position
    }

    /// Keys of `layer` at `position`.
    func keyRow(layer: Int, position: Int) -> UnsafeMutablePointer<asth_f16> {
        keys + (layer * capacity + position) * kvDimension
    }

    /// Values of `layer` at `position`.
    func valueRow(layer: Int, position: Int) -> UnsafeMutablePointer<asth_f16> {
        values + (layer * capacity + position) * kvDimension
    }
}
