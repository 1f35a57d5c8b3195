/// GPT-2's byte alphabet: each of the 256 byte values spelled as one
/// printable Unicode scalar, so that byte-level BPE vocabularies can be
/// stored as text.
///
/// Printable Latin-1 bytes (`!`...`~`, `¡`...`¬`, `®`...`ÿ`) stand for
/// themselves; the other 68 (controls, space, DEL, NBSP, soft hyphen) take
/// U+0100 upwards in byte order, so a space is `Ġ` (U+0120) and a newline
/// `Ċ` (U+010A).
///
/// Source: the `bytes_to_unicode` table of OpenAI's GPT-2 `encoder.py`, which
/// llama.cpp's `unicode.cpp` rebuilds; the facts, not the code, carry over.
enum ByteAlphabet {
    /// The scalar value that spells each byte; 256 entries indexed by byte.
    static let scalarValueForByte: [UInt32] = {
        var values = [UInt32](repeating: 0, count: 256)
        var next: UInt32 = 0x100
        for byte in 0..<256 {
            if standsForItself(UInt8(byte)) {
                values[byte] = UInt32(byte)
            } else {
                values[byte] = next
                next += 1
            }
        }
        precondition(next == 0x100 + 68, "ByteAlphabet: expected 68 remapped bytes")
        return values
    }()

    /// The byte each alphabet scalar stands for, indexed by scalar value;
    /// -1 where the scalar is not in the alphabet. 0x144 entries.
    static let byteForScalarValue: [Int16] = {
        var bytes = [Int16](repeating: -1, count: 0x100 + 68)
        for byte in 0..<256 {
            bytes[Int(scalarValueForByte[byte])] = Int16(byte)
        }
        return bytes
    }()

    /// The UTF-8 spelling of each byte's scalar; 256 entries of 1–2 bytes.
    static let utf8ForByte: [[UInt8]] = scalarValueForByte.map { value in
        Array(String(Unicode.Scalar(value)!).utf8)
    }

    /// Whether a byte is printable Latin-1 and so spelled by itself.
    private static func standsForItself(_ byte: UInt8) -> Bool {
        (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte)
            || (0xAE...0xFF).contains(byte)
    }

    /// The bytes a token text spells, appended to `bytes`.
    ///
    /// A scalar outside the alphabet cannot come from a well-formed
    /// vocabulary; it is kept as its own UTF-8 rather than dropped, so that
    /// decoding never loses text.
    static func appendBytes(spelledBy text: String, to bytes: inout [UInt8]) {
        for scalar in text.unicodeScalars {
            let value = Int(scalar.value)
            if value < byteForScalarValue.count, byteForScalarValue[value] >= 0 {
                bytes.append(UInt8(byteForScalarValue[value]))
            } else {
                bytes.append(contentsOf: String(scalar).utf8)
            }
        }
    }
}
