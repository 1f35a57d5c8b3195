/// One metadata value of a GGUF file.
///
/// Arrays hold values of one element type and may nest (an array of arrays).
public indirect enum GGUFValue: Sendable, Equatable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case uint64(UInt64), int64(Int64), float32(Float), float64(Double), bool(Bool)
    case string(String)
    case array([GGUFValue])

    /// The GGUF spelling of this value's type: "uint32", "string", "array", ...
    public var typeName: String {
        switch self {
        case .uint8: return "uint8"
        case .int8: return "int8"
        case .uint16: return "uint16"
        case .int16: return "int16"
        case .uint32: return "uint32"
        case .int32: return "int32"
        case .uint64: return "uint64"
        case .int64: return "int64"
        case .float32: return "float32"
        case .float64: return "float64"
        case .bool: return "bool"
        case .string: return "string"
        case .array: return "array"
        }
    }

    /// The value as an integer of any width, or nil if it is not an integer.
    ///
    /// `uint64` values above `Int64.max` come back as nil from `intValue`;
    /// callers tell them apart with `typeName` when reporting.
    var intValue: Int? {
        switch self {
        case .uint8(let v): return Int(v)
        case .int8(let v): return Int(v)
        case .uint16(let v): return Int(v)
        case .int16(let v): return Int(v)
        case .uint32(let v): return Int(v)
        case .int32(let v): return Int(v)
        case .uint64(let v): return Int(exactly: v)
        case .int64(let v): return Int(exactly: v)
        default: return nil
        }
    }

    /// True for the eight integer types, whether or not the value fits an `Int`.
    var isInteger: Bool {
        switch self {
        case .uint8, .int8, .uint16, .int16, .uint32, .int32, .uint64, .int64: return true
        default: return false
        }
    }

    /// A short rendering for error messages: `uint32 7`, `string "llama"`,
    /// `array of 49152`. Strings are cut to `evidenceCharactersMax`.
    var evidence: String {
        switch self {
        case .uint8(let v): return "uint8 \(v)"
        case .int8(let v): return "int8 \(v)"
        case .uint16(let v): return "uint16 \(v)"
        case .int16(let v): return "int16 \(v)"
        case .uint32(let v): return "uint32 \(v)"
        case .int32(let v): return "int32 \(v)"
        case .uint64(let v): return "uint64 \(v)"
        case .int64(let v): return "int64 \(v)"
        case .float32(let v): return "float32 \(v)"
        case .float64(let v): return "float64 \(v)"
        case .bool(let v): return "bool \(v)"
        case .string(let s): return "string \"\(s.prefix(Self.evidenceCharactersMax))\""
        case .array(let a): return "array of \(a.count)"
        }
    }

    /// Characters of a string value quoted in an error message.
    static let evidenceCharactersMax = 40
}

/// The value type ids of the GGUF format, as stored in the file.
enum GGUFValueType: UInt32 {
    case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5
    case float32 = 6, bool = 7, string = 8, array = 9, uint64 = 10, int64 = 11
    case float64 = 12

    /// The fewest bytes one value of this type takes in a file: the bound an
    /// array count is checked against before anything is reserved.
    var minimumBytes: Int {
        switch self {
        case .uint8, .int8, .bool: return 1
        case .uint16, .int16: return 2
        case .uint32, .int32, .float32: return 4
        case .uint64, .int64, .float64: return 8
        // A string is at least its uint64 length.
        case .string: return 8
        // An array is at least its uint32 element type and uint64 count.
        case .array: return 12
        }
    }
}
