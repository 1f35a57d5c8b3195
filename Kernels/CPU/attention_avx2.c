/*
 * AVX2+FMA attention of one query head over an fp16 KV cache, with the
 * reference's roundings: q and the probabilities through fp16 (F16C),
 * k and v widened by F16C, sums in float.
 */
#include "kernels_internal.h"

#if defined(__x86_64__)

#include "simd_x86.h"

/* Head widths up to this take the vector path; wider ones (no model we
 * know of) fall back to the scalar reference. */
#define HEAD_DIM_MAX 512

/* Value vectors accumulated per pass over the positions. */
#define VALUE_VECTORS 8

/* scores[p] = scale · f16(q) · k_p. */
static ASTH_AVX2 void scores(const float *q16, const asth_f16 *k, int64_t kv_stride,
                             int64_t n_pos, int64_t head_dim, float scale, float *out) {
    for (int64_t p = 0; p < n_pos; p++) {
        const asth_f16 *k_row = k + p * kv_stride;
        __m256 acc = _mm256_setzero_ps();
        int64_t d = 0;
        for (; d + 8 <= head_dim; d += 8) {
            __m256 kv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(k_row + d)));
            acc = _mm256_fmadd_ps(_mm256_loadu_ps(q16 + d), kv, acc);
        }
        float score = asth_hsum8(acc);
        for (; d < head_dim; d++) score += q16[d] * asth_f16_bits_to_f32(k_row[d]);
        out[p] = score * scale;
    }
}

/* out[d] = Σ_p probs[p] · v_p[d], probs already rounded through fp16;
 * up to VALUE_VECTORS vectors of out stay in registers per pass. */
static ASTH_AVX2 void weighted_values(const float *probs, const asth_f16 *v, int64_t kv_stride,
                                      int64_t n_pos, int64_t head_dim, float *out) {
    int64_t whole = head_dim - head_dim % 8;
    for (int64_t d0 = 0; d0 < whole; d0 += 8 * VALUE_VECTORS) {
        int64_t nv = (whole - d0) / 8 < VALUE_VECTORS ? (whole - d0) / 8 : VALUE_VECTORS;
        __m256 acc[VALUE_VECTORS];
        for (int i = 0; i < nv; i++) acc[i] = _mm256_setzero_ps();
        for (int64_t p = 0; p < n_pos; p++) {
            const asth_f16 *v_row = v + p * kv_stride + d0;
            __m256 prob = _mm256_set1_ps(probs[p]);
            for (int i = 0; i < nv; i++) {
                __m256 vv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(v_row + 8 * i)));
                acc[i] = _mm256_fmadd_ps(prob, vv, acc[i]);
            }
        }
        for (int i = 0; i < nv; i++) _mm256_storeu_ps(out + d0 + 8 * i, acc[i]);
    }

    /* Columns past the last whole vector. */
    for (int64_t d = whole; d < head_dim; d++) {
        float sum = 0.0f;
        for (int64_t p = 0; p < n_pos; p++) {
            sum += probs[p] * asth_f16_bits_to_f32(v[p * kv_stride + d]);
        }
        out[d] = sum;
    }
}

ASTH_AVX2 void asth_avx2_attention_head(const float *q, const asth_f16 *k, const asth_f16 *v,
                              int64_t kv_stride, int64_t n_pos, int64_t head_dim, float scale,
                              float *scratch, float *out) {
    if (head_dim > HEAD_DIM_MAX) {
        asth_scalar_attention_head(q, k, v, kv_stride, n_pos, head_dim, scale, scratch, out);
        return;
    }

    /* q through fp16, once. */
    float q16[HEAD_DIM_MAX];
    for (int64_t d = 0; d < head_dim; d++) q16[d] = asth_round_f16(q[d]);

    /* Scores, softmax, probabilities through fp16, then the values. */
    scores(q16, k, kv_stride, n_pos, head_dim, scale, scratch);
    asth_avx2_softmax(scratch, n_pos);
    int64_t p = 0;
    for (; p + 8 <= n_pos; p += 8) {
        __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(scratch + p), _MM_FROUND_TO_NEAREST_INT);
        _mm256_storeu_ps(scratch + p, _mm256_cvtph_ps(h));
    }
    for (; p < n_pos; p++) scratch[p] = asth_round_f16(scratch[p]);
    weighted_values(scratch, v, kv_stride, n_pos, head_dim, out);
}

#endif /* __x86_64__ */
