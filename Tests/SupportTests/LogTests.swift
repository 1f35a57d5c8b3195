import Support
import Testing

/// Every log event stays on one line, whatever its values hold.
@Suite("Log: field values")
struct LogTests {
    @Test("a one-word value is written as is")
    func plain() {
        #expect(Log.render("speculation.sqlite") == "speculation.sqlite")
        #expect(Log.render(42) == "42")
    }

    @Test("a value with spaces, quotes or line breaks is quoted and escaped")
    func quoted() {
        #expect(Log.render("a b") == "\"a b\"")
        #expect(Log.render("") == "\"\"")
        #expect(Log.render("k=v") == "\"k=v\"")
        let sql = "SELECT 1\nFROM \"t\"\twhere x = '\\'"
        let line = Log.render(sql)
        #expect(line == #""SELECT 1\nFROM \"t\"\twhere x = '\\'""#)
        #expect(!line.contains("\n"))
        #expect(Log.render("bell\u{7}") == #""bell\u{7}""#)
    }
}
