import Foundation
import Support

/// Numbers rounded for reading. Stored values stay exact; only what is
/// printed is rounded, and always with its unit.
public enum Readable {
    /// `value` with `digits` decimals: `fixed(22.71, 1)` is "22.7".
    public static func fixed(_ value: Double, _ digits: Int) -> String {
        String(format: "%.\(digits)f", value)
    }

    /// Motes with one decimal, as every report shows them, except below one
    /// Mote, where one decimal would print a small model's whole bill as
    /// 0.0; there three decimals.
    public static func motes(_ motes: Double) -> String {
        abs(motes) >= 1 || motes == 0 ? fixed(motes, 1) : fixed(motes, 3)
    }

    /// A count of parameters: "134.5 M", "7.2 B".
    public static func parameters(_ count: Int) -> String {
        let value = Double(count)
        if value >= 1e9 { return fixed(value / 1e9, 1) + " B" }
        if value >= 1e6 { return fixed(value / 1e6, 1) + " M" }
        return "\(count)"
    }

    /// Bytes in decimal megabytes: "88.2 MB".
    public static func megabytes(_ bytes: Int) -> String {
        fixed(Double(bytes) / 1e6, 1) + " MB"
    }
}

/// Times as the reports print them, in the local time zone.
public enum ReadableTime {
    /// "2025-03-14 09:26:53".
    public static func stamp(_ date: Date) -> String {
        formatter("yyyy-MM-dd HH:mm:ss").string(from: date)
    }

    /// "03-14 09:26:53", for log rows.
    public static func short(_ date: Date) -> String {
        formatter("MM-dd HH:mm:ss").string(from: date)
    }

    /// A chart axis label fit for a span of `seconds`: times of day within
    /// a day, dates beyond.
    static func axis(_ date: Date, spanSeconds: Double) -> String {
        if spanSeconds < 600 { return formatter("HH:mm:ss").string(from: date) }
        if spanSeconds < 86_400 { return formatter("HH:mm").string(from: date) }
        return formatter("MM-dd").string(from: date)
    }

    static func formatter(_ format: String) -> DateFormatter {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone.current
        formatter.dateFormat = format
        return formatter
    }

    /// Reads `--since`: an age ("90s", "30m", "12h", "7d") or a date
    /// ("2025-03-14", "2025-03-14T09:26:53Z", with any offset).
    ///
    /// - Throws: `MetricsError.badSince` for anything else, or an age past
    ///   `Limits.Metrics.sinceDaysMax`.
    public static func since(_ text: String, now: Date = Date()) throws -> Date {
        let expected =
            "an age like 30m, 12h or 7d (at most \(Limits.Metrics.sinceDaysMax) days)"
            + " or a date like 2025-03-14 or 2025-03-14T09:26:53Z"
        if let unit = text.last, let seconds = unitSeconds[unit],
            let count = Int(text.dropLast()), count >= 0
        {
            let age = Double(count) * seconds
            guard age <= Double(Limits.Metrics.sinceDaysMax) * 86_400 else {
                throw MetricsError.badSince(value: text, limit: expected)
            }
            return now.addingTimeInterval(-age)
        }
        let iso = ISO8601DateFormatter()
        if let date = iso.date(from: text) {
            return date
        }
        if text.count == 10, let date = formatter("yyyy-MM-dd").date(from: text) {
            return date
        }
        throw MetricsError.badSince(value: text, limit: expected)
    }

    /// Seconds per unit of an age.
    private static let unitSeconds: [Character: Double] = [
        "s": 1, "m": 60, "h": 3_600, "d": 86_400,
    ]
}
