import Foundation
import Testing

/// `asth tokenize` and `asth complete` reproduce llama.cpp on the real model.
@Suite("CLI: llama.cpp reference", .serialized)
struct ReferenceCLITests {
    @Test("tokenize --json gives llama.cpp's ids", arguments: Reference.shared.tokenize.indices)
    func tokenize(index: Int) throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        let vector = Reference.shared.tokenize[index]
        let result = try cli.run(
            ["tokenize", "--model", "smollm2-135m-instruct", "--json", "--", vector.text])
        #expect(result.status == 0, "\(result.stderr)")
        let ids = try result.json()["ids"] as? [Int]
        #expect(ids == vector.ids)
    }

    @Test(
        "complete --special --temperature 0 gives llama.cpp's greedy ids",
        arguments: Reference.shared.greedy.indices)
    func greedy(index: Int) throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        let vector = Reference.shared.greedy[index]
        let result = try cli.run([
            "complete", "--model", "smollm2-135m-instruct", "--special", "--temperature", "0",
            "--max-tokens", "48", "--json", "--prompt", vector.prompt,
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try result.json()
        #expect(object["ids"] as? [Int] == vector.ids)
        #expect(object["text"] as? String == vector.text)
        #expect((object["tokens"] as? Int) == vector.ids.count)
        #expect((object["dispatches"] as? Int ?? 0) >= 1)
        #expect((object["motes"] as? Double ?? 0) > 0)
    }

    @Test("a path to a .gguf works wherever a model name does")
    func modelByPath() throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        let result = try cli.run(["tokenize", "--model", CLI.modelPath, "Hello world"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "19556 905\n")
    }
}
