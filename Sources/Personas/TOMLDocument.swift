import CTOML
import Foundation

/// One TOML value and where it was written: the only view of toml++ that the
/// rest of the module sees. This file is the one place that imports CTOML.
struct TOMLNode: Sendable, Equatable {
    /// 1-based line of the value's key, or of the value for array elements.
    var line: Int
    /// 1-based column, in characters, of the same.
    var column: Int
    /// The value itself.
    var value: TOMLValue
}

/// The kinds of TOML value. Dates and times stay in their RFC 3339 spelling:
/// no persona key takes one, so they only ever appear in messages.
enum TOMLValue: Sendable, Equatable {
    case table([String: TOMLNode])
    case array([TOMLNode])
    case string(String)
    case integer(Int64)
    case float(Double)
    case boolean(Bool)
    case date(String)
    case time(String)
    case dateTime(String)

    /// The kind as a message names it: "a string", "an integer".
    var kind: String {
        switch self {
        case .table: return "a table"
        case .array: return "an array"
        case .string: return "a string"
        case .integer: return "an integer"
        case .float: return "a float"
        case .boolean: return "a boolean"
        case .date: return "a date"
        case .time: return "a time"
        case .dateTime: return "a date-time"
        }
    }
}

/// Why a TOML text could not be turned into a tree of `TOMLNode`s.
enum TOMLFailure: Error, Sendable, Equatable {
    /// toml++ refused the text; its message and where it stopped.
    case syntax(message: String, line: Int, column: Int)
    /// The text is longer than the limit given; nothing was parsed.
    case tooLarge(bytes: Int, bytesMax: Int)
    /// A table or array nests deeper than the limit given, at `key`.
    case tooDeep(key: String, line: Int, column: Int, depthMax: Int)
    /// Memory, a thread, or the shim's own JSON failed us; the detail.
    case resources(String)
}

/// Parsing TOML text through the toml++ shim.
enum TOMLDocument {
    /// Parses `bytes` as TOML and returns the root table.
    ///
    /// - Parameters:
    ///   - bytes: the text, UTF-8; toml++ checks the encoding.
    ///   - bytesMax: longer texts are refused before parsing.
    ///   - depthMax: tables and arrays along one path, the root included.
    /// - Throws: `TOMLFailure`, with the position where one is known.
    static func parse(_ bytes: [UInt8], bytesMax: Int, depthMax: Int) throws(TOMLFailure)
        -> TOMLNode
    {
        precondition(bytesMax >= 0 && depthMax >= 1, "TOMLDocument.parse: limits must be positive")

        // Convert in C++; the shim owns every toml++ exception.
        var error = asth_toml_error()
        let json = bytes.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { text in
                asth_toml_to_json(
                    text.baseAddress, text.count, bytesMax, depthMax, &error)
            }
        }
        defer {
            asth_toml_free(json)
            asth_toml_error_clear(&error)
        }
        guard let json else {
            throw failure(from: error, bytes: bytes.count, bytesMax: bytesMax, depthMax: depthMax)
        }

        // Decode the positioned JSON into nodes.
        let data = Data(bytes: json, count: strlen(json))
        do {
            return try JSONDecoder().decode(TOMLNode.self, from: data)
        } catch {
            throw .resources("the TOML shim wrote JSON that does not decode: \(error)")
        }
    }

    /// The Swift face of the shim's error struct.
    private static func failure(
        from error: asth_toml_error, bytes: Int, bytesMax: Int, depthMax: Int
    ) -> TOMLFailure {
        let message = error.message.map { String(cString: $0) } ?? "no detail"
        let line = Int(error.line)
        let column = Int(error.column)
        switch error.status {
        case ASTH_TOML_SYNTAX:
            return .syntax(message: message, line: line, column: column)
        case ASTH_TOML_TOO_LARGE:
            return .tooLarge(bytes: bytes, bytesMax: bytesMax)
        case ASTH_TOML_TOO_DEEP:
            let key = error.key.map { String(cString: $0) } ?? ""
            return .tooDeep(key: key, line: line, column: column, depthMax: depthMax)
        default:
            return .resources(message)
        }
    }
}

extension TOMLNode: Decodable {
    private enum CodingKeys: String, CodingKey {
        case line, column, type, value
    }

    /// Reads one node as the shim writes it (see `asth_toml.h`).
    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        line = try container.decode(Int.self, forKey: .line)
        column = try container.decode(Int.self, forKey: .column)
        let type = try container.decode(String.self, forKey: .type)
        switch type {
        case "table": value = .table(try container.decode([String: TOMLNode].self, forKey: .value))
        case "array": value = .array(try container.decode([TOMLNode].self, forKey: .value))
        case "string": value = .string(try container.decode(String.self, forKey: .value))
        case "integer": value = .integer(try container.decode(Int64.self, forKey: .value))
        case "float": value = .float(try Self.decodeFloat(container))
        case "boolean": value = .boolean(try container.decode(Bool.self, forKey: .value))
        case "date": value = .date(try container.decode(String.self, forKey: .value))
        case "time": value = .time(try container.decode(String.self, forKey: .value))
        case "date-time": value = .dateTime(try container.decode(String.self, forKey: .value))
        default:
            throw DecodingError.dataCorruptedError(
                forKey: .type, in: container, debugDescription: "unknown TOML type \(type)")
        }
    }

    /// A JSON number, or one of the strings the shim uses for what JSON lacks.
    private static func decodeFloat(_ container: KeyedDecodingContainer<CodingKeys>) throws
        -> Double
    {
        if let number = try? container.decode(Double.self, forKey: .value) { return number }
        let spelling = try container.decode(String.self, forKey: .value)
        switch spelling {
        case "nan": return .nan
        case "inf": return .infinity
        case "-inf": return -.infinity
        default:
            throw DecodingError.dataCorruptedError(
                forKey: .value, in: container, debugDescription: "not a float: \(spelling)")
        }
    }
}
