import Testing

@testable import Personas

/// The toml++ shim: every TOML type and position comes through the JSON,
/// and hostile text ends as a failure, never a crash.
@Suite struct TOMLDocumentTests {
    /// Generous limits, so that each test meets only the one it is about.
    static let bytesMax = 1 << 20
    static let depthMax = 8

    static func parse(_ text: String, depthMax: Int = depthMax) throws(TOMLFailure) -> TOMLNode {
        try TOMLDocument.parse(Array(text.utf8), bytesMax: bytesMax, depthMax: depthMax)
    }

    static func entries(_ text: String) throws -> [String: TOMLNode] {
        guard case .table(let entries) = try parse(text).value else {
            Issue.record("the root is not a table")
            return [:]
        }
        return entries
    }

    /// One scalar per line: its type, value and the key's line and column.
    @Test func scalarsKeepTypeValueAndPosition() throws {
        let text = """
            s = "caf\\u00e9 \\"quoted\\" \\t tab"
              i = -9223372036854775808
            j = 9223372036854775807
            f = 0.1
            b = true
            d = 1979-05-27
            t = 07:32:00.5
            dt = 1979-05-27T07:32:00-08:00
            z = 1979-05-27T07:32:00Z
            """
        let expected: [String: TOMLNode] = [
            "s": TOMLNode(line: 1, column: 1, value: .string("café \"quoted\" \t tab")),
            "i": TOMLNode(line: 2, column: 3, value: .integer(Int64.min)),
            "j": TOMLNode(line: 3, column: 1, value: .integer(Int64.max)),
            "f": TOMLNode(line: 4, column: 1, value: .float(0.1)),
            "b": TOMLNode(line: 5, column: 1, value: .boolean(true)),
            "d": TOMLNode(line: 6, column: 1, value: .date("1979-05-27")),
            "t": TOMLNode(line: 7, column: 1, value: .time("07:32:00.5")),
            "dt": TOMLNode(line: 8, column: 1, value: .dateTime("1979-05-27T07:32:00-08:00")),
            "z": TOMLNode(line: 9, column: 1, value: .dateTime("1979-05-27T07:32:00Z")),
        ]
        #expect(try Self.entries(text) == expected)
    }

    /// Floats JSON cannot spell, and the extremes of the finite ones.
    @Test(arguments: [
        ("inf", Double.infinity), ("-inf", -Double.infinity),
        ("1.7976931348623157e308", .greatestFiniteMagnitude),
        ("5e-324", Double.leastNonzeroMagnitude), ("-0.0", -0.0), ("3.14159", 3.14159),
    ])
    func floatsRoundTrip(spelling: String, expected: Double) throws {
        let node = try Self.entries("x = \(spelling)")["x"]
        guard case .float(let value)? = node?.value else {
            Issue.record("x is not a float: \(String(describing: node))")
            return
        }
        #expect(value == expected)
        #expect(value.sign == expected.sign)
    }

    @Test func notANumberComesThrough() throws {
        guard case .float(let value)? = try Self.entries("x = nan")["x"]?.value else {
            Issue.record("x is not a float")
            return
        }
        #expect(value.isNaN)
    }

    /// Control characters and non-ASCII text survive the JSON escaping.
    @Test func stringsSurviveEscaping() throws {
        let text = #"s = "a\u0000b\u001fc\u007f \\ / 😀 ""#
        #expect(try Self.entries(text)["s"]?.value == .string("a\u{0}b\u{1f}c\u{7f} \\ / 😀 "))
    }

    /// Tables and arrays nest, each entry at its key and each element at
    /// its own position.
    @Test func nestedPositions() throws {
        let text = """
            top = 1
            [sampling]
              temperature = 0.5
            [[runs]]
            list = [1,
               2]
            """
        let entries = try Self.entries(text)
        guard case .table(let sampling)? = entries["sampling"]?.value else {
            Issue.record("sampling is not a table")
            return
        }
        #expect(entries["sampling"]?.line == 2)
        #expect(sampling["temperature"] == TOMLNode(line: 3, column: 3, value: .float(0.5)))

        guard case .array(let runs)? = entries["runs"]?.value,
            case .table(let run) = runs.first?.value
        else {
            Issue.record("runs is not an array of tables")
            return
        }
        guard case .array(let list)? = run["list"]?.value else {
            Issue.record("runs[0].list is not an array")
            return
        }
        #expect(run["list"]?.line == 5)
        #expect(
            list == [
                TOMLNode(line: 5, column: 9, value: .integer(1)),
                TOMLNode(line: 6, column: 4, value: .integer(2)),
            ])
    }

    /// Syntax, encoding and redefinition errors carry toml++'s message and
    /// the line where it stopped.
    @Test(arguments: [
        ("a = 1\nb = \n", 2, "expected"),
        ("a = 1\na = 2\n", 2, "'a'"),
        ("[s]\nx = 1\n[s]\n", 3, "'s'"),
        ("a = \"unterminated\n", 1, "string"),
    ])
    func syntaxErrorsCarryPosition(text: String, line: Int, mention: String) {
        #expect {
            _ = try Self.parse(text)
        } throws: { error in
            guard case .syntax(let message, let foundLine, let column) = error as? TOMLFailure
            else {
                return false
            }
            return foundLine == line && column > 0 && message.contains(mention)
        }
    }

    @Test func invalidUTF8IsASyntaxError() {
        let bytes: [UInt8] = Array("a = 1\nb = \"x".utf8) + [0xFF, 0xFE] + Array("\"\n".utf8)
        #expect {
            _ = try TOMLDocument.parse(bytes, bytesMax: Self.bytesMax, depthMax: Self.depthMax)
        } throws: { error in
            guard case .syntax(let message, let line, _) = error as? TOMLFailure else {
                return false
            }
            return line == 2 && message.lowercased().contains("utf-8")
        }
    }

    @Test func textOverTheLimitIsRefusedUnparsed() {
        #expect(throws: TOMLFailure.tooLarge(bytes: 11, bytesMax: 10)) {
            try TOMLDocument.parse(Array("a = 123456\n".utf8), bytesMax: 10, depthMax: 8)
        }
    }

    /// The depth counts tables and arrays along a path, the root included:
    /// `a.b = 1` is two deep (root, `a`), since `b` holds a plain value.
    @Test(arguments: [
        ("a.b = 1", 2, true), ("a.b.c = 1", 2, false), ("x = [[1]]", 3, true),
        ("x = [[1]]", 2, false),
        ("[a.b]\nc = 1", 3, true), ("[a.b]\nc = {d = 1}", 3, false),
    ])
    func depthIsBounded(text: String, depthMax: Int, accepted: Bool) {
        let result = Result { () throws(TOMLFailure) in try Self.parse(text, depthMax: depthMax) }
        switch result {
        case .success: #expect(accepted)
        case .failure(.tooDeep): #expect(!accepted)
        case .failure(let other): Issue.record("unexpected failure \(other)")
        }
    }

    @Test func tooDeepNamesTheKeyAndPosition() {
        #expect(throws: TOMLFailure.tooDeep(key: "outer.x[0]", line: 2, column: 12, depthMax: 3)) {
            try Self.parse("ok = 1\nouter.x = [[1]]\n", depthMax: 3)
        }
    }

    /// 128 Ki levels of dotted keys fill a 256 KiB file; toml++ builds them
    /// without recursion but destroys them recursively, so this crashes
    /// unless the shim's parser thread has the stack for it.
    @Test(arguments: [false, true])
    func hostileDepthFailsWithoutCrashing(endsInSyntaxError: Bool) {
        let levels = 128 << 10
        var text = String(repeating: "a.", count: levels) + "a = 1\n"
        if endsInSyntaxError { text += "!!!\n" }
        let result = Result { () throws(TOMLFailure) in
            try TOMLDocument.parse(Array(text.utf8), bytesMax: 1 << 20, depthMax: 8)
        }
        switch result {
        case .failure(.tooDeep(let key, let line, _, _)):
            #expect(!endsInSyntaxError)
            #expect(line == 1)
            #expect(key.hasPrefix("a.a.a"))
        case .failure(.syntax(_, let line, _)):
            #expect(endsInSyntaxError)
            #expect(line == 2)
        default:
            Issue.record("unexpected result \(result)")
        }
    }

    /// Nested inline arrays hit toml++'s own recursion limit first.
    @Test func hostileInlineNestingIsASyntaxError() {
        let text =
            "x = " + String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect {
            _ = try Self.parse(text)
        } throws: { error in
            if case .syntax = error as? TOMLFailure { return true }
            return false
        }
    }
}
