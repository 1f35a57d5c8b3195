/*
 * AVX2+FMA element-wise ops, activation quantization and fp16 rows.
 *
 * The quantizer is ggml's AVX2 quantize_row_q8_0/q8_1 step for step, so
 * it writes the scalar reference's bytes exactly. rmsnorm keeps the
 * reference's double sum of float squares and its two separate products;
 * softmax and silu use asth_exp8, within 2 ulp of expf.
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
            q[i] = _mm256_cvtps_epi32(_mm256_round_ps(scaled, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        }
        __m256i sum8 = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
        __m128i sum4 = _mm_add_epi32(_mm256_castsi256_si128(sum8), _mm256_extracti128_si256(sum8, 1));
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

/* Σ x[i]² with squares rounded to float and summed in double. */
static ASTH_AVX2 double sum_squares(const float *x, int64_t n) {
    __m256d low = _mm256_setzero_pd();
    __m256d high = _mm256_setzero_pd();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256 squares = _mm256_mul_ps(v, v);
        low = _mm256_add_pd(low, _mm256_cvtps_pd(_mm256_castps256_ps128(squares)));
        high = _mm256_add_pd(high, _mm256_cvtps_pd(_mm256_extractf128_ps(squares, 1)));
    }
    double lanes[4];
    _mm256_storeu_pd(lanes, _mm256_add_pd(low, high));
    double sum = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
    for (; i < n; i++) sum += (double)(x[i] * x[i]);
    return sum;
}

ASTH_AVX2 void asth_avx2_rmsnorm(const float *x, const float *w, float *out, int64_t n, float eps) {
    float mean = (float)(sum_squares(x, n) / (double)n);
    float scale = 1.0f / sqrtf(mean + eps);
    __m256 scale8 = _mm256_set1_ps(scale);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 scaled = _mm256_mul_ps(_mm256_loadu_ps(x + i), scale8);
        _mm256_storeu_ps(out + i, _mm256_mul_ps(scaled, _mm256_loadu_ps(w + i)));
    }
    for (; i < n; i++) out[i] = (x[i] * scale) * w[i];
}

ASTH_AVX2 void asth_avx2_silu_mul(const float *g, const float *u, float *out, int64_t n) {
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256 sign_bit = _mm256_set1_ps(-0.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 gv = _mm256_loadu_ps(g + i);
        __m256 e = asth_exp8(_mm256_xor_ps(gv, sign_bit));
        __m256 silu = _mm256_div_ps(gv, _mm256_add_ps(one, e));
        _mm256_storeu_ps(out + i, _mm256_mul_ps(silu, _mm256_loadu_ps(u + i)));
    }
    for (; i < n; i++) out[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

ASTH_AVX2 void asth_avx2_softmax(float *x, int64_t n) {
    /* The maximum, exactly. */
    __m256 max8 = _mm256_set1_ps(-INFINITY);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) max8 = _mm256_max_ps(max8, _mm256_loadu_ps(x + i));
    float lanes[8];
    _mm256_storeu_ps(lanes, max8);
    float max = -INFINITY;
    for (int l = 0; l < 8; l++) max = fmaxf(max, lanes[l]);
    for (; i < n; i++) max = fmaxf(max, x[i]);

    /* Exponentials, summed in double as the reference does. */
    __m256d sum4 = _mm256_setzero_pd();
    for (i = 0; i + 8 <= n; i += 8) {
        __m256 e = asth_exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), _mm256_set1_ps(max)));
        _mm256_storeu_ps(x + i, e);
        sum4 = _mm256_add_pd(sum4, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
        sum4 = _mm256_add_pd(sum4, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
    }
    double sums[4];
    _mm256_storeu_pd(sums, sum4);
    double sum = (sums[0] + sums[1]) + (sums[2] + sums[3]);
    for (; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += (double)x[i];
    }

    /* Normalise. */
    float inverse = (float)(1.0 / sum);
    for (i = 0; i + 8 <= n; i += 8) {
        _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), _mm256_set1_ps(inverse)));
    }
    for (; i < n; i++) x[i] *= inverse;
}

#endif /* __x86_64__ */
