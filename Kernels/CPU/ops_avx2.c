/*
 * AVX2+FMA element-wise ops, activation quantization and fp16 rows.
 *
 * Each computes exactly what the scalar reference computes: the quantizer
 * is ggml's AVX2 quantize_row_q8_0/q8_1 step for step, and softmax and
 * silu take ggml's AVX-512 exp (asth_ggml_exp8) where the reference takes
 * asth_ggml_expf, libm's expf where it does. rmsnorm has no variant: its
 * double sum runs in index order, one add after another, in any variant.
 */
#include "kernels_internal.h"

#if defined(__x86_64__)

#include <math.h>

#include "simd_x86.h"

ASTH_AVX2 void asth_avx2_quantize_row_q8a(const float *x, asth_block_q8a *y, int64_t n) {
    const __m256 sign_bit = _mm256_set1_ps(-0.0f);
    for (int64_t b = 0; b < n / ASTH_QK; b++, x += ASTH_QK) {
        __m256 v[4];
        for (int i = 0; i < 4; i++) v[i] = _mm256_loadu_ps(x + 8 * i);

        /* amax over the block; max is exact, so the order does not matter. */
        __m256 amax8 = _mm256_andnot_ps(sign_bit, v[0]);
        for (int i = 1; i < 4; i++) amax8 = _mm256_max_ps(amax8, _mm256_andnot_ps(sign_bit, v[i]));
        __m128 amax4 = _mm_max_ps(_mm256_extractf128_ps(amax8, 1), _mm256_castps256_ps128(amax8));
        amax4 = _mm_max_ps(amax4, _mm_movehl_ps(amax4, amax4));
        amax4 = _mm_max_ss(amax4, _mm_movehdup_ps(amax4));
        float amax = _mm_cvtss_f32(amax4);
        float d = amax / 127.0f;
        float id = amax != 0.0f ? 127.0f / amax : 0.0f;

        /* q = round-half-even(x · id), and Σq. */
        __m256i q[4];
        for (int i = 0; i < 4; i++) {
            __m256 scaled = _mm256_mul_ps(v[i], _mm256_set1_ps(id));
            __m256 rounded =
                _mm256_round_ps(scaled, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            q[i] = _mm256_cvtps_epi32(rounded);
        }
        __m256i sum8 = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
        __m128i sum4 =
            _mm_add_epi32(_mm256_castsi256_si128(sum8), _mm256_extracti128_si256(sum8, 1));
        sum4 = _mm_add_epi32(sum4, _mm_unpackhi_epi64(sum4, sum4));
        sum4 = _mm_add_epi32(sum4, _mm_shuffle_epi32(sum4, 1));
        int32_t sum = _mm_cvtsi128_si32(sum4);

        /* Narrow to bytes; the packs interleave 128-bit lanes, the permute undoes it. */
        __m256i packed = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]),
                                            _mm256_packs_epi32(q[2], q[3]));
        packed = _mm256_permutevar8x32_epi32(packed, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)y[b].qs, packed);

        y[b].d = asth_round_f16(d);
        y[b].s = asth_round_f16(d * (float)sum);
    }
}

ASTH_AVX2 void asth_avx2_f32_to_f16_row(const float *x, asth_f16 *y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT);
        _mm_storeu_si128((__m128i *)(y + i), h);
    }
    for (; i < n; i++) y[i] = asth_f32_to_f16_bits(x[i]);
}

/*
 * asth_scalar_silu_mul lane for lane: whole groups of 16 from the row's
 * start take ggml's vector exp, x / (1 + e^(0 − x)) · u; the tail takes
 * libm's expf, as ggml's scalar tail does.
 */
ASTH_AVX2 void asth_avx2_silu_mul(const float *g, const float *u, float *out, int64_t n) {
    int64_t n_vector = n - n % ASTH_LANES_16;
    for (int64_t i = 0; i < n_vector; i += ASTH_LANES_8) {
        __m256 x = _mm256_loadu_ps(g + i);
        __m256 e = asth_ggml_exp8(_mm256_sub_ps(_mm256_setzero_ps(), x));
        __m256 silu = _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
        _mm256_storeu_ps(out + i, _mm256_mul_ps(silu, _mm256_loadu_ps(u + i)));
    }
    for (int64_t i = n_vector; i < n; i++) {
        float silu = g[i] / (1.0f + expf(-g[i]));
        out[i] = silu * u[i];
    }
}

/* The largest of n floats (max is exact, so the order does not matter). */
ASTH_AVX2 float asth_avx2_max(const float *x, int64_t n) {
    __m256 max8 = _mm256_set1_ps(-INFINITY);
    int64_t i = 0;
    for (; i + ASTH_LANES_8 <= n; i += ASTH_LANES_8) {
        max8 = _mm256_max_ps(max8, _mm256_loadu_ps(x + i));
    }
    float lanes[ASTH_LANES_8];
    _mm256_storeu_ps(lanes, max8);
    float max = -INFINITY;
    for (int l = 0; l < ASTH_LANES_8; l++) max = fmaxf(max, lanes[l]);
    for (; i < n; i++) max = fmaxf(max, x[i]);
    return max;
}

/*
 * asth_scalar_softmax_exp lane for lane: e^(x − max) in place, whole groups
 * of 16 with ggml's vector exp, each group summed in the tree of 16 and
 * added to a double; with pad_tail the last partial group is one more
 * group whose missing lanes are zero, else the tail takes libm's expf.
 */
ASTH_AVX2 double asth_avx2_softmax_exp(float *x, int64_t n, float max, int pad_tail) {
    const __m256 max8 = _mm256_set1_ps(max);
    double sum = 0.0;
    int64_t i = 0;
    for (; i + ASTH_LANES_16 <= n; i += ASTH_LANES_16) {
        __m256 low = asth_ggml_exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), max8));
        __m256 high = asth_ggml_exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i + 8), max8));
        _mm256_storeu_ps(x + i, low);
        _mm256_storeu_ps(x + i + 8, high);
        sum += (double)asth_hsum16(low, high);
    }
    if (pad_tail && i < n) {
        /* The group's live lanes through a zero-padded copy. */
        float group[ASTH_LANES_16] = {0};
        int64_t live = n - i;
        memcpy(group, x + i, (size_t)live * sizeof(float));
        __m256 low = asth_ggml_exp8(_mm256_sub_ps(_mm256_loadu_ps(group), max8));
        __m256 high = asth_ggml_exp8(_mm256_sub_ps(_mm256_loadu_ps(group + 8), max8));
        __m256i live_low = asth_mask8((int)live);
        __m256i live_high = asth_mask8((int)live - ASTH_LANES_8);
        low = _mm256_and_ps(low, _mm256_castsi256_ps(live_low));
        high = _mm256_and_ps(high, _mm256_castsi256_ps(live_high));
        _mm256_storeu_ps(group, low);
        _mm256_storeu_ps(group + 8, high);
        memcpy(x + i, group, (size_t)live * sizeof(float));
        return sum + (double)asth_hsum16(low, high);
    }
    for (; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += (double)x[i];
    }
    return sum;
}

/* asth_scalar_softmax: the inverse of the double sum, rounded to float,
 * multiplies every value. */
ASTH_AVX2 void asth_avx2_softmax(float *x, int64_t n) {
    float max = asth_avx2_max(x, n);
    double sum = asth_avx2_softmax_exp(x, n, max, 0);
    asth_avx2_scale(x, n, (float)(1.0 / sum));
}

/* x[i] *= scale. */
ASTH_AVX2 void asth_avx2_scale(float *x, int64_t n, float scale) {
    __m256 scale8 = _mm256_set1_ps(scale);
    int64_t i = 0;
    for (; i + ASTH_LANES_8 <= n; i += ASTH_LANES_8) {
        _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), scale8));
    }
    for (; i < n; i++) x[i] *= scale;
}

#endif /* __x86_64__ */
