import Database
import Foundation
import Inference
import Support
import Testing

/// Persona memory: learned from replies, kept across restarts, bounded, and
/// each persona's alone.
@Suite("Speculation: persona memory")
struct SpeculationMemoryTests {
    /// A fresh folder per test, removed at the end.
    final class Scratch {
        let url: URL

        init() throws {
            url = FileManager.default.temporaryDirectory
                .appendingPathComponent("asth-memory-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        }

        deinit {
            try? FileManager.default.removeItem(at: url)
        }

        var database: String { url.appendingPathComponent("speculation.sqlite").path }
    }

    /// The chat template's tail before a reply, then a pirate's habit.
    static let opening = [1, 9, 198]
    static let greeting = [700, 701, 702, 703, 704, 705]

    @Test("a reply is predicted after its opening, and again after reopening the file")
    func survivesReopen() throws {
        let scratch = try Scratch()
        do {
            let store = try PersonaMemoryStore(path: scratch.database)
            let memory = try store.memory(persona: "pirate", model: "m", vocabularySize: 1000)
            try memory.learn(reply: Self.greeting, after: [50, 51] + Self.opening)
            #expect(memory.predict(after: Self.opening, countMax: 6) == Self.greeting)
        }
        let reopened = try PersonaMemoryStore(path: scratch.database)
        let memory = try reopened.memory(persona: "pirate", model: "m", vocabularySize: 1000)
        #expect(memory.predict(after: [77] + Self.opening, countMax: 6) == Self.greeting)
        #expect(memory.predict(after: Self.opening + [700, 701], countMax: 2) == [702, 703])
    }

    @Test("one persona's replies never surface in another's drafts")
    func isolation() throws {
        let scratch = try Scratch()
        let store = try PersonaMemoryStore(path: scratch.database)
        let pirate = try store.memory(persona: "pirate", model: "m", vocabularySize: 1000)
        try pirate.learn(reply: Self.greeting, after: Self.opening)
        let tutor = try store.memory(persona: "tutor", model: "m", vocabularySize: 1000)
        let otherModel = try store.memory(persona: "pirate", model: "n", vocabularySize: 1000)
        #expect(tutor.predict(after: Self.opening, countMax: 4).isEmpty)
        #expect(otherModel.predict(after: Self.opening, countMax: 4).isEmpty)
        #expect(try store.rowCount(persona: "tutor") == 0)

        // After a restart, too, and after the tutor learns its own text.
        let reopened = try PersonaMemoryStore(path: scratch.database)
        let tutorAgain = try reopened.memory(persona: "tutor", model: "m", vocabularySize: 1000)
        try tutorAgain.learn(reply: [300, 301, 302], after: Self.opening)
        #expect(tutorAgain.predict(after: Self.opening, countMax: 3) == [300, 301, 302])
        let pirateAgain = try reopened.memory(persona: "pirate", model: "m", vocabularySize: 1000)
        #expect(pirateAgain.predict(after: Self.opening, countMax: 6) == Self.greeting)
    }

    @Test("the table stays within its bound, in memory and on disk")
    func bounded() throws {
        let scratch = try Scratch()
        let store = try PersonaMemoryStore(path: scratch.database)
        let memory = try store.memory(
            persona: "chatty", model: "m", vocabularySize: 5000, entriesMax: 200)
        var random = SplitMix64(seed: 3)
        for _ in 0..<40 {
            let reply = (0..<30).map { _ in Int(random.next() % 5000) }
            try memory.learn(reply: reply, after: Self.opening)
            #expect(memory.entryCount <= 200)
        }
        #expect(try store.rowCount(persona: "chatty") <= 200)

        // The habit learned often outlives the noise learned once.
        for _ in 0..<3 {
            try memory.learn(reply: Self.greeting, after: Self.opening)
        }
        for _ in 0..<20 {
            let reply = (0..<30).map { _ in Int(random.next() % 5000) }
            try memory.learn(reply: reply, after: [2, 3, 4])
        }
        #expect(memory.predict(after: Self.opening, countMax: 6) == Self.greeting)
    }

    /// The pirate's memory of its greeting, the file then edited by `sql`
    /// and loaded again; with a connection to the file.
    static func tampered(_ scratch: Scratch, _ sql: String) throws
        -> (PersonaMemory, SQLiteConnection)
    {
        do {
            let store = try PersonaMemoryStore(path: scratch.database)
            let memory = try store.memory(persona: "pirate", model: "m", vocabularySize: 1000)
            try memory.learn(reply: Self.greeting, after: Self.opening)
        }
        let db = try SQLiteConnection(path: scratch.database)
        try db.execute(sql)
        let store = try PersonaMemoryStore(path: scratch.database)
        return (try store.memory(persona: "pirate", model: "m", vocabularySize: 1000), db)
    }

    @Test("rows a table could not have written, or past the vocabulary, are deleted")
    func damagedFile() throws {
        let scratch = try Scratch()
        let (memory, db) = try Self.tampered(
            scratch,
            """
            UPDATE speculation_memory SET count = -4 WHERE successor = 700;
            INSERT INTO speculation_memory VALUES ('pirate', 'm', 12345, 5, 1, 1);
            UPDATE speculation_memory SET successor = 900000 WHERE successor = 703;
            """)
        #expect(memory.predict(after: Self.opening, countMax: 4).isEmpty, "700 was skipped")
        #expect(memory.predict(after: Self.opening + [700, 701], countMax: 4) == [702])
        let left = try db.first(
            """
            SELECT count(*) FROM speculation_memory
            WHERE count < 0 OR context = 12345 OR successor >= 1000
            """)
        #expect(left?.int(0) == 0, "the damaged rows left the file")
    }

    @Test("counts and rounds at the edge of Int64 are deleted, and learning goes on")
    func overflowingRows() throws {
        let scratch = try Scratch()
        let (memory, db) = try Self.tampered(
            scratch,
            """
            UPDATE speculation_memory SET round = 9223372036854775807 WHERE successor = 700;
            UPDATE speculation_memory SET count = 9223372036854775807 WHERE successor = 702;
            """)
        #expect(memory.predict(after: Self.opening, countMax: 4).isEmpty, "700 was skipped")
        try memory.learn(reply: Self.greeting, after: Self.opening)
        try memory.learn(reply: Self.greeting, after: Self.opening)
        #expect(memory.predict(after: Self.opening, countMax: 6) == Self.greeting)
        let left = try db.first(
            "SELECT max(count), max(round) FROM speculation_memory WHERE persona = 'pirate'")
        #expect((left?.int(0) ?? .max) < 100 && (left?.int(1) ?? .max) < 100)
    }

    @Test("a file holding more rows than the bound is trimmed to it on load")
    func trimmedOnLoad() throws {
        let scratch = try Scratch()
        do {
            let store = try PersonaMemoryStore(path: scratch.database)
            let memory = try store.memory(persona: "chatty", model: "m", vocabularySize: 5000)
            var random = SplitMix64(seed: 5)
            let reply = (0..<300).map { _ in Int(random.next() % 5000) }
            try memory.learn(reply: reply, after: Self.opening)
            try memory.learn(reply: Self.greeting, after: Self.opening)
            try memory.learn(reply: Self.greeting, after: Self.opening)
            let other = try store.memory(persona: "quiet", model: "m", vocabularySize: 5000)
            try other.learn(reply: Self.greeting, after: Self.opening)
        }
        let store = try PersonaMemoryStore(path: scratch.database)
        let quietRows = try store.rowCount(persona: "quiet")
        #expect(try store.rowCount(persona: "chatty") > 1000)
        let memory = try store.memory(
            persona: "chatty", model: "m", vocabularySize: 5000, entriesMax: 100)
        #expect(memory.entryCount == 100)
        #expect(try store.rowCount(persona: "chatty") == 100)
        #expect(try store.rowCount(persona: "quiet") == quietRows, "other personas untouched")
        let db = try SQLiteConnection(path: scratch.database)
        #expect(try db.first("PRAGMA freelist_count")?.int(0) == 0, "the freed pages went back")
        #expect(memory.predict(after: Self.opening, countMax: 6) == Self.greeting)
    }

    @Test("a save the file refuses (locked by another process) rides with the next one")
    func lockedFile() throws {
        let scratch = try Scratch()
        let store = try PersonaMemoryStore(path: scratch.database)
        let memory = try store.memory(persona: "pirate", model: "m", vocabularySize: 1000)
        let other = try SQLiteConnection(path: scratch.database)
        try other.execute("BEGIN EXCLUSIVE")
        #expect(throws: (any Error).self) {
            try memory.learn(reply: Self.greeting, after: Self.opening)
        }
        // Drafting goes on from the table in memory meanwhile.
        #expect(memory.predict(after: Self.opening, countMax: 6) == Self.greeting)
        try other.execute("COMMIT")

        try memory.learn(reply: [300, 301], after: [5, 6, 7])
        let reopened = try PersonaMemoryStore(path: scratch.database)
        let again = try reopened.memory(persona: "pirate", model: "m", vocabularySize: 1000)
        #expect(again.predict(after: Self.opening, countMax: 6) == Self.greeting)
        #expect(again.predict(after: [5, 6, 7], countMax: 2) == [300, 301])
    }

    @Test("empty and overlong names are refused with the field")
    func names() throws {
        let scratch = try Scratch()
        let store = try PersonaMemoryStore(path: scratch.database)
        #expect(throws: SpeculationError.badMemoryName(field: "persona", value: "", limit: 256)) {
            try store.memory(persona: "", model: "m", vocabularySize: 10)
        }
        let long = String(repeating: "m", count: 257)
        #expect(throws: SpeculationError.self) {
            try store.memory(persona: "p", model: long, vocabularySize: 10)
        }
    }

    @Test("the memory drafter learns from a finished reply through the generator")
    func learnsThroughGenerator() throws {
        let device = MarkovDevice(table: SpeculationSamplingTests.table)
        let memory = PersonaMemory.inMemory(persona: "p", model: "markov", vocabularySize: 5)
        let drafter = MemoryDrafter(memory: memory)
        let governor = SpeculationGovernor(costModel: FixedCostModel(base: 1, perRow: 0))
        func reply() throws -> GenerationStats {
            let sequence = TokenSequence(cache: device.makeCache(capacity: 64))
            var sampler = Sampler(settings: .greedy)
            return try Generator(
                device: device, speculator: Speculator(drafter: drafter, governor: governor)
            ).generate(
                prompt: [3, 2, 4], on: sequence, maxTokens: 12, sampler: &sampler, stopIDs: []
            ) {
                _ in true
            }
        }
        let first = try reply()
        let second = try reply()
        #expect(first.acceptedTokens < second.acceptedTokens)
        #expect(second.dispatches < first.dispatches)
        #expect(memory.entryCount > 0)
    }
}
