/// An amount of Motes in integer millionths: the only unit the ledger
/// stores or adds. Reports show Motes with one decimal.
public struct MicroMotes: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    /// Micro-Motes in one Mote.
    public static let perMote: Int64 = 1_000_000

    /// The amount in micro-Motes.
    public var rawValue: Int64

    public static let zero = MicroMotes(0)

    public init(_ rawValue: Int64) {
        self.rawValue = rawValue
    }

    /// `motes` whole Motes.
    public static func motes(_ motes: Int64) -> MicroMotes {
        MicroMotes(motes * perMote)
    }

    /// Parses a decimal number of Motes such as `12`, `0.5` or `3.000001`
    /// (at most six decimals, no sign, no exponent); nil if `text` is not
    /// one or does not fit.
    public init?(motes text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 2, let whole = parts.first, !whole.isEmpty,
            whole.allSatisfy(\.isASCII), let units = Int64(whole), units >= 0
        else { return nil }
        var fraction: Int64 = 0
        if parts.count == 2 {
            let digits = parts[1]
            guard !digits.isEmpty, digits.count <= 6, digits.allSatisfy({ $0.isASCII }),
                let value = Int64(digits), value >= 0
            else { return nil }
            fraction = value * Self.power10(6 - digits.count)
        }
        let (scaled, overflow) = units.multipliedReportingOverflow(by: Self.perMote)
        guard !overflow, scaled <= Int64.max - fraction else { return nil }
        self.init(scaled + fraction)
    }

    public static func < (a: MicroMotes, b: MicroMotes) -> Bool { a.rawValue < b.rawValue }

    public static func + (a: MicroMotes, b: MicroMotes) -> MicroMotes {
        MicroMotes(a.rawValue + b.rawValue)
    }

    public static func - (a: MicroMotes, b: MicroMotes) -> MicroMotes {
        MicroMotes(a.rawValue - b.rawValue)
    }

    /// Motes with one decimal, rounded half away from zero: `12.3`.
    public var description: String {
        let tenth = UInt64(Self.perMote / 10)
        let tenths = (rawValue.magnitude + tenth / 2) / tenth
        let sign = rawValue < 0 && tenths > 0 ? "-" : ""
        return "\(sign)\(tenths / 10).\(tenths % 10)"
    }

    /// Motes with all six decimals, exact: `12.345678`.
    public var exactDescription: String {
        let sign = rawValue < 0 ? "-" : ""
        let magnitude = rawValue.magnitude
        let fraction = String(magnitude % UInt64(Self.perMote))
        let padded = String(repeating: "0", count: 6 - fraction.count) + fraction
        return "\(sign)\(magnitude / UInt64(Self.perMote)).\(padded)"
    }

    public init(from decoder: any Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(Int64.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    private static func power10(_ exponent: Int) -> Int64 {
        (0..<exponent).reduce(1) { value, _ in value * 10 }
    }
}
