/*
 * Scalar reference for one query head of attention over an fp16 KV cache.
 *
 * Mirrors llama.cpp's non-flash path: kq = mul_mat(k, q) converts q to
 * fp16 and sums products in float, soft_max_ext scales the scores, and
 * kqv = mul_mat(v, kq) converts the probabilities to fp16.
 */
#include "kernels_internal.h"

#pragma STDC FP_CONTRACT OFF

void asth_scalar_attention_head(const float *q, const asth_f16 *k, const asth_f16 *v,
                                int64_t kv_stride, int64_t n_pos, int64_t head_dim,
                                float scale, float *scratch, float *out) {
    /* Scores: f16(q) · k_p, scaled. */
    for (int64_t p = 0; p < n_pos; p++) {
        const asth_f16 *k_row = k + p * kv_stride;
        float score = 0.0f;
        for (int64_t d = 0; d < head_dim; d++) {
            score += asth_round_f16(q[d]) * asth_f16_bits_to_f32(k_row[d]);
        }
        scratch[p] = score * scale;
    }

    asth_scalar_softmax(scratch, n_pos);

    /* Output: Σ_p f16(prob_p) · v_p. */
    for (int64_t d = 0; d < head_dim; d++) out[d] = 0.0f;
    for (int64_t p = 0; p < n_pos; p++) {
        const asth_f16 *v_row = v + p * kv_stride;
        float prob = asth_round_f16(scratch[p]);
        for (int64_t d = 0; d < head_dim; d++) {
            out[d] += prob * asth_f16_bits_to_f32(v_row[d]);
        }
    }
}
