import Foundation

/// A JSON value as parsed, keeping integers apart from other numbers and
/// booleans apart from both, so that a field of the wrong type is named.
enum JSONValue: Decodable, Equatable {
    case null
    case bool(Bool)
    /// A number written without fraction or exponent that fits in 64 bits.
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    /// What a person would call this kind of value, for messages.
    var kind: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .integer, .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}

/// Reads typed fields from one JSON object, naming the field's path in every
/// error (`messages[1].content`) as OpenAI's `param` does.
///
/// A field that is absent or null reads as nil: OpenAI clients send null for
/// "not set".
struct JSONObjectReader {
    let fields: [String: JSONValue]
    /// Where this object sits in the body: empty at the top.
    let path: String

    init(fields: [String: JSONValue], path: String = "") {
        self.fields = fields
        self.path = path
    }

    /// Parses a request body that must be one JSON object.
    init(body: Data) throws(OpenAIError) {
        let value: JSONValue
        do {
            value = try JSONDecoder().decode(JSONValue.self, from: body)
        } catch {
            throw .invalid(
                nil, code: "invalid_json", "the body is not valid JSON: \(Self.reason(error))")
        }
        guard case .object(let fields) = value else {
            throw .invalid(
                nil, code: "invalid_json", "the body must be a JSON object, not \(value.kind)")
        }
        self.init(fields: fields)
    }

    /// The parser's complaint, without its debugging noise.
    private static func reason(_ error: Error) -> String {
        guard case DecodingError.dataCorrupted(let context) = error else { return "\(error)" }
        let underlying = (context.underlyingError as NSError?)?.userInfo[NSDebugDescriptionErrorKey]
        return (underlying as? String) ?? context.debugDescription
    }

    /// The path of `key` inside this object.
    func param(_ key: String) -> String {
        path.isEmpty ? key : "\(path).\(key)"
    }

    /// 400 for the first key not in `allowed`, in sorted order so the error
    /// is the same on every run.
    func rejectUnknown(allowed: Set<String>) throws(OpenAIError) {
        if let unknown = fields.keys.filter({ !allowed.contains($0) }).sorted().first {
            let shown = unknown.count > 64 ? String(unknown.prefix(64)) + "…" : unknown
            throw .invalid(
                param(shown), code: "unknown_parameter",
                "unrecognized request argument supplied: \(shown)")
        }
    }

    /// The value of `key`, nil when absent or null.
    func value(_ key: String) -> JSONValue? {
        guard let value = fields[key], value != .null else { return nil }
        return value
    }

    func string(_ key: String) throws(OpenAIError) -> String? {
        guard let value = value(key) else { return nil }
        guard case .string(let text) = value else { throw typeError(key, "a string", value) }
        return text
    }

    func bool(_ key: String) throws(OpenAIError) -> Bool? {
        guard let value = value(key) else { return nil }
        guard case .bool(let flag) = value else { throw typeError(key, "a boolean", value) }
        return flag
    }

    /// An integer; a number with a fraction, or beyond 64 bits, is refused.
    func integer(_ key: String) throws(OpenAIError) -> Int? {
        guard let value = value(key) else { return nil }
        switch value {
        case .integer(let number): return Int(number)
        case .number(let number) where number.rounded() == number && abs(number) < 0x1p62:
            return Int(number)
        case .number(let number):
            throw .invalid(
                param(key), code: "invalid_type", "\(param(key)) must be an integer, not \(number)")
        default:
            throw typeError(key, "an integer", value)
        }
    }

    /// A finite number in `range`.
    func number(_ key: String, in range: ClosedRange<Double>, describe: String)
        throws(OpenAIError) -> Double?
    {
        guard let value = value(key) else { return nil }
        let number: Double
        switch value {
        case .integer(let integer): number = Double(integer)
        case .number(let double): number = double
        default: throw typeError(key, "a number", value)
        }
        guard number.isFinite, range.contains(number) else {
            throw .invalid(param(key), "\(param(key)) = \(number) must be \(describe)")
        }
        return number
    }

    func object(_ key: String) throws(OpenAIError) -> JSONObjectReader? {
        guard let value = value(key) else { return nil }
        guard case .object(let fields) = value else { throw typeError(key, "an object", value) }
        return JSONObjectReader(fields: fields, path: param(key))
    }

    func array(_ key: String) throws(OpenAIError) -> [JSONValue]? {
        guard let value = value(key) else { return nil }
        guard case .array(let items) = value else { throw typeError(key, "an array", value) }
        return items
    }

    /// An array whose every item is a string.
    func strings(_ key: String) throws(OpenAIError) -> [String]? {
        guard let items = try array(key) else { return nil }
        var strings: [String] = []
        for (index, item) in items.enumerated() {
            guard case .string(let text) = item else {
                throw .invalid(
                    "\(param(key))[\(index)]", code: "invalid_type",
                    "\(param(key))[\(index)] must be a string, not \(item.kind)")
            }
            strings.append(text)
        }
        return strings
    }

    private func typeError(_ key: String, _ expected: String, _ found: JSONValue) -> OpenAIError {
        .invalid(
            param(key), code: "invalid_type",
            "\(param(key)) must be \(expected), not \(found.kind)")
    }
}
