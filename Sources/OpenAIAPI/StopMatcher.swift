import Foundation

/// Cuts a reply at the first of the request's stop strings, as text
/// arrives piece by piece.
///
/// Text that could still be the start of a stop string is held back until
/// the next piece shows whether it is; the stop string itself is never
/// sent. With no stop strings every piece passes straight through.
struct StopMatcher {
    let stops: [String]
    /// Text received but not yet released.
    private var held = ""
    /// Set once a stop string has been seen; nothing passes after it.
    private(set) var isStopped = false

    /// Characters that may be a stop string's start: one less than the
    /// longest stop string.
    private let holdCharactersMax: Int

    init(stops: [String]) {
        self.stops = stops
        holdCharactersMax = max(0, (stops.map(\.count).max() ?? 0) - 1)
    }

    /// Takes the next piece; returns the text that can be sent now.
    mutating func push(_ piece: String) -> String {
        guard !isStopped else { return "" }
        guard !stops.isEmpty else { return piece }
        held += piece

        // A whole stop string: release what comes before it, and stop.
        let matches = stops.compactMap { held.range(of: $0)?.lowerBound }
        if let first = matches.min() {
            isStopped = true
            let before = String(held[..<first])
            held = ""
            return before
        }

        // Keep back only what could still grow into a stop string.
        let keep = suffixThatMayStartStop()
        let released = String(held.dropLast(keep))
        held = String(held.suffix(keep))
        return released
    }

    /// Whatever is held when the reply ends without a stop string.
    mutating func finish() -> String {
        defer { held = "" }
        return isStopped ? "" : held
    }

    /// Characters at the end of `held` that are a proper prefix of some stop.
    private func suffixThatMayStartStop() -> Int {
        let longest = min(holdCharactersMax, held.count)
        for length in stride(from: longest, to: 0, by: -1) {
            let tail = String(held.suffix(length))
            if stops.contains(where: { $0.hasPrefix(tail) }) {
                return length
            }
        }
        return 0
    }
}
