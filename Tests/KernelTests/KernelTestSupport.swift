import CPUKernels
import Support

/// SplitMix64, so every random test is repeatable.
typealias SeededGenerator = SplitMix64

/// Every variant, slowest first.
let allVariants = [ASTH_VARIANT_SCALAR, ASTH_VARIANT_AVX2, ASTH_VARIANT_AVX512]

/// The variants this processor runs; scalar is always among them.
let supportedVariants = allVariants.filter { asth_kernels_for($0) != nil }

/// The kernel table of a supported variant.
func kernels(_ variant: asth_variant) -> asth_kernel_table {
    guard let table = asth_kernels_for(variant) else {
        preconditionFailure("variant \(variant.rawValue) is not supported here")
    }
    return table.pointee
}

/// The scalar reference every variant is compared against.
let scalar = kernels(ASTH_VARIANT_SCALAR)

/// Bytes of one quantized activation block.
let q8aBlockBytes = MemoryLayout<asth_block_q8a>.stride

/// A zeroed, 64-byte aligned byte buffer that outlives the calls using it.
final class AlignedBuffer {
    let pointer: UnsafeMutableRawPointer
    let byteCount: Int

    init(byteCount: Int) {
        self.byteCount = byteCount
        pointer = .allocate(byteCount: max(byteCount, 1), alignment: 64)
        pointer.initializeMemory(as: UInt8.self, repeating: 0, count: max(byteCount, 1))
    }

    deinit {
        pointer.deallocate()
    }

    func floats(_ count: Int) -> UnsafeMutablePointer<Float> {
        precondition(count * 4 <= byteCount, "buffer holds \(byteCount) bytes")
        return pointer.bindMemory(to: Float.self, capacity: count)
    }
}

/// The float value of fp16 bits, through Swift's own Float16.
func f16Value(_ bits: UInt16) -> Float {
    Float(Float16(bitPattern: bits))
}

/// The fp16 bits of a random float in `range`.
func randomF16(in range: ClosedRange<Float>, using rng: inout SeededGenerator) -> UInt16 {
    Float16(Float.random(in: range, using: &rng)).bitPattern
}

/// Floats drawn uniformly from `range`.
func randomFloats(
    _ count: Int, in range: ClosedRange<Float> = -1...1, using rng: inout SeededGenerator
) -> [Float] {
    (0..<count).map { _ in Float.random(in: range, using: &rng) }
}

/// Largest |a[i] - b[i]| over two equally long sequences.
func maxAbsDifference(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "lengths differ: \(a.count) vs \(b.count)")
    return zip(a, b).map { abs($0 - $1) }.max() ?? 0
}
