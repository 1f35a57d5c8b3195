/// Typed metadata look-ups. A missing key, a value of the wrong type or an
/// integer out of range throws a `GGUFError` naming the key.
extension GGUFFile {
    /// The string at `key`.
    public func string(_ key: String) throws(GGUFError) -> String {
        let value = try lookUp(key, expecting: "string")
        guard case .string(let string) = value else {
            throw mismatch(key, value, expecting: "string")
        }
        return string
    }

    /// The integer at `key`, of any of the eight integer types, as an `Int`.
    public func int(_ key: String) throws(GGUFError) -> Int {
        try Self.int(try lookUp(key, expecting: "integer"), at: "metadata '\(key)'", in: self)
    }

    /// The number at `key`: float32, float64 or any integer, as a `Float`.
    public func float(_ key: String) throws(GGUFError) -> Float {
        try Self.float(try lookUp(key, expecting: "float"), at: "metadata '\(key)'", in: self)
    }

    /// The bool at `key`.
    public func bool(_ key: String) throws(GGUFError) -> Bool {
        let value = try lookUp(key, expecting: "bool")
        guard case .bool(let bool) = value else {
            throw mismatch(key, value, expecting: "bool")
        }
        return bool
    }

    /// The array of strings at `key`.
    public func strings(_ key: String) throws(GGUFError) -> [String] {
        let elements = try array(key, expecting: "array of string")
        var strings: [String] = []
        strings.reserveCapacity(elements.count)
        for element in elements {
            guard case .string(let string) = element else {
                throw mismatch(key, element, expecting: "array of string")
            }
            strings.append(string)
        }
        return strings
    }

    /// The array of integers at `key`, each as an `Int`.
    public func ints(_ key: String) throws(GGUFError) -> [Int] {
        let elements = try array(key, expecting: "array of integer")
        var ints: [Int] = []
        ints.reserveCapacity(elements.count)
        for (index, element) in elements.enumerated() {
            ints.append(try Self.int(element, at: "metadata '\(key)'[\(index)]", in: self))
        }
        return ints
    }

    /// The array of numbers at `key`, each as a `Float`.
    public func floats(_ key: String) throws(GGUFError) -> [Float] {
        let elements = try array(key, expecting: "array of float")
        var floats: [Float] = []
        floats.reserveCapacity(elements.count)
        for (index, element) in elements.enumerated() {
            floats.append(try Self.float(element, at: "metadata '\(key)'[\(index)]", in: self))
        }
        return floats
    }

    // MARK: Helpers

    /// The value at `key`, or an error saying it is missing.
    private func lookUp(_ key: String, expecting: String) throws(GGUFError) -> GGUFValue {
        guard let value = metadata[key] else {
            throw GGUFError(
                file: name, field: "metadata '\(key)'", value: "missing", limit: "a \(expecting)",
                reason: "missing metadata key")
        }
        return value
    }

    /// The elements of the array at `key`.
    private func array(_ key: String, expecting: String) throws(GGUFError) -> [GGUFValue] {
        let value = try lookUp(key, expecting: expecting)
        guard case .array(let elements) = value else {
            throw mismatch(key, value, expecting: expecting)
        }
        return elements
    }

    /// A wrong-type error for `key`.
    private func mismatch(_ key: String, _ value: GGUFValue, expecting: String) -> GGUFError {
        GGUFError(
            file: name, field: "metadata '\(key)'", value: value.evidence, limit: "a \(expecting)",
            reason: "metadata value has the wrong type")
    }

    /// `value` as an `Int`, or an error at `field`.
    private static func int(
        _ value: GGUFValue, at field: String, in file: GGUFFile
    ) throws(GGUFError) -> Int {
        if let int = value.intValue { return int }
        let outOfRange = value.isInteger
        throw GGUFError(
            file: file.name, field: field, value: value.evidence,
            limit: outOfRange ? "\(Int.min) ... \(Int.max)" : "an integer",
            reason: outOfRange ? "integer out of range" : "metadata value has the wrong type")
    }

    /// `value` as a `Float`, or an error at `field`. A finite float64 too
    /// large for a `Float` is an error rather than an infinity.
    private static func float(
        _ value: GGUFValue, at field: String, in file: GGUFFile
    ) throws(GGUFError) -> Float {
        switch value {
        case .float32(let float):
            return float
        case .float64(let double):
            let float = Float(double)
            if float.isFinite || !double.isFinite { return float }
            throw GGUFError(
                file: file.name, field: field, value: value.evidence,
                limit: "|x| <= \(Float.greatestFiniteMagnitude)", reason: "float out of range")
        default:
            if let int = value.intValue { return Float(int) }
            if case .uint64(let big) = value { return Float(big) }
            throw GGUFError(
                file: file.name, field: field, value: value.evidence, limit: "a number",
                reason: "metadata value has the wrong type")
        }
    }
}
