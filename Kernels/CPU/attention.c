/*
 * Scalar reference for one query head of attention over an fp16 KV cache.
 *
 * Reproduces llama.cpp's non-flash path float for float (NUMERICS.md):
 * kq = mul_mat(k, q) with q rounded to fp16, soft_max_ext scaling the
 * scores and masking positions past the query's, kqv = mul_mat(v, kq)
 * with the probabilities rounded to fp16. llama.cpp attends over a KV
 * window of n_kv positions padded to a multiple of 32, the padding masked
 * to −inf; its zero probabilities add nothing, but the padded length
 * decides where ggml_vec_dot_f16 splits vector steps from the tail, so it
 * is kept here as a virtual length.
 */
#include "kernels_internal.h"

#pragma STDC FP_CONTRACT OFF

/* llama.cpp pads the KV window it attends over to a multiple of this
 * without flash attention (llama_kv_cache_unified::get_padding). */
#define KV_WINDOW_PAD 32

/* tinyBLAS needs the shared dimension in whole 16-lane steps and the
 * weight-side row count a multiple of this; otherwise ggml falls back to
 * ggml_vec_dot_f16 for the whole product. */
#define TILE_ROWS_MULTIPLE 4

static void attend(const float *q, const asth_f16 *k, const asth_f16 *v, int64_t kv_stride,
                   int64_t n_pos, int64_t head_dim, float scale, int batched, float *scratch,
                   float *out) {
    int64_t n_kv = (n_pos + KV_WINDOW_PAD - 1) / KV_WINDOW_PAD * KV_WINDOW_PAD;
    int tiled_scores = batched && head_dim % ASTH_LANES_16 == 0;
    int tiled_output = batched && head_dim % TILE_ROWS_MULTIPLE == 0;

    /* Scores: f16(q) · k_p, then scaled (the mask adds 0 to these). */
    for (int64_t p = 0; p < n_pos; p++) {
        asth_float_vector k_row = {k + p * kv_stride, 1, 1};
        float score = tiled_scores ? asth_scalar_dot_tile(k_row, q, head_dim)
                                   : asth_scalar_dot_vec(k_row, q, head_dim, head_dim);
        scratch[p] = score * scale;
    }

    /* Softmax over the padded window: masked lanes are exact zeros. */
    float max = -INFINITY;
    for (int64_t p = 0; p < n_pos; p++) max = fmaxf(max, scratch[p]);
    double sum = asth_scalar_softmax_exp(scratch, n_pos, max, 1);
    float inverse = (float)(1.0 / sum);
    for (int64_t p = 0; p < n_pos; p++) scratch[p] *= inverse;

    /* Output: Σ_p f16(prob_p) · v_p over the window, one dimension at a time. */
    for (int64_t d = 0; d < head_dim; d++) {
        asth_float_vector v_column = {v + d, 1, kv_stride};
        out[d] = tiled_output ? asth_scalar_dot_tile(v_column, scratch, n_pos)
                              : asth_scalar_dot_vec(v_column, scratch, n_pos, n_kv);
    }
}

void asth_scalar_attention_head(const float *q, const asth_f16 *k, const asth_f16 *v,
                                int64_t kv_stride, int64_t n_pos, int64_t head_dim,
                                float scale, float *scratch, float *out) {
    attend(q, k, v, kv_stride, n_pos, head_dim, scale, 0, scratch, out);
}

void asth_scalar_attention_head_batched(const float *q, const asth_f16 *k,
                                        const asth_f16 *v, int64_t kv_stride, int64_t n_pos,
                                        int64_t head_dim, float scale, float *scratch,
                                        float *out) {
    attend(q, k, v, kv_stride, n_pos, head_dim, scale, 1, scratch, out);
}

void asth_scalar_attention_group(const float *q, int64_t n_group, const asth_f16 *k,
                                 const asth_f16 *v, int64_t kv_stride, int64_t n_pos,
                                 int64_t head_dim, float scale, int batched, float *scratch,
                                 float *out) {
    for (int64_t h = 0; h < n_group; h++) {
        attend(q + h * head_dim, k, v, kv_stride, n_pos, head_dim, scale, batched, scratch,
               out + h * head_dim);
    }
}
