/// What can go wrong when setting up speculation, with the evidence a
/// person needs to act on it.
public enum SpeculationError: Error, CustomStringConvertible, Equatable {
    /// A persona or model name for the memory store is empty or too long.
    case badMemoryName(field: String, value: String, limit: Int)
    /// The draft model's vocabulary differs from the target's.
    case vocabularyMismatch(draft: String, draftSize: Int, target: String, targetSize: Int)
    /// The vocabularies have one size but spell token `firstID` differently.
    case vocabularyDiffers(draft: String, target: String, firstID: Int)
    /// A mode needs something the caller did not give (a draft model, a
    /// persona memory).
    case drafterUnavailable(mode: String, missing: String)
    /// The draft model's file could not be found or loaded.
    case draftModelUnloadable(reason: String)

    public var description: String {
        switch self {
        case .badMemoryName(let field, let value, let limit):
            return "speculation memory: \(field) = '\(value.prefix(64))': must be 1 to \(limit)"
                + " bytes"
        case .vocabularyMismatch(let draft, let draftSize, let target, let targetSize):
            return "draft model \(draft) has \(draftSize) tokens, the target \(target) has"
                + " \(targetSize); a draft model must share the target's vocabulary"
        case .vocabularyDiffers(let draft, let target, let id):
            return "draft model \(draft) spells token \(id) differently from the target"
                + " \(target); a draft model must share the target's vocabulary"
        case .drafterUnavailable(let mode, let missing):
            return "speculation mode \(mode) needs \(missing)"
        case .draftModelUnloadable(let reason):
            return "cannot load the draft model: \(reason)"
        }
    }
}
