import GGUF
import Support
import Testing

/// A malformed file and the error it must give.
struct MalformedCase: Sendable, CustomTestStringConvertible {
    let label: String
    let bytes: [UInt8]
    /// The field the error must name.
    let field: String
    /// The reason it must give.
    let reason: String

    var testDescription: String { label }
}

/// Malformed files built in code: each must throw a `GGUFError` naming the
/// field at fault, never crash, hang or allocate beyond the file.
struct GGUFMalformedTests {
    // MARK: Byte helpers

    static func le32(_ value: UInt32) -> [UInt8] {
        var out: [UInt8] = []
        GGUFBuilder.appendUInt32(value, to: &out)
        return out
    }

    static func le64(_ value: UInt64) -> [UInt8] {
        var out: [UInt8] = []
        GGUFBuilder.appendUInt64(value, to: &out)
        return out
    }

    /// A v3 header with the given counts.
    static func header(tensors: UInt64 = 0, keys: UInt64 = 0) -> [UInt8] {
        Array("GGUF".utf8) + le32(3) + le64(tensors) + le64(keys)
    }

    /// A file made by editing an empty builder.
    static func built(_ edit: (inout GGUFBuilder) -> Void) -> [UInt8] {
        var builder = GGUFBuilder()
        edit(&builder)
        return builder.build()
    }

    /// The small valid file the truncation tests cut.
    static let sample = GGUFReaderTests.sampleFile(version: 3).build()

    // MARK: Cases

    static let headerCases: [MalformedCase] = [
        MalformedCase(
            label: "empty file", bytes: [], field: "header.magic", reason: "not a GGUF file"),
        MalformedCase(
            label: "bad magic", bytes: built { $0.magic = Array("GGUX".utf8) },
            field: "header.magic", reason: "not a GGUF file"),
        MalformedCase(
            label: "only the magic", bytes: Array("GGUF".utf8), field: "header.version",
            reason: "file ends inside this field"),
        MalformedCase(
            label: "version 1", bytes: built { $0.version = 1 }, field: "header.version",
            reason: "unsupported GGUF version"),
        MalformedCase(
            label: "version 99", bytes: built { $0.version = 99 }, field: "header.version",
            reason: "unsupported GGUF version"),
        MalformedCase(
            label: "big-endian version 3", bytes: built { $0.version = 3 << 24 },
            field: "header.version", reason: "big-endian GGUF files are not supported"),
        MalformedCase(
            label: "n_tensors 2^64-1", bytes: built { $0.tensorCountOverride = .max },
            field: "header.n_tensors", reason: "count over the limit"),
        MalformedCase(
            label: "n_kv 2^64-1", bytes: built { $0.metadataCountOverride = .max },
            field: "header.n_kv", reason: "count over the limit"),
        MalformedCase(
            label: "n_kv over the limit",
            bytes: built { $0.metadataCountOverride = UInt64(Limits.GGUF.metadataCountMax) + 1 },
            field: "header.n_kv", reason: "count over the limit"),
        MalformedCase(
            label: "n_tensors past the end", bytes: built { $0.tensorCountOverride = 1000 },
            field: "header.n_tensors", reason: "count runs past the end of the file"),
        MalformedCase(
            label: "n_kv past the end", bytes: header(keys: 2) + le64(1) + [0x6b],
            field: "header.n_kv", reason: "count runs past the end of the file"),
        MalformedCase(
            label: "n_tensors one more than present",
            bytes: header(tensors: 2) + Array(repeating: 0, count: 64),
            field: "tensor[0].name", reason: "empty tensor name"),
    ]

    static let metadataCases: [MalformedCase] = [
        MalformedCase(
            label: "key length past the end",
            bytes: header(keys: 1) + le64(1000) + Array("abcdefghijklmnop".utf8),
            field: "metadata[0].key.length", reason: "string runs past the end of the file"),
        MalformedCase(
            label: "string value length past the end",
            bytes: built { $0.addRaw(key: [0x6b], typeID: 8, payload: le64(1000) + [0x61]) },
            field: "metadata 'k'.value.length", reason: "string runs past the end of the file"),
        MalformedCase(
            label: "string length over the limit",
            bytes: built {
                $0.addRaw(
                    key: [0x6b], typeID: 8, payload: le64(UInt64(Limits.GGUF.stringBytesMax) + 1))
            },
            field: "metadata 'k'.value.length", reason: "string longer than the limit"),
        MalformedCase(
            label: "array length past the end",
            bytes: built {
                $0.addRaw(key: [0x6b], typeID: 9, payload: le32(4) + le64(1000) + le32(7))
            },
            field: "metadata 'k'.value.count", reason: "count runs past the end of the file"),
        MalformedCase(
            label: "array of strings past the end",
            bytes: built {
                $0.addRaw(key: [0x6b], typeID: 9, payload: le32(8) + le64(3) + le64(0))
            },
            field: "metadata 'k'.value.count", reason: "count runs past the end of the file"),
        MalformedCase(
            label: "array count over the limit",
            bytes: built {
                let count = UInt64(Limits.GGUF.arrayCountMax) + 1
                $0.addRaw(key: [0x6b], typeID: 9, payload: le32(0) + le64(count))
            },
            field: "metadata 'k'.value.count", reason: "count over the limit"),
        MalformedCase(
            label: "array over the file's value budget",
            bytes: built {
                let count = Limits.GGUF.metadataValueCountMax + 1
                let payload = le32(0) + le64(UInt64(count)) + [UInt8](repeating: 0, count: count)
                $0.addRaw(key: [0x6b], typeID: 9, payload: payload)
            },
            field: "metadata 'k'.value.count", reason: "metadata arrays hold too many values"),
        MalformedCase(
            label: "arrays nested too deep",
            bytes: built { $0.add("k", .array([.array([.array([.array([.array([])])])])])) },
            field: "metadata 'k'.value[0][0][0][0]", reason: "arrays nested too deep"),
        MalformedCase(
            label: "unknown value type 13",
            bytes: built { $0.addRaw(key: [0x6b], typeID: 13, payload: le64(0)) },
            field: "metadata 'k'.value", reason: "unknown metadata value type"),
        MalformedCase(
            label: "unknown array element type",
            bytes: built { $0.addRaw(key: [0x6b], typeID: 9, payload: le32(0xffff) + le64(0)) },
            field: "metadata 'k'.value.element_type", reason: "unknown metadata value type"),
        MalformedCase(
            label: "bool of 2", bytes: built { $0.addRaw(key: [0x6b], typeID: 7, payload: [2]) },
            field: "metadata 'k'.value", reason: "bool is not 0 or 1"),
        MalformedCase(
            label: "uint32 cut short",
            bytes: built { $0.addRaw(key: [0x6b], typeID: 4, payload: [1, 2]) },
            field: "metadata 'k'.value", reason: "file ends inside this field"),
        MalformedCase(
            label: "duplicate key",
            bytes: built {
                $0.add("general.name", .string("a"))
                $0.add("general.name", .string("b"))
            },
            field: "metadata[1].key", reason: "duplicate metadata key"),
        MalformedCase(
            label: "empty key", bytes: built { $0.add("", .uint8(1)) }, field: "metadata[0].key",
            reason: "empty key"),
    ]

    static let utf8Cases: [MalformedCase] = [
        MalformedCase(
            label: "key with a bare continuation byte",
            bytes: built { $0.addRaw(key: [0x61, 0x80], typeID: 0, payload: [1]) },
            field: "metadata[0].key", reason: "string is not valid UTF-8"),
        MalformedCase(
            label: "value with 0xff",
            bytes: built { $0.addRaw(key: [0x6b], typeID: 8, payload: le64(2) + [0xff, 0x41]) },
            field: "metadata 'k'.value", reason: "string is not valid UTF-8"),
        MalformedCase(
            label: "array element with an overlong encoding",
            bytes: built {
                $0.addRaw(
                    key: [0x6b], typeID: 9, payload: le32(8) + le64(1) + le64(2) + [0xc0, 0xaf])
            },
            field: "metadata 'k'.value[0]", reason: "string is not valid UTF-8"),
        MalformedCase(
            label: "value with a UTF-16 surrogate",
            bytes: built {
                $0.addRaw(key: [0x6b], typeID: 8, payload: le64(3) + [0xed, 0xa0, 0x80])
            },
            field: "metadata 'k'.value", reason: "string is not valid UTF-8"),
        MalformedCase(
            label: "value cut inside a sequence",
            bytes: built { $0.addRaw(key: [0x6b], typeID: 8, payload: le64(2) + [0x41, 0xe2]) },
            field: "metadata 'k'.value", reason: "string is not valid UTF-8"),
        MalformedCase(
            label: "tensor name with 0xfe",
            bytes: built {
                $0.addTensor("w", dimensions: [4], type: .f32)
                $0.tensors[0].name = [0x77, 0xfe]
            },
            field: "tensor[0].name", reason: "string is not valid UTF-8"),
    ]

    static let alignmentCases: [MalformedCase] = [
        MalformedCase(
            label: "alignment 0", bytes: built { $0.add("general.alignment", .uint32(0)) },
            field: "metadata 'general.alignment'.value",
            reason: "alignment must be a non-zero power of two"),
        MalformedCase(
            label: "alignment 48", bytes: built { $0.add("general.alignment", .uint32(48)) },
            field: "metadata 'general.alignment'.value",
            reason: "alignment must be a non-zero power of two"),
        MalformedCase(
            label: "alignment 33", bytes: built { $0.add("general.alignment", .uint32(33)) },
            field: "metadata 'general.alignment'.value",
            reason: "alignment must be a non-zero power of two"),
        MalformedCase(
            label: "alignment over the limit",
            bytes: built {
                $0.add("general.alignment", .uint32(UInt32(Limits.GGUF.alignmentMax) * 2))
            },
            field: "metadata 'general.alignment'.value",
            reason: "alignment must be a non-zero power of two"),
        MalformedCase(
            label: "alignment as uint64", bytes: built { $0.add("general.alignment", .uint64(32)) },
            field: "metadata 'general.alignment'.value", reason: "alignment has the wrong type"),
    ]

    static let tensorCases: [MalformedCase] = [
        MalformedCase(
            label: "tensor offset past the end",
            bytes: built { $0.addTensor("w", dimensions: [8], type: .f32, offset: 1 << 40) },
            field: "tensor 'w'.offset", reason: "tensor data runs past the end of the file"),
        MalformedCase(
            label: "tensor offset near 2^64",
            bytes: built { $0.addTensor("w", dimensions: [8], type: .f32, offset: ~31) },
            field: "tensor 'w'.offset", reason: "tensor data runs past the end of the file"),
        MalformedCase(
            label: "tensor data one byte short",
            bytes: Array(sample.dropLast()),
            field: "tensor 'tensor.BF16'.offset",
            reason: "tensor data runs past the end of the file"),
        MalformedCase(
            label: "misaligned tensor offset",
            bytes: built {
                $0.addTensor("a", dimensions: [8], type: .f32)
                $0.addTensor("b", dimensions: [4], type: .f32, offset: 16)
            },
            field: "tensor 'b'.offset", reason: "tensor offset is not aligned"),
        MalformedCase(
            label: "overlapping tensors",
            bytes: built {
                $0.addTensor("a", dimensions: [16], type: .f32)
                $0.addTensor("b", dimensions: [8], type: .f32, offset: 32)
            },
            field: "tensor 'b'.offset", reason: "tensor data overlaps another tensor"),
        MalformedCase(
            label: "duplicate tensor name",
            bytes: built {
                $0.addTensor("w", dimensions: [8], type: .f32)
                $0.addTensor("w", dimensions: [8], type: .f32)
            },
            field: "tensor[1].name", reason: "duplicate tensor name"),
        MalformedCase(
            label: "element count overflows",
            bytes: built {
                $0.addRawTensor(
                    name: "w", dimensions: [32, 1 << 32, 1 << 32], typeID: 0, offset: 0)
            },
            field: "tensor 'w'.dims", reason: "element count overflows"),
        MalformedCase(
            label: "byte size overflows",
            bytes: built {
                $0.addRawTensor(name: "w", dimensions: [1 << 62], typeID: 0, offset: 0)
            },
            field: "tensor 'w'.dims", reason: "tensor size overflows"),
        MalformedCase(
            label: "tensor type 4 (removed Q4_2)",
            bytes: built { $0.addRawTensor(name: "w", dimensions: [32], typeID: 4, offset: 0) },
            field: "tensor 'w'.type", reason: "unsupported tensor type"),
        MalformedCase(
            label: "tensor type 2^32-1",
            bytes: built { $0.addRawTensor(name: "w", dimensions: [32], typeID: .max, offset: 0) },
            field: "tensor 'w'.type", reason: "unsupported tensor type"),
        MalformedCase(
            label: "ne0 not a multiple of the block",
            bytes: built { $0.addRawTensor(name: "w", dimensions: [33], typeID: 8, offset: 0) },
            field: "tensor 'w'.dims[0]", reason: "rows do not hold whole blocks"),
        MalformedCase(
            label: "no dimensions",
            bytes: built { $0.addRawTensor(name: "w", dimensions: [], typeID: 0, offset: 0) },
            field: "tensor 'w'.n_dims", reason: "bad dimension count"),
        MalformedCase(
            label: "five dimensions",
            bytes: built {
                $0.addRawTensor(name: "w", dimensions: [1, 1, 1, 1, 1], typeID: 0, offset: 0)
            },
            field: "tensor 'w'.n_dims", reason: "bad dimension count"),
        MalformedCase(
            label: "zero dimension",
            bytes: built { $0.addRawTensor(name: "w", dimensions: [4, 0], typeID: 0, offset: 0) },
            field: "tensor 'w'.dims[1]", reason: "bad dimension"),
        MalformedCase(
            label: "dimension above Int.max",
            bytes: built {
                $0.addRawTensor(name: "w", dimensions: [1 << 63], typeID: 0, offset: 0)
            },
            field: "tensor 'w'.dims[0]", reason: "bad dimension"),
    ]

    static let allCases = headerCases + metadataCases + utf8Cases + alignmentCases + tensorCases

    // MARK: Tests

    @Test(arguments: allCases)
    func throwsNamingTheField(_ malformed: MalformedCase) {
        let error = #expect(throws: GGUFError.self) {
            _ = try GGUFFile(bytes: malformed.bytes, name: "bad.gguf")
        }
        #expect(error?.file == "bad.gguf")
        #expect(error?.field == malformed.field, "\(error.map(String.init(describing:)) ?? "")")
        #expect(error?.reason == malformed.reason, "\(error.map(String.init(describing:)) ?? "")")
        #expect(error?.value.isEmpty == false)
        #expect(error?.limit.isEmpty == false)
    }

    /// Every proper prefix of a valid file must be refused, with an error.
    @Test func everyPrefixOfAValidFileThrows() throws {
        _ = try GGUFFile(bytes: Self.sample, name: "whole")
        var accepted: [Int] = []
        for length in 0..<Self.sample.count {
            do {
                _ = try GGUFFile(bytes: Array(Self.sample[..<length]), name: "prefix")
                accepted.append(length)
            } catch {
                #expect(error.file == "prefix")
            }
        }
        #expect(accepted.isEmpty, "prefixes accepted: \(accepted.prefix(8))")
    }

    /// Corrupts bytes of a valid file at deterministic pseudo-random places;
    /// each result must be read or refused, never crash or hang.
    @Test func corruptedBytesNeverCrash() {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        var refused = 0
        let rounds = 3000
        for _ in 0..<rounds {
            var bytes = Self.sample
            for _ in 0..<3 {
                // xorshift64: a fixed sequence, so a failure can be replayed.
                state ^= state << 13
                state ^= state >> 7
                state ^= state << 17
                // Most structure sits in the first kilobyte; aim there half the time.
                let span = state & 1 == 0 ? min(1024, bytes.count) : bytes.count
                let position = Int((state >> 8) % UInt64(span))
                bytes[position] = UInt8(truncatingIfNeeded: state >> 40)
            }
            if (try? GGUFFile(bytes: bytes, name: "fuzz")) == nil { refused += 1 }
        }
        // Many corruptions land in data or values and are legal; many are not.
        #expect(refused > 0 && refused < rounds)
    }
}
