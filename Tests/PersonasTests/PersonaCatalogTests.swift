import Foundation
import Support
import Testing

@testable import Personas

/// Finding personas in folders: the search order, duplicate names, and
/// broken files that are reported without hiding the good ones.
@Suite struct PersonaCatalogTests {
    static func persona(_ description: String, name: String? = nil) -> String {
        let nameLine = name.map { "name = \"\($0)\"\n" } ?? ""
        return nameLine + "model = \"smollm2-135m-instruct\"\ndescription = \"\(description)\"\n"
    }

    // MARK: - Where the catalog looks

    @Test(arguments: [
        (["XDG_CONFIG_HOME": "/xdg", "HOME": "/home/u"], "/xdg/asthenosphere/personas"),
        (["HOME": "/home/u"], "/home/u/.config/asthenosphere/personas"),
        (["XDG_CONFIG_HOME": "", "HOME": "/home/u"], "/home/u/.config/asthenosphere/personas"),
        (
            ["XDG_CONFIG_HOME": "relative", "HOME": "/home/u"],
            "/home/u/.config/asthenosphere/personas"
        ),
    ])
    func standardSearchOrder(environment: [String: String], config: String) {
        let catalog = PersonaCatalog(environment: environment)
        #expect(catalog.directories == ["Personas", config])
        #expect(!catalog.isExplicit)
    }

    @Test func explicitFolderReplacesTheSearch() {
        let catalog = PersonaCatalog(personasDirectory: "/mine", environment: ["HOME": "/home/u"])
        #expect(catalog.directories == ["/mine"])
        #expect(catalog.isExplicit)
    }

    /// The same name in two folders: the first folder's file is used, the
    /// other reported as a duplicate naming the one that won.
    @Test func firstFolderWins() throws {
        let scratch = try ScratchFolder()
        let local = try scratch.folder("local")
        let config = try scratch.folder("config")
        let winner = try scratch.write("local/helper.toml", Self.persona("local"))
        let loser = try scratch.write("config/helper.toml", Self.persona("config"))
        try scratch.write("config/only-here.toml", Self.persona("config only"))

        let scan = PersonaCatalog(directories: [local, config]).scan()
        #expect(scan.personas.map(\.name) == ["helper", "only-here"])
        #expect(scan.personas.first?.description == "local")
        #expect(scan.files == [winner, loser, config + "/only-here.toml"])
        #expect(scan.issues.count == 1)
        let issue = try #require(scan.issues.first)
        #expect(issue.rule == .nameMustBeUnique)
        #expect(issue.file == loser)
        #expect(issue.description.contains("already defined by \(winner)"))
    }

    /// Within one folder, files are read by name; a `name` key can make two
    /// files claim the same persona.
    @Test func duplicateNameInOneFolder() throws {
        let scratch = try ScratchFolder()
        try scratch.write("a.toml", Self.persona("first"))
        let second = try scratch.write("b.toml", "\n" + Self.persona("second", name: "a"))

        let scan = PersonaCatalog(directories: [scratch.path]).scan()
        #expect(scan.personas.map(\.description) == ["first"])
        #expect(
            scan.issues.map(\.description) == [
                second + ":2: name = \"a\": already defined by \(scratch.path)/a.toml, "
                    + "which is the one used; rename one of them"
            ])
    }

    /// Only `*.toml` files directly in the folder; hidden files, other
    /// extensions and subfolders are not personas.
    @Test func onlyTomlFilesCount() throws {
        let scratch = try ScratchFolder()
        try scratch.write("real.toml", Self.persona("real"))
        try scratch.write(".hidden.toml", Self.persona("hidden"))
        try scratch.write("README.md", "# not a persona")
        try scratch.write("notes.toml.bak", "junk")
        try scratch.write("nested/deeper.toml", Self.persona("nested"))
        _ = try scratch.folder("folder.toml")

        let scan = PersonaCatalog(directories: [scratch.path]).scan()
        #expect(scan.personas.map(\.name) == ["real"])
        #expect(scan.issues == [])
    }

    @Test func missingFolders() throws {
        let scratch = try ScratchFolder()
        let absent = scratch.path + "/absent"

        // Searched by default: nothing there is nothing to report.
        #expect(PersonaCatalog(directories: [absent]).scan().issues == [])

        // Named by the user: a mistake worth saying.
        let issues = PersonaCatalog(personasDirectory: absent).check()
        #expect(issues.map(\.rule) == [.directoryMustExist])
        #expect(issues.first?.description.hasPrefix(absent + ": ") == true)
    }

    @Test func folderOverTheFileLimit() throws {
        let scratch = try ScratchFolder()
        let countMax = Limits.Personas.filesPerDirectoryMax
        for index in 0...countMax {
            let name = String(format: "p%05d.toml", index)
            try scratch.write(name, "model = \"m\"\n")
        }
        let scan = PersonaCatalog(directories: [scratch.path]).scan()
        #expect(scan.personas.count == countMax)
        #expect(scan.personas.last?.name == String(format: "p%05d", countMax - 1))
        #expect(scan.issues.map(\.rule) == [.directoryMustFitLimit])
    }

    // MARK: - Broken files

    /// A broken file is reported by `check` and skipped by `list`, and the
    /// good files around it are still there.
    @Test func brokenFileHidesNothing() throws {
        let scratch = try ScratchFolder()
        try scratch.write("a-good.toml", Self.persona("good"))
        let broken = try scratch.write("b-broken.toml", "model = \"m\"\n[sampling]\ntop_k = -3\n")
        try scratch.write("c-unparsable.toml", "model = \n")
        try scratch.write("d-good.toml", Self.persona("also good"))

        let catalog = PersonaCatalog(directories: [scratch.path])
        #expect(catalog.list().map(\.name) == ["a-good", "d-good"])
        let issues = catalog.check()
        #expect(issues.map(\.rule) == [.valueMustBeInRange, .tomlMustParse])
        #expect(issues.first?.description.hasPrefix(broken + ":3: sampling.top_k = -3") == true)
    }

    @Test func lookUp() throws {
        let scratch = try ScratchFolder()
        try scratch.write("pirate.toml", Self.persona("arr"))
        try scratch.write("named-file.toml", Self.persona("by key", name: "captain"))
        try scratch.write("broken.toml", "model = \"m\"\nmax_tokens = 0\n")
        let catalog = PersonaCatalog(directories: [scratch.path])

        // By stem and by `name` key.
        #expect(try catalog.persona(named: "pirate").description == "arr")
        #expect(try catalog.persona(named: "captain").description == "by key")

        // A broken file explains itself; an unknown name says where we looked.
        #expect {
            try catalog.persona(named: "broken")
        } throws: { error in
            guard case .invalid(let issues) = error as? PersonaError else { return false }
            return issues.map(\.key) == ["max_tokens"]
        }
        #expect(throws: PersonaError.notFound(name: "nobody", searched: [scratch.path])) {
            try catalog.persona(named: "nobody")
        }
        #expect(throws: PersonaError.notFound(name: "named-file", searched: [scratch.path])) {
            try catalog.persona(named: "named-file")
        }
    }

    /// `check FILE...`: each file on its own, then their names together.
    @Test func checkNamedFiles() throws {
        let scratch = try ScratchFolder()
        let one = try scratch.write("one/twin.toml", Self.persona("one"))
        let two = try scratch.write("two/twin.toml", Self.persona("two"))
        let missing = scratch.path + "/missing.toml"

        let scan = PersonaCatalog.scan(files: [one, two, missing])
        #expect(scan.personas.map(\.file) == [one])
        #expect(scan.issues.map(\.rule) == [.nameMustBeUnique, .fileMustBeReadable])
        #expect(
            scan.issues.last?.description == missing
                + ": cannot read the file: No such file or directory")
    }
}
