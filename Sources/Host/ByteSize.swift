import Foundation

/// Sizes in bytes as people write them: `512MiB`, `2GiB`, `1.5 GiB`, `3GB`.
public enum ByteSize {
    /// Binary units and their bytes, largest first: what sizes are shown in.
    private static let units: [(suffix: String, bytes: Double)] = [
        ("TiB", 1_099_511_627_776), ("GiB", 1_073_741_824), ("MiB", 1_048_576),
        ("KiB", 1_024),
    ]
    /// Decimal units, also read: `3GB` is 3 × 10⁹ bytes.
    private static let decimalUnits: [(suffix: String, bytes: Double)] = [
        ("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3),
    ]

    /// The bytes `text` names: a number (decimals allowed) and a binary
    /// unit (`KiB` to `TiB`), a decimal one (`KB` to `TB`), or plain bytes
    /// with no unit or `B`. Nil when it is not one, or is negative or not
    /// finite.
    public static func parse(_ text: String) -> Int? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        var number = trimmed
        var scale = 1.0
        for unit in units + decimalUnits
        where trimmed.lowercased().hasSuffix(unit.suffix.lowercased()) {
            number = String(trimmed.dropLast(unit.suffix.count))
            scale = unit.bytes
            break
        }
        if scale == 1, trimmed.uppercased().hasSuffix("B") {
            number = String(trimmed.dropLast())
        }
        number = number.trimmingCharacters(in: .whitespaces)
        guard let value = Double(number), value.isFinite, value >= 0,
            value * scale < Double(Int.max)
        else { return nil }
        return Int((value * scale).rounded())
    }

    /// `bytes` in the largest binary unit that keeps it at least 1, one
    /// decimal: "94.1 MiB".
    public static func text(_ bytes: Int) -> String {
        for unit in units where Double(bytes) >= unit.bytes {
            return String(format: "%.1f", Double(bytes) / unit.bytes) + " " + unit.suffix
        }
        return "\(bytes) B"
    }
}
