import Foundation

extension KVCache {
    /// Copies the keys and values of positions `0..<count` of `source` into
    /// this cache, which then holds exactly those positions.
    ///
    /// The host uses it to start a conversation from a persona's prefilled
    /// system prompt without computing it again.
    public func copyPrefix(of source: KVCache, count positions: Int) {
        precondition(
            layerCount == source.layerCount && kvDimension == source.kvDimension,
            "KV caches of different models: \(layerCount)x\(kvDimension) and"
                + " \(source.layerCount)x\(source.kvDimension)")
        precondition(
            positions >= 0 && positions <= source.count && positions <= capacity,
            "copy of \(positions) positions from \(source.count) into \(capacity)")

        // Layer by layer: each layer's rows are contiguous in both caches.
        let elements = positions * kvDimension
        for layer in 0..<layerCount {
            keyRow(layer: layer, position: 0).update(
                from: source.keyRow(layer: layer, position: 0), count: elements)
            valueRow(layer: layer, position: 0).update(
                from: source.valueRow(layer: layer, position: 0), count: elements)
        }
        count = positions
    }
}
