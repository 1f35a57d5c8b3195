/*
 * Helpers for the x86 SIMD variants. Each function carries its own target
 * attribute, so the package needs no global -m flags and callers stay
 * generic; dispatch.c only reaches them after __builtin_cpu_supports.
 */
#ifndef ASTH_SIMD_X86_H
#define ASTH_SIMD_X86_H

#if defined(__x86_64__)

#include <immintrin.h>
#include <math.h>
#include <string.h>

#define ASTH_AVX2 __attribute__((target("avx2,fma,f16c")))
#define ASTH_AVX512                                                                        \
    __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))
#define ASTH_INLINE static inline __attribute__((always_inline))

/* Sum of 8 floats, always in the same order. */
ASTH_INLINE ASTH_AVX2 float asth_hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Lanes [0, n) set: a mask for loads and stores of n < 8 floats. */
ASTH_INLINE ASTH_AVX2 __m256i asth_mask8(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* One int32 from unaligned memory. */
ASTH_INLINE int32_t asth_load_i32(const void *p) {
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/*
 * e^x for 8 floats, within 2 ulp of expf over [-87.3, 88.7]; 0 below,
 * +inf above. x = n·ln2 + r with |r| <= ln2/2 (ln2 split in two for an
 * exact product), e^r by a degree-7 Taylor polynomial (truncation below
 * 0.1 ulp), 2^n through the exponent bits. A minimax polynomial would save
 * a term; Taylor keeps the coefficients self-evident.
 */
ASTH_INLINE ASTH_AVX2 __m256 asth_exp8(__m256 x) {
    const __m256 log2e = _mm256_set1_ps(1.44269504088896341f);
    const __m256 ln2_hi = _mm256_set1_ps(0.693359375f);
    const __m256 ln2_lo = _mm256_set1_ps(-2.12194440e-4f);
    __m256 clamped = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-88.0f)),
                                   _mm256_set1_ps(88.5f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(clamped, log2e),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, ln2_hi, clamped);
    r = _mm256_fnmadd_ps(n, ln2_lo, r);

    /* e^r = 1 + r + r²/2! + ... + r⁷/7!, by Horner. */
    __m256 p = _mm256_set1_ps(1.0f / 5040.0f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));

    /* Scale by 2^n in two halves, so n down to -127 stays normal. */
    __m256i ni = _mm256_cvtps_epi32(n);
    __m256i half = _mm256_srai_epi32(ni, 1);
    __m256i bias = _mm256_set1_epi32(127);
    __m256i e1 = _mm256_add_epi32(half, bias);
    __m256i e2 = _mm256_add_epi32(_mm256_sub_epi32(ni, half), bias);
    __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(e1, 23));
    __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(e2, 23));
    __m256 result = _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);

    /* Past the clamps: 0 below, inf above; NaN stays NaN. */
    result = _mm256_blendv_ps(result, _mm256_setzero_ps(),
                              _mm256_cmp_ps(x, _mm256_set1_ps(-88.0f), _CMP_LT_OQ));
    result = _mm256_blendv_ps(result, _mm256_set1_ps(INFINITY),
                              _mm256_cmp_ps(x, _mm256_set1_ps(88.5f), _CMP_GT_OQ));
    return _mm256_blendv_ps(result, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

#endif /* __x86_64__ */

#endif /* ASTH_SIMD_X86_H */
