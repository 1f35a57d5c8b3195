import Foundation
import GGUF
import Inference
import Tokenizer

/// `asth tokenize --model M [--json] [--special] TEXT`: the ids of TEXT,
/// without BOS, special tokens parsed only with `--special`.
enum TokenizeCommand {
    struct Output: Encodable {
        let ids: [Int]
        let tokens: [String]
    }

    static func run(_ arguments: inout Arguments) throws {
        let context = try Context(&arguments)
        let json = arguments.flag("--json")
        let special = arguments.flag("--special")
        guard let model = try arguments.option("--model") else {
            throw UsageError("asth tokenize: --model is required (e.g. smollm2-135m-instruct)")
        }
        let text = try arguments.required("TEXT")
        try arguments.finish()

        // Only the vocabulary is needed: no weights, no device.
        let url = try ModelStore(home: context.home).resolve(model)
        let tokenizer = try Tokenizer(gguf: GGUFFile(path: url.path))
        let ids = try tokenizer.encode(text, parseSpecial: special, addSpecial: false)
        if json {
            let tokens = ids.map { tokenizer.tokenText($0) ?? "" }
            try printJSON(Output(ids: ids, tokens: tokens))
        } else {
            print(ids.map(String.init).joined(separator: " "))
        }
    }
}
