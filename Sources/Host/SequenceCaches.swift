import Inference

/// A KV cache with the ids it holds, kept for reuse.
struct CachedSequence {
    let cache: KVCache
    let ids: [Int]
}

/// Sequences kept between the turns of conversations, by persona and
/// conversation id, the least recently used dropped first.
///
/// An entry is taken out while its conversation generates, so two requests
/// on one conversation never share a cache.
struct ConversationCache {
    /// Entries, least recently used first.
    private var entries: [(key: String, sequence: CachedSequence)] = []
    let countMax: Int

    init(countMax: Int) {
        self.countMax = countMax
    }

    var count: Int { entries.count }

    /// The key of `conversation` for `tenant`: entries are the persona's alone.
    static func key(tenant: String, conversation: String) -> String {
        tenant + "\u{0}" + conversation
    }

    /// Takes the entry for `key` out of the cache.
    mutating func take(_ key: String) -> CachedSequence? {
        guard let index = entries.firstIndex(where: { $0.key == key }) else { return nil }
        return entries.remove(at: index).sequence
    }

    /// Keeps `sequence` under `key` as the most recently used.
    mutating func keep(_ sequence: CachedSequence, key: String) {
        entries.removeAll { $0.key == key }
        entries.append((key, sequence))
        if entries.count > countMax {
            entries.removeFirst(entries.count - countMax)
        }
    }
}

/// Each persona's system prompt, prefilled once per model: a new
/// conversation copies its keys and values instead of computing them.
///
/// Entries are keyed by persona and by the prefix's ids, so a persona
/// whose system prompt changed gets a new entry, and two personas with the
/// same prompt never share one.
struct PrefixCache {
    /// Entries, least recently used first.
    private var entries: [(tenant: String, sequence: CachedSequence)] = []
    let countMax: Int

    init(countMax: Int) {
        self.countMax = countMax
    }

    var count: Int { entries.count }

    /// The entry of `tenant` for exactly `prefix`, marked as recently used.
    mutating func lookup(tenant: String, prefix: [Int]) -> CachedSequence? {
        guard
            let index = entries.firstIndex(where: {
                $0.tenant == tenant && $0.sequence.ids == prefix
            })
        else { return nil }
        let entry = entries.remove(at: index)
        entries.append(entry)
        return entry.sequence
    }

    /// Keeps a copy of the first `prefix.count` positions of `source`
    /// under `tenant`, replacing the tenant's entry for another prefix.
    mutating func store(tenant: String, prefix: [Int], from source: KVCache, device: Device) {
        let cache = device.makeCache(capacity: prefix.count)
        cache.copyPrefix(of: source, count: prefix.count)
        entries.removeAll { $0.tenant == tenant }
        entries.append((tenant, CachedSequence(cache: cache, ids: prefix)))
        if entries.count > countMax {
            entries.removeFirst(entries.count - countMax)
        }
    }
}
