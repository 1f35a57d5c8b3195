import CPUKernels
import Foundation
import Testing

/// Variant selection: names, ASTH_KERNELS and pinning.
@Suite struct VariantTests {
    @Test func scalarIsAlwaysThere() {
        #expect(asth_kernels_for(ASTH_VARIANT_SCALAR) != nil)
        #expect(supportedVariants.contains(asth_variant_best()))
        #expect(asth_variant_best().rawValue == supportedVariants.map(\.rawValue).max())
    }

    @Test(arguments: zip(allVariants, ["scalar", "avx2", "avx512"]))
    func namesRoundTrip(variant: asth_variant, name: String) {
        #expect(String(cString: asth_variant_name(variant)) == name)
        let supported = asth_kernels_for(variant) != nil
        #expect(asth_variant_select(name) == (supported ? variant : asth_variant_default()))
        if supported { #expect(kernels(variant).variant == variant) }
    }

    @Test(arguments: [nil, "", "AVX2 ", "neon", "fastest"] as [String?])
    func unknownNamesSelectTheDefault(name: String?) {
        #expect(asth_variant_select(name) == asth_variant_default())
    }

    /// The variant in use is the one ASTH_KERNELS selects (the best when it
    /// is unset); run the suite with ASTH_KERNELS=scalar to see it pinned.
    @Test func honoursEnvironment() {
        let requested = ProcessInfo.processInfo.environment["ASTH_KERNELS"]
        #expect(asth_variant_current() == asth_variant_select(requested))
    }

    /// Pinning a variant the processor lacks (or no variant at all) fails
    /// and leaves the current one in place; re-pinning the current one works.
    @Test func pinningUnsupportedFails() {
        let before = asth_variant_current()
        let unsupported = allVariants.filter { asth_kernels_for($0) == nil }
        for variant in unsupported + [asth_variant(rawValue: 7)] {
            #expect(asth_variant_set(variant) == -1)
            #expect(asth_variant_current() == before)
        }
        #expect(asth_variant_set(before) == 0)
        #expect(asth_variant_current() == before)
    }
}
