/// TOML spellings of values for messages: strings quoted and escaped, long
/// ones cut, so that a hostile file cannot flood a terminal.
enum TOMLSpelling {
    /// Characters of a value shown before it is cut short with `…`.
    static let charactersMax = 48

    static func string(_ text: String) -> String {
        var body = ""
        for scalar in text.unicodeScalars.prefix(charactersMax) {
            switch scalar {
            case "\"": body += "\\\""
            case "\\": body += "\\\\"
            case "\u{8}": body += "\\b"
            case "\t": body += "\\t"
            case "\n": body += "\\n"
            case "\u{C}": body += "\\f"
            case "\r": body += "\\r"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                body += "\\u" + hex4(scalar.value)
            default: body.unicodeScalars.append(scalar)
            }
        }
        let cut = text.unicodeScalars.count > charactersMax ? "…" : ""
        return "\"" + body + cut + "\""
    }

    /// A key bare when TOML allows it (`A-Za-z0-9_-`), else quoted.
    static func key(_ key: String) -> String {
        let isBare =
            !key.isEmpty
            && key.unicodeScalars.allSatisfy { scalar in
                scalar.isASCII
                    && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar)
                        || scalar == "_" || scalar == "-")
            }
        return isBare ? key : string(key)
    }

    static func value(_ value: TOMLValue) -> String {
        switch value {
        case .table(let entries): return entries.isEmpty ? "{}" : "{…}"
        case .array(let items): return array(items)
        case .string(let text): return string(text)
        case .integer(let number): return String(number)
        case .float(let number): return float(number)
        case .boolean(let flag): return flag ? "true" : "false"
        case .date(let text), .time(let text), .dateTime(let text): return text
        }
    }

    /// TOML's own spellings for the values JSON and Swift spell differently.
    static func float(_ number: Double) -> String {
        if number.isNaN { return "nan" }
        if number.isInfinite { return number < 0 ? "-inf" : "inf" }
        return String(number)
    }

    /// A number as a limit is written in a message: `2`, not `2.0`.
    static func bound(_ number: Double) -> String {
        if number == number.rounded(), abs(number) < 1e15 { return String(Int64(number)) }
        return String(number)
    }

    private static func array(_ items: [TOMLNode]) -> String {
        var text = "["
        for (index, item) in items.enumerated() {
            let next = (index > 0 ? ", " : "") + value(item.value)
            if text.count + next.count > charactersMax {
                return index == 0 ? "[…]" : text + ", …]"
            }
            text += next
        }
        return text + "]"
    }

    private static func hex4(_ value: UInt32) -> String {
        let digits = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}
