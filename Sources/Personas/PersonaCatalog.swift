import Foundation
import Support

/// The personas found in an ordered list of folders.
///
/// Every `*.toml` file directly in a folder is a persona (hidden files
/// aside), read in file-name order, folder by folder. A name defined twice
/// goes to the first file found; the later ones are reported. A broken file
/// is reported and skipped, never hiding the good ones.
public struct PersonaCatalog: Sendable {
    /// The folders searched, in order, as given: absolute, or relative to the
    /// working directory. Files are shown in messages under these spellings.
    public let directories: [String]
    /// Whether the folders were named by the user (`--personas DIR`): then a
    /// missing one is an issue rather than a folder with nothing in it.
    public let isExplicit: Bool

    /// A catalog over `directories`, searched in order.
    public init(directories: [String], isExplicit: Bool = false) {
        self.directories = directories
        self.isExplicit = isExplicit
    }

    /// The standard search: `personasDirectory` (from `--personas DIR`)
    /// alone when given; otherwise `Personas` in the working directory, then
    /// `$XDG_CONFIG_HOME/asthenosphere/personas`, or
    /// `~/.config/asthenosphere/personas` when that variable is unset.
    public init(
        personasDirectory: String? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) {
        if let personasDirectory {
            self.init(directories: [personasDirectory], isExplicit: true)
        } else {
            self.init(directories: Self.standardDirectories(environment: environment))
        }
    }

    /// `Personas`, then the user's configuration folder. The XDG base
    /// directory rules ignore a relative `XDG_CONFIG_HOME`, and so do we.
    public static func standardDirectories(environment: [String: String]) -> [String] {
        let config: String
        if let xdg = environment["XDG_CONFIG_HOME"], xdg.hasPrefix("/") {
            config = xdg
        } else {
            config = (environment["HOME"] ?? NSHomeDirectory()) + "/.config"
        }
        return ["Personas", config + "/asthenosphere/personas"]
    }

    // MARK: - Questions

    /// Every file in the folders, read and checked.
    public func scan() -> PersonaScan {
        var files: [String] = []
        var folderIssues: [PersonaIssue] = []
        for directory in directories {
            let found = Self.personaFiles(in: directory, mustExist: isExplicit)
            files += found.paths
            if let issue = found.issue { folderIssues.append(issue) }
        }
        var scan = Self.scan(files: files)
        scan.issues = folderIssues + scan.issues
        scan.directories = directories
        PersonaFile.log.info(
            "scan",
            [
                "folders": directories.count, "personas": scan.personas.count,
                "issues": scan.issues.count,
            ])
        return scan
    }

    /// The usable personas, one per name, in search order.
    public func list() -> [Persona] {
        scan().personas
    }

    /// Every problem in the folders: broken files, duplicate names, a missing
    /// `--personas` folder. Empty when all is well.
    public func check() -> [PersonaIssue] {
        scan().issues
    }

    /// The persona called `name`.
    ///
    /// - Throws: `PersonaError.invalid` with the file's issues when the file
    ///   that claims the name is broken; `.notFound` when no file claims it.
    public func persona(named name: String) throws(PersonaError) -> Persona {
        let scan = scan()
        if let persona = scan.personas.first(where: { $0.name == name }) { return persona }
        if let issues = scan.brokenByName[name] { throw .invalid(issues) }
        throw .notFound(name: name, searched: directories)
    }

    /// Reads and checks the given files, as `asth personas check FILE...`
    /// does: each on its own, then their names against each other.
    public static func scan(files: [String]) -> PersonaScan {
        var scan = PersonaScan()
        var owners: [String: String] = [:]
        for file in files {
            let outcome = PersonaFile.load(path: file)
            scan.files.append(file)
            scan.issues += outcome.issues
            guard let persona = outcome.persona else {
                if scan.brokenByName[outcome.claimedName] == nil {
                    scan.brokenByName[outcome.claimedName] = outcome.issues
                }
                continue
            }

            // The first file to define a name keeps it.
            if let owner = owners[persona.name] {
                scan.issues.append(duplicate(persona, of: owner, line: outcome.nameLine))
                continue
            }
            owners[persona.name] = file
            scan.personas.append(persona)
        }
        return scan
    }

    // MARK: - Folders

    /// The persona files directly in `directory`, in file-name order: the
    /// first `Limits.Personas.filesPerDirectoryMax` of them, and the issue
    /// when there are more, or when the folder cannot be listed.
    static func personaFiles(
        in directory: String, mustExist: Bool
    ) -> (paths: [String], issue: PersonaIssue?) {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isFolder),
            isFolder.boolValue
        else {
            guard mustExist else { return ([], nil) }
            let issue = PersonaIssue(
                file: directory, rule: .directoryMustExist,
                message: "no such folder; --personas names a folder of persona files")
            return ([], issue)
        }
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch {
            let issue = PersonaIssue(
                file: directory, rule: .fileMustBeReadable,
                message: "cannot list the folder: \(error.localizedDescription)")
            return ([], issue)
        }

        // Regular files (through links) named *.toml, sorted by name.
        let paths = names.filter { $0.hasSuffix(".toml") && !$0.hasPrefix(".") }.sorted()
            .map { (directory as NSString).appendingPathComponent($0) }
            .filter { path in
                var isFolder: ObjCBool = false
                return FileManager.default.fileExists(atPath: path, isDirectory: &isFolder)
                    && !isFolder.boolValue
            }
        let countMax = Limits.Personas.filesPerDirectoryMax
        guard paths.count <= countMax else {
            let issue = PersonaIssue(
                file: directory, rule: .directoryMustFitLimit,
                message: "holds \(paths.count) persona files; only the first \(countMax) "
                    + "by name were read")
            return (Array(paths.prefix(countMax)), issue)
        }
        return (paths, nil)
    }

    private static func duplicate(_ persona: Persona, of owner: String, line: Int?)
        -> PersonaIssue
    {
        PersonaIssue(
            file: persona.file ?? "", line: line ?? 1, key: "name",
            found: TOMLSpelling.string(persona.name), rule: .nameMustBeUnique,
            message: "already defined by \(owner), which is the one used; rename one of them")
    }
}

/// What a catalog found: the personas it can use and every problem.
public struct PersonaScan: Sendable {
    /// The usable personas, one per name, in search order.
    public var personas: [Persona] = []
    /// Every problem, in search order, each file's by line.
    public var issues: [PersonaIssue] = []
    /// The persona files read, in search order.
    public var files: [String] = []
    /// The folders searched; empty for a scan of named files.
    public var directories: [String] = []
    /// The issues of each broken file, under the name it claims (its `name`,
    /// else its stem), so that a lookup can say why a persona is unusable.
    var brokenByName: [String: [PersonaIssue]] = [:]
}
