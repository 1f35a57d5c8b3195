/// What can go wrong between a GGUF file and a generated token, with the
/// evidence a person needs to act on it.
public enum InferenceError: Error, CustomStringConvertible, Equatable {
    /// The file's `general.architecture` is not one we have a graph for.
    case unsupportedArchitecture(model: String, found: String)
    /// A metadata value is missing or outside what the graph accepts.
    case badHyperparameter(model: String, key: String, value: String, limit: String)
    /// A tensor the graph needs is absent.
    case missingTensor(model: String, name: String)
    /// A tensor has the wrong shape for the hyperparameters.
    case tensorShape(model: String, name: String, found: [Int], expected: [Int])
    /// A tensor is stored in a type the kernels do not take.
    case unsupportedTensorType(model: String, name: String, type: String)
    /// A sequence would grow past its KV cache.
    case contextFull(positions: Int, capacity: Int)
    /// A token id outside the vocabulary reached the device.
    case tokenOutOfRange(token: Int, vocabularySize: Int)
    /// `--model` named nothing in the model store and no file.
    case modelNotFound(name: String, searched: String)

    public var description: String {
        switch self {
        case .unsupportedArchitecture(let model, let found):
            return "\(model): general.architecture = \(found): not supported (supported: llama)"
        case .badHyperparameter(let model, let key, let value, let limit):
            return "\(model): \(key) = \(value): out of range (limit: \(limit))"
        case .missingTensor(let model, let name):
            return "\(model): tensor '\(name)' is missing"
        case .tensorShape(let model, let name, let found, let expected):
            return "\(model): tensor '\(name)' has shape \(found), expected \(expected)"
        case .unsupportedTensorType(let model, let name, let type):
            return "\(model): tensor '\(name)' has type \(type): not supported"
                + " (supported: F32, F16, Q4_0, Q4_1, Q8_0)"
        case .contextFull(let positions, let capacity):
            return "context full: \(positions) positions needed, the KV cache holds \(capacity)"
        case .tokenOutOfRange(let token, let vocabularySize):
            return "token id \(token) is outside the vocabulary (0..<\(vocabularySize))"
        case .modelNotFound(let name, let searched):
            let hint =
                name == ModelStore.defaultModelName
                ? "run `make model` to install it" : "`asth models` lists the installed ones"
            return "model '\(name)' not found (looked in \(searched)); \(hint)"
        }
    }
}
