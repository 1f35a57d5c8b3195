/// A GGUF file that cannot be read, or a metadata look-up that failed, with
/// the evidence: which file, which field, the value found and the limit broken.
///
/// Field names follow the file's structure: `header.n_tensors`,
/// `metadata[3].key`, `metadata 'general.alignment'.value`,
/// `tensor 'blk.0.attn_q.weight'.offset`.
public struct GGUFError: Error, CustomStringConvertible, Equatable {
    /// The path or label of the file.
    public let file: String
    /// The field at fault.
    public let field: String
    /// The value found there, rendered short.
    public let value: String
    /// The limit it broke, e.g. "<= 1024 bytes left".
    public let limit: String
    /// What is wrong, in a few words.
    public let reason: String

    public init(file: String, field: String, value: String, limit: String, reason: String) {
        self.file = file
        self.field = field
        self.value = value
        self.limit = limit
        self.reason = reason
    }

    /// One line: `<file>: <field> = <value>: <reason> (limit: <limit>)`.
    public var description: String {
        "\(file): \(field) = \(value): \(reason) (limit: \(limit))"
    }
}
