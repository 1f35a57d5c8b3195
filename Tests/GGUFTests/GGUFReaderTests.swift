import Foundation
import GGUF
import Testing

/// Well-formed files built in code: every value type, nested arrays, tensor
/// layout and data, typed look-ups.
struct GGUFReaderTests {
    /// One value of every metadata type, plus nested and empty arrays.
    static let everyValue: [(String, GGUFValue)] = [
        ("t.uint8", .uint8(200)),
        ("t.int8", .int8(-100)),
        ("t.uint16", .uint16(60_000)),
        ("t.int16", .int16(-30_000)),
        ("t.uint32", .uint32(4_000_000_000)),
        ("t.int32", .int32(-2_000_000_000)),
        ("t.uint64", .uint64(UInt64.max)),
        ("t.int64", .int64(Int64.min)),
        ("t.float32", .float32(-1.5)),
        ("t.float64", .float64(1e300)),
        ("t.bool.true", .bool(true)),
        ("t.bool.false", .bool(false)),
        ("t.string", .string("héllo, wörld ✓")),
        ("t.string.empty", .string("")),
        ("t.array.ints", .array([.int32(1), .int32(-2), .int32(3)])),
        ("t.array.strings", .array([.string("a"), .string(""), .string("ccc")])),
        ("t.array.empty", .array([])),
        ("t.array.nested", .array([.array([.uint8(1), .uint8(2)]), .array([.uint8(3)])])),
        ("t.array.deep", .array([.array([.array([.float64(0.25)])])])),
    ]

    /// A small model: metadata of every type and one tensor of every type.
    static func sampleFile(version: UInt32) -> GGUFBuilder {
        var builder = GGUFBuilder()
        builder.version = version
        builder.add("general.architecture", .string("llama"))
        for (key, value) in everyValue {
            builder.add(key, value)
        }
        for (index, type) in GGMLType.allCases.enumerated() {
            builder.addTensor("tensor.\(type.name)", dimensions: [64, index + 1], type: type)
        }
        return builder
    }

    @Test(arguments: [UInt32(2), 3])
    func readsEveryValueType(version: UInt32) throws {
        let file = try GGUFFile(bytes: Self.sampleFile(version: version).build(), name: "sample")

        #expect(file.version == version)
        #expect(file.alignment == 32)
        #expect(file.metadata.count == Self.everyValue.count + 1)
        for (key, value) in Self.everyValue {
            #expect(file.metadata[key] == value, "\(key)")
        }
    }

    @Test(arguments: [UInt32(2), 3])
    func roundTripsTensorInfosAndData(version: UInt32) throws {
        let builder = Self.sampleFile(version: version)
        let bytes = builder.build()
        let file = try GGUFFile(bytes: bytes, name: "sample")

        #expect(file.fileSizeBytes == bytes.count)
        #expect(file.tensors.count == GGMLType.allCases.count)
        for (index, (info, built)) in zip(file.tensors, builder.tensors).enumerated() {
            let type = GGMLType.allCases[index]
            #expect(info.name == "tensor.\(type.name)")
            #expect(info.type == type)
            #expect(info.dimensions == [64, index + 1])
            #expect(info.elementCount == 64 * (index + 1))
            #expect(info.sizeBytes == 64 / type.blockElements * type.blockBytes * (index + 1))
            #expect(info.rowCount == index + 1)
            #expect(info.offsetBytes % file.alignment == 0)
            #expect(Array(file.data(of: info)) == built.data)
            #expect(file.tensor(named: info.name) == info)
        }
        #expect(file.tensor(named: "absent") == nil)
    }

    @Test func honoursAlignment() throws {
        var builder = GGUFBuilder()
        builder.setAlignment(64)
        builder.addTensor("a", dimensions: [3], type: .f32)
        builder.addTensor("b", dimensions: [5], type: .f16)
        let file = try GGUFFile(bytes: builder.build(), name: "aligned")

        #expect(file.alignment == 64)
        #expect(file.dataOffsetBytes % 64 == 0)
        #expect(
            file.tensors.map(\.offsetBytes) == [file.dataOffsetBytes, file.dataOffsetBytes + 64])
        #expect(Array(file.data(of: file.tensors[1])) == builder.tensors[1].data)
    }

    @Test func readsF32TensorValues() throws {
        let values: [Float] = [0, 1, -2.5, .pi, -0.0, 1e-30]
        var builder = GGUFBuilder()
        builder.addTensor("w", dimensions: [3, 2], floats: values)
        let file = try GGUFFile(bytes: builder.build(), name: "floats")

        let tensor = try #require(file.tensor(named: "w"))
        let data = file.data(of: tensor)
        let read = (0..<tensor.elementCount).map { index in
            Float(
                bitPattern: UInt32(
                    littleEndian: data.loadUnaligned(
                        fromByteOffset: index * 4, as: UInt32.self)))
        }
        #expect(read.map(\.bitPattern) == values.map(\.bitPattern))
        #expect(tensor.rowBytes == 12)
    }

    @Test func readsAFileWithNothingInIt() throws {
        let file = try GGUFFile(bytes: GGUFBuilder().build(), name: "empty")
        #expect(file.metadata.isEmpty)
        #expect(file.tensors.isEmpty)
        #expect(file.fileSizeBytes == 24)
    }

    @Test func typedLookUps() throws {
        let file = try GGUFFile(bytes: Self.sampleFile(version: 3).build(), name: "sample")

        #expect(try file.string("general.architecture") == "llama")
        #expect(try file.int("t.uint8") == 200)
        #expect(try file.int("t.int64") == Int(Int64.min))
        #expect(try file.int("t.uint32") == 4_000_000_000)
        #expect(try file.float("t.float32") == -1.5)
        #expect(try file.float("t.int32") == -2e9)
        #expect(try file.bool("t.bool.true"))
        #expect(try file.strings("t.array.strings") == ["a", "", "ccc"])
        #expect(try file.ints("t.array.ints") == [1, -2, 3])
        #expect(try file.floats("t.array.ints") == [1, -2, 3])
        #expect(try file.strings("t.array.empty") == [])
    }

    /// Look-ups that must fail, and the reason they must give.
    static let badLookUps: [(String, String, String)] = [
        ("string", "missing.key", "missing metadata key"),
        ("string", "t.uint8", "metadata value has the wrong type"),
        ("int", "t.string", "metadata value has the wrong type"),
        ("int", "t.uint64", "integer out of range"),
        ("float", "t.float64", "float out of range"),
        ("float", "t.bool.true", "metadata value has the wrong type"),
        ("bool", "t.uint8", "metadata value has the wrong type"),
        ("strings", "t.array.ints", "metadata value has the wrong type"),
        ("ints", "t.array.strings", "metadata value has the wrong type"),
        ("floats", "t.string", "metadata value has the wrong type"),
    ]

    @Test(arguments: badLookUps)
    func typedLookUpsThrowNamingTheKey(method: String, key: String, reason: String) throws {
        let file = try GGUFFile(bytes: Self.sampleFile(version: 3).build(), name: "sample")
        let error = #expect(throws: GGUFError.self) {
            switch method {
            case "string": _ = try file.string(key)
            case "int": _ = try file.int(key)
            case "float": _ = try file.float(key)
            case "bool": _ = try file.bool(key)
            case "strings": _ = try file.strings(key)
            case "ints": _ = try file.ints(key)
            default: _ = try file.floats(key)
            }
        }
        #expect(error?.reason == reason)
        #expect(error?.field.hasPrefix("metadata '\(key)'") == true)
        #expect(error?.file == "sample")
    }

    @Test func errorDescriptionIsOneLine() {
        let error = GGUFError(
            file: "m.gguf", field: "header.n_kv", value: "9", limit: "<= 8", reason: "too many")
        #expect(error.description == "m.gguf: header.n_kv = 9: too many (limit: <= 8)")
    }
}

/// Files on disk, read through `GGUFFile(path:)`; each test works in its own
/// temporary folder.
struct GGUFMappedFileTests {
    /// A fresh temporary folder, removed by the caller.
    static func temporaryFolder() throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("gguf-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test func mappedFileMatchesTheBytes() throws {
        let folder = try Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let bytes = GGUFReaderTests.sampleFile(version: 3).build()
        let path = folder.appendingPathComponent("sample.gguf").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))

        let mapped = try GGUFFile(path: path)
        let copied = try GGUFFile(bytes: bytes, name: "copy")
        #expect(mapped.name == path)
        #expect(mapped.fileSizeBytes == bytes.count)
        #expect(mapped.metadata == copied.metadata)
        #expect(mapped.tensors == copied.tensors)
        for tensor in mapped.tensors {
            #expect(Array(mapped.data(of: tensor)) == Array(copied.data(of: tensor)))
        }
    }

    /// Paths that are not readable GGUF files, and the error each gives.
    static let badPaths: [(String, String, String)] = [
        ("missing.gguf", "file", "cannot open the file"),
        ("folder", "file", "not a regular file"),
        ("fifo", "file", "not a regular file"),
        ("/dev/null", "file", "not a regular file"),
        ("empty.gguf", "header.magic", "not a GGUF file"),
    ]

    /// Opening a FIFO for reading would block if done naively; the reader
    /// opens with O_NONBLOCK and refuses anything but a regular file.
    @Test(arguments: badPaths)
    func badPathsThrow(name: String, field: String, reason: String) throws {
        let folder = try Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.createDirectory(
            at: folder.appendingPathComponent("folder"), withIntermediateDirectories: true)
        try Data().write(to: folder.appendingPathComponent("empty.gguf"))
        #expect(mkfifo(folder.appendingPathComponent("fifo").path, 0o600) == 0)
        let path = name.hasPrefix("/") ? name : folder.appendingPathComponent(name).path

        let error = #expect(throws: GGUFError.self) { _ = try GGUFFile(path: path) }
        #expect(error?.file == path)
        #expect(error?.field == field)
        #expect(error?.reason == reason)
    }
}
