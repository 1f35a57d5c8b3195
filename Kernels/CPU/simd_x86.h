/*
 * Helpers for the x86 SIMD variants. Each function carries its own target
 * attribute, so the package needs no global -m flags and callers stay
 * generic; dispatch.c only reaches them after __builtin_cpu_supports.
 *
 * Every helper here computes exactly what the scalar reference computes
 * (NUMERICS.md), lane for lane: the same FMAs, the same reduction trees.
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

/* Sum of 8 floats in asth_sum_tree8's tree: upper half onto lower half,
 * then (0 + 2) + (1 + 3). */
ASTH_INLINE ASTH_AVX2 float asth_hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Sum of 16 lanes held as lanes 0..7 (low) and 8..15 (high), in
 * asth_sum_tree16's tree. */
ASTH_INLINE ASTH_AVX2 float asth_hsum16(__m256 low, __m256 high) {
    return asth_hsum8(_mm256_add_ps(high, low));
}

/*
 * Eight asth_sum_tree8 sums at once: lane i of the result is the tree sum
 * of v[i]. The adds are those of asth_hsum8 on each vector, regrouped so
 * each step serves four or eight vectors.
 */
ASTH_INLINE ASTH_AVX2 __m256 asth_hsum8x8(const __m256 v[8]) {
    /* h[i] = v[i + 4] + v[i] of every vector; vectors a, b share one. */
    __m256 h[4];
    for (int k = 0; k < 4; k++) {
        __m256 a = v[2 * k];
        __m256 b = v[2 * k + 1];
        __m256 low = _mm256_permute2f128_ps(a, b, 0x20);
        __m256 high = _mm256_permute2f128_ps(a, b, 0x31);
        h[k] = _mm256_add_ps(high, low); /* [a.h0..h3 | b.h0..h3] */
    }

    /* (h0 + h2) and (h1 + h3) of each vector. */
    __m256 pairs[2];
    for (int k = 0; k < 2; k++) {
        __m256 even = _mm256_shuffle_ps(h[2 * k], h[2 * k + 1], 0x44); /* h0 h1 of both */
        __m256 odd = _mm256_shuffle_ps(h[2 * k], h[2 * k + 1], 0xEE);  /* h2 h3 of both */
        pairs[k] = _mm256_add_ps(odd, even);
    }

    /* (h0 + h2) + (h1 + h3); lanes come out as vectors 0 2 4 6 | 1 3 5 7. */
    __m256 first = _mm256_shuffle_ps(pairs[0], pairs[1], 0x88);
    __m256 second = _mm256_shuffle_ps(pairs[0], pairs[1], 0xDD);
    __m256 sums = _mm256_add_ps(first, second);
    return _mm256_permutevar8x32_ps(sums, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
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

/* 8 fp16 values from unaligned memory, widened exactly. */
ASTH_INLINE ASTH_AVX2 __m256 asth_load_f16x8(const asth_f16 *p) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

/* x rounded through fp16 (F16C, round to nearest even). */
ASTH_INLINE ASTH_AVX2 __m256 asth_round_f16x8(__m256 x) {
    return _mm256_cvtph_ps(_mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT));
}

/*
 * asth_ggml_expf on 8 lanes, bit for bit: ggml_v_expf's AVX-512 form with
 * its final vscalefps emulated. j·2^n is taken as (j·2^(n>>1))·2^(n−(n>>1)):
 * both powers are normal floats for |n| <= 192, the first product is exact
 * (j is near 1), so only the second rounds, once, as vscalefps and ldexpf
 * do, subnormal and overflowing results included.
 */
ASTH_INLINE ASTH_AVX2 __m256 asth_ggml_exp8(__m256 x) {
    const __m256 shift = _mm256_set1_ps(0x1.8p23f);
    __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(0x1.715476p+0f), shift);
    __m256 n = _mm256_sub_ps(z, shift);
    __m256 b = _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.62e4p-1f), x);
    b = _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.7f7d1cp-20f), b);
    __m256 u = _mm256_mul_ps(b, b);
    __m256 high = _mm256_fmadd_ps(_mm256_set1_ps(0x1.0e4020p-7f), b,
                                  _mm256_set1_ps(0x1.573e2ep-5f));
    __m256 middle = _mm256_fmadd_ps(_mm256_set1_ps(0x1.555e66p-3f), b,
                                    _mm256_set1_ps(0x1.fffdb6p-2f));
    __m256 low = _mm256_fmadd_ps(_mm256_set1_ps(0x1.ffffecp-1f), b, _mm256_set1_ps(1.0f));
    __m256 j = _mm256_fmadd_ps(_mm256_fmadd_ps(high, u, middle), u, low);

    /* Scale by 2^n in two exact halves; lanes past ±192 are replaced below. */
    __m256i n_int = _mm256_cvttps_epi32(n);
    __m256i half = _mm256_srai_epi32(n_int, 1);
    __m256i rest = _mm256_sub_epi32(n_int, half);
    __m256i bias = _mm256_set1_epi32(127);
    __m256 scale_half = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(half, bias), 23));
    __m256 scale_rest = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(rest, bias), 23));
    __m256 result = _mm256_mul_ps(_mm256_mul_ps(j, scale_half), scale_rest);

    /* |n| > 192: 0 below, inf above; a NaN n comes back as itself. */
    __m256 magnitude = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), n);
    __m256 out_of_range = _mm256_cmp_ps(magnitude, _mm256_set1_ps(192.0f), _CMP_GT_OQ);
    __m256 non_positive = _mm256_cmp_ps(n, _mm256_setzero_ps(), _CMP_LE_OQ);
    __m256 saturated = _mm256_andnot_ps(non_positive, _mm256_set1_ps(INFINITY));
    result = _mm256_blendv_ps(result, saturated, out_of_range);
    return _mm256_blendv_ps(result, n, _mm256_cmp_ps(n, n, _CMP_UNORD_Q));
}

#endif /* __x86_64__ */

#endif /* ASTH_SIMD_X86_H */
