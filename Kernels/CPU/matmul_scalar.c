/*
 * Scalar reference for asth_matmul: one dot product per (row, batch row).
 *
 * Block dot products follow ggml's vec_dot_*_q8_* (ggml-cpu/quants.c):
 * the integer sum of a block is exact, then scaled and accumulated in
 * float, block by block. F16 weights take x rounded to fp16, as ggml
 * converts the activations to the weights' vec_dot_type first.
 */
#include "kernels_internal.h"

#pragma STDC FP_CONTRACT OFF

/* Σ_blocks d_w·d_x·Σ((q_w − 8)·q_x) over n_blocks. */
static float dot_q4_0(const asth_block_q4_0 *w, const asth_block_q8a *x, int64_t n_blocks) {
    float sum = 0.0f;
    for (int64_t b = 0; b < n_blocks; b++) {
        int32_t sum_i = 0;
        for (int j = 0; j < ASTH_QK / 2; j++) {
            sum_i += ((w[b].qs[j] & 0x0f) - 8) * x[b].qs[j];
            sum_i += ((w[b].qs[j] >> 4) - 8) * x[b].qs[j + ASTH_QK / 2];
        }
        sum += asth_f16_bits_to_f32(w[b].d) * x[b].d * (float)sum_i;
    }
    return sum;
}

/* Σ_blocks d_w·d_x·Σ(q_w·q_x) + m_w·s_x over n_blocks. */
static float dot_q4_1(const asth_block_q4_1 *w, const asth_block_q8a *x, int64_t n_blocks) {
    float sum = 0.0f;
    for (int64_t b = 0; b < n_blocks; b++) {
        int32_t sum_i = 0;
        for (int j = 0; j < ASTH_QK / 2; j++) {
            sum_i += (w[b].qs[j] & 0x0f) * x[b].qs[j];
            sum_i += (w[b].qs[j] >> 4) * x[b].qs[j + ASTH_QK / 2];
        }
        float d = asth_f16_bits_to_f32(w[b].d);
        float m = asth_f16_bits_to_f32(w[b].m);
        sum += d * x[b].d * (float)sum_i + m * x[b].s;
    }
    return sum;
}

/* Σ_blocks d_w·d_x·Σ(q_w·q_x) over n_blocks. */
static float dot_q8_0(const asth_block_q8_0 *w, const asth_block_q8a *x, int64_t n_blocks) {
    float sum = 0.0f;
    for (int64_t b = 0; b < n_blocks; b++) {
        int32_t sum_i = 0;
        for (int j = 0; j < ASTH_QK; j++) sum_i += w[b].qs[j] * x[b].qs[j];
        sum += asth_f16_bits_to_f32(w[b].d) * x[b].d * (float)sum_i;
    }
    return sum;
}

/* Σ f16(x)·w over n elements, products summed in float. */
static float dot_f16(const asth_f16 *w, const float *x, int64_t n) {
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i++) sum += asth_f16_bits_to_f32(w[i]) * asth_round_f16(x[i]);
    return sum;
}

static float dot_f32(const float *w, const float *x, int64_t n) {
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i++) sum += w[i] * x[i];
    return sum;
}

/* One dot product of weight row `row` with the activation row at x_row. */
static float dot_row(asth_type type, const void *w, int64_t n_in, int64_t row,
                     const void *x_row) {
    size_t row_bytes = asth_row_bytes(type, n_in);
    const char *w_row = (const char *)w + (size_t)row * row_bytes;
    int64_t n_blocks = n_in / ASTH_QK;
    switch (type) {
    case ASTH_TYPE_Q4_0: return dot_q4_0((const void *)w_row, x_row, n_blocks);
    case ASTH_TYPE_Q4_1: return dot_q4_1((const void *)w_row, x_row, n_blocks);
    case ASTH_TYPE_Q8_0: return dot_q8_0((const void *)w_row, x_row, n_blocks);
    case ASTH_TYPE_F16: return dot_f16((const void *)w_row, x_row, n_in);
    case ASTH_TYPE_F32: return dot_f32((const void *)w_row, x_row, n_in);
    }
    return 0.0f;
}

void asth_scalar_matmul(asth_type type, const void *w, int64_t n_in, int64_t row_begin,
                        int64_t row_end, const void *x, int64_t x_stride_bytes,
                        int64_t n_batch, float *out, int64_t out_stride) {
    for (int64_t r = row_begin; r < row_end; r++) {
        for (int64_t b = 0; b < n_batch; b++) {
            const char *x_row = (const char *)x + b * x_stride_bytes;
            out[b * out_stride + r] = dot_row(type, w, n_in, r, x_row);
        }
    }
}
