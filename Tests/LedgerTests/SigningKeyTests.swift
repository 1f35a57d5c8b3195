import Foundation
import Testing

@testable import Ledger

/// The host key file: created on first use with mode 0600, refused when
/// others could read it or when it is not a seed.
@Suite struct SigningKeyTests {
    @Test func createdPrivateAndStable() throws {
        let scratch = try Scratch()
        let first = try SigningKey.loadOrCreate(at: scratch.keyURL)
        let again = try SigningKey.loadOrCreate(at: scratch.keyURL)
        #expect(first.publicKey == again.publicKey)
        let attributes = try FileManager.default.attributesOfItem(atPath: scratch.keyURL.path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        #expect(try Data(contentsOf: scratch.keyURL).count == 32)

        let signature = try first.sign([1, 2, 3])
        #expect(again.isValid(signature, of: [1, 2, 3]))
        #expect(!again.isValid(signature, of: [1, 2, 4]))
    }

    @Test(arguments: [0o640, 0o644, 0o604, 0o666])
    func readableByOthersIsRefused(mode: Int) throws {
        let scratch = try Scratch()
        _ = try SigningKey.loadOrCreate(at: scratch.keyURL)
        try FileManager.default.setAttributes(
            [.posixPermissions: mode], ofItemAtPath: scratch.keyURL.path)
        #expect {
            try SigningKey.loadOrCreate(at: scratch.keyURL)
        } throws: { error in
            "\(error)".contains(String(mode, radix: 8)) && "\(error)".contains("chmod 600")
        }
    }

    @Test func wrongSizeIsRefused() throws {
        let scratch = try Scratch()
        _ = FileManager.default.createFile(
            atPath: scratch.keyURL.path, contents: Data(repeating: 7, count: 31),
            attributes: [.posixPermissions: 0o600])
        #expect {
            try SigningKey.loadOrCreate(at: scratch.keyURL)
        } throws: { error in
            "\(error)".contains("31 bytes")
        }
    }
}
