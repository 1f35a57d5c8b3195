/*
 * Scalar reference for asth_matmul: one dot product per (row, batch row).
 *
 * Every dot product reproduces the float arithmetic of the ggml x86 kernel
 * llama.cpp runs for it (NUMERICS.md). Quantized blocks follow
 * ggml_vec_dot_{q4_0,q4_1,q8_0}_q8_{0,1} (ggml-cpu/arch/x86/quants.c) and
 * llamafile's tinyBLAS_Q0_AVX, which compute the same thing: the exact
 * integer sum of each group of 4 products goes to one of 8 float lanes,
 * lane += d_w·d_x · sum by FMA, block after block, then the 8 lanes are
 * summed in ggml's hsum tree. F16 and F32 rows follow ggml_vec_dot_f16 /
 * ggml_vec_dot_f32 for one batch row and tinyBLAS for two or more, as
 * ggml_compute_forward_mul_mat routes them.
 */
#include "kernels_internal.h"

#pragma STDC FP_CONTRACT OFF

/* Products per lane of the quantized dot products (dpbusd / maddubs). */
#define PRODUCTS_PER_LANE 4

/* Elements of one step of ggml_vec_dot_f16/f32: 4 accumulators of 16. */
#define VEC_DOT_STEP 64

/* The 32 quants of a 4-bit block in element order, each minus `offset`:
 * low nibbles hold elements 0..15, high nibbles 16..31. */
static inline void unpack_nibbles(const uint8_t *qs, int offset, int8_t q[ASTH_QK]) {
    for (int j = 0; j < ASTH_QK / 2; j++) {
        q[j] = (int8_t)((qs[j] & 0x0f) - offset);
        q[j + ASTH_QK / 2] = (int8_t)((qs[j] >> 4) - offset);
    }
}

/* lanes[l] = fma(d, Σ_{j in lane l} q_w[j]·q_x[j], lanes[l]); q_w holds
 * 32 weights already unpacked (offset removed for Q4_0). */
static void accumulate_block(float lanes[ASTH_LANES_8], float d, const int8_t *q_w,
                             const int8_t *q_x) {
    for (int l = 0; l < ASTH_LANES_8; l++) {
        int32_t sum = 0;
        for (int j = l * PRODUCTS_PER_LANE; j < (l + 1) * PRODUCTS_PER_LANE; j++) {
            sum += q_w[j] * q_x[j];
        }
        lanes[l] = fmaf(d, (float)sum, lanes[l]);
    }
}

/* One block of each quantized type into the 8 lanes (and Q4_1's sum_m). */
static void block_q4_0(float lanes[ASTH_LANES_8], float *sum_m, const void *block,
                       const asth_block_q8a *x) {
    const asth_block_q4_0 *w = block;
    int8_t q_w[ASTH_QK];
    unpack_nibbles(w->qs, 8, q_w);
    accumulate_block(lanes, asth_f16_bits_to_f32(w->d) * x->d, q_w, x->qs);
}

/* Q4_1's m_w·s_x terms go to a separate float sum, in block order, added
 * after the lanes. Both factors are fp16 values, so each product is exact
 * and an FMA there would change nothing. */
static void block_q4_1(float lanes[ASTH_LANES_8], float *sum_m, const void *block,
                       const asth_block_q8a *x) {
    const asth_block_q4_1 *w = block;
    *sum_m += asth_f16_bits_to_f32(w->m) * x->s;
    int8_t q_w[ASTH_QK];
    unpack_nibbles(w->qs, 0, q_w);
    accumulate_block(lanes, asth_f16_bits_to_f32(w->d) * x->d, q_w, x->qs);
}

static void block_q8_0(float lanes[ASTH_LANES_8], float *sum_m, const void *block,
                       const asth_block_q8a *x) {
    const asth_block_q8_0 *w = block;
    accumulate_block(lanes, asth_f16_bits_to_f32(w->d) * x->d, w->qs, x->qs);
}

/* One block of a file type: the step each dot product repeats. */
static inline void step(asth_type file_type, float lanes[ASTH_LANES_8], float *sum_m,
                        const void *block, const asth_block_q8a *x) {
    switch (file_type) {
    case ASTH_TYPE_Q4_0: block_q4_0(lanes, sum_m, block, x); return;
    case ASTH_TYPE_Q4_1: block_q4_1(lanes, sum_m, block, x); return;
    default: block_q8_0(lanes, sum_m, block, x); return;
    }
}

/* The tree of the lanes, then Q4_1's sum_m (only Q4_1's: adding +0
 * would turn a −0 result into +0). */
static float finish(asth_type file_type, const float lanes[ASTH_LANES_8], float sum_m) {
    float sum = asth_sum_tree8(lanes);
    return file_type == ASTH_TYPE_Q4_1 ? sum + sum_m : sum;
}

/* Σ_blocks d_w·d_x·Σ(q_w·q_x) (+ Σ m_w·s_x for Q4_1) over n_blocks of a
 * row in the file's layout: blocks block_bytes apart. */
static float dot_quantized(asth_type type, const char *w, size_t block_bytes,
                           const asth_block_q8a *x, int64_t n_blocks) {
    float lanes[ASTH_LANES_8] = {0};
    float sum_m = 0.0f;
    for (int64_t b = 0; b < n_blocks; b++) {
        step(type, lanes, &sum_m, w + b * block_bytes, &x[b]);
    }
    return finish(type, lanes, sum_m);
}

/* dot_quantized of row `row` of a panel matrix, read back block by block. */
static float dot_panel_row(const asth_panel_shape *shape, const void *panels, int64_t row,
                           const asth_block_q8a *x) {
    float lanes[ASTH_LANES_8] = {0};
    float sum_m = 0.0f;
    for (int64_t b = 0; b < shape->n_blocks; b++) {
        _Alignas(8) char block[sizeof(asth_block_q8_0)];
        asth_panel_block(shape, panels, row, b, block);
        step(shape->file_type, lanes, &sum_m, block, &x[b]);
    }
    return finish(shape->file_type, lanes, sum_m);
}

/* ---- Float dot products in ggml's two orders ------------------------------ */

/* Element i of a float-kind vector x: fp16 bits or float, stride apart. */
static inline float element(const asth_float_vector x, int64_t i) {
    if (x.is_f16) return asth_f16_bits_to_f32(((const asth_f16 *)x.data)[i * x.stride]);
    return ((const float *)x.data)[i * x.stride];
}

/* The 16 lanes ggml_vec_dot_f16/f32 reduce: accumulator j of 4 takes
 * elements 16j..16j+15 of every step of 64, then (0 + 2) + (1 + 3). */
static void vec_dot_lanes(const asth_float_vector x, const float *y, int64_t n_vector,
                          float lanes[ASTH_LANES_16]) {
    float acc[4][ASTH_LANES_16] = {{0}};
    for (int64_t i = 0; i < n_vector; i++) {
        float *slot = &acc[(i % VEC_DOT_STEP) / ASTH_LANES_16][i % ASTH_LANES_16];
        float y_i = x.is_f16 ? asth_round_f16(y[i]) : y[i];
        *slot = fmaf(element(x, i), y_i, *slot);
    }
    for (int l = 0; l < ASTH_LANES_16; l++) {
        lanes[l] = (acc[0][l] + acc[2][l]) + (acc[1][l] + acc[3][l]);
    }
}

/*
 * ggml_vec_dot_f16 (fp16 x, y rounded to fp16) or ggml_vec_dot_f32 over n
 * elements of which the first n_live may be nonzero: steps of 64 in the
 * lanes, then the tail past the last whole step one product at a time, in
 * index order. f16 sums its tail in double. f32 sums it in float the way
 * GCC compiled `sumf += x[i]*y[i]`: the products of whole groups of 8 are
 * rounded, then added (vectorised multiplies, in-order adds); the last
 * tail % 8 are fused into the sum.
 */
float asth_scalar_dot_vec(const asth_float_vector x, const float *y, int64_t n_live,
                          int64_t n) {
    int64_t n_vector = n - n % VEC_DOT_STEP;
    int64_t n_lanes = n_live < n_vector ? n_live : n_vector;
    float lanes[ASTH_LANES_16];
    vec_dot_lanes(x, y, n_lanes, lanes);
    if (x.is_f16) {
        double sum = (double)asth_sum_tree16(lanes);
        for (int64_t i = n_vector; i < n_live; i++) {
            sum += (double)(element(x, i) * asth_round_f16(y[i]));
        }
        return (float)sum;
    }
    float sum = asth_sum_tree16(lanes);
    int64_t n_unfused = n_vector + (n - n_vector) / ASTH_LANES_8 * ASTH_LANES_8;
    for (int64_t i = n_vector; i < n_live; i++) {
        if (i < n_unfused) {
            sum += element(x, i) * y[i];
        } else {
            sum = fmaf(element(x, i), y[i], sum);
        }
    }
    return sum;
}

/* llamafile's tinyBLAS<16> (its n is a multiple of 16; lanes past n_live
 * take zero products, which change nothing): one 16-lane FMA accumulator
 * over the vector, then the 16-lane tree. */
float asth_scalar_dot_tile(const asth_float_vector x, const float *y, int64_t n_live) {
    float lanes[ASTH_LANES_16] = {0};
    for (int64_t i = 0; i < n_live; i++) {
        float y_i = x.is_f16 ? asth_round_f16(y[i]) : y[i];
        float *lane = &lanes[i % ASTH_LANES_16];
        *lane = fmaf(element(x, i), y_i, *lane);
    }
    return asth_sum_tree16(lanes);
}

/* ---- Rows ------------------------------------------------------------------ */

/* One dot product of weight row `row` with the activation row at x_row;
 * tiled: the batch takes llamafile's order (float kinds only). */
static float dot_row(asth_type type, const void *w, int64_t n_in, int64_t row,
                     const void *x_row, int tiled) {
    size_t row_bytes = asth_row_bytes(type, n_in);
    const char *w_row = (const char *)w + (size_t)row * row_bytes;
    int64_t n_blocks = n_in / ASTH_QK;
    switch (type) {
    case ASTH_TYPE_Q4_0:
    case ASTH_TYPE_Q4_1:
    case ASTH_TYPE_Q8_0:
        return dot_quantized(type, w_row, row_bytes / (size_t)n_blocks, x_row, n_blocks);
    case ASTH_TYPE_F16:
    case ASTH_TYPE_F32: {
        asth_float_vector w_vector = {w_row, type == ASTH_TYPE_F16, 1};
        if (tiled) return asth_scalar_dot_tile(w_vector, x_row, n_in);
        return asth_scalar_dot_vec(w_vector, x_row, n_in, n_in);
    }
    default: break;
    }
    return 0.0f;
}

/*
 * Panel types read each row back into the file's blocks, so they give the
 * file layout's bits. llama.cpp hands a float matmul to tinyBLAS when the
 * batch has two or more rows and n_in is a whole number of 16-lane steps
 * (it also needs the weight's row count to be a multiple of 4, which a row
 * range cannot see; NUMERICS.md notes it).
 */
void asth_scalar_matmul(asth_type type, const void *w, int64_t n_in, int64_t row_begin,
                        int64_t row_end, const void *x, int64_t x_stride_bytes,
                        int64_t n_batch, float *out, int64_t out_stride) {
    asth_panel_shape shape;
    if (asth_panel_shape_of(type, n_in, &shape)) {
        for (int64_t r = row_begin; r < row_end; r++) {
            for (int64_t b = 0; b < n_batch; b++) {
                const void *x_row = (const char *)x + b * x_stride_bytes;
                out[b * out_stride + r] = dot_panel_row(&shape, w, r, x_row);
            }
        }
        return;
    }
    int tiled = n_batch >= 2 && n_in % ASTH_LANES_16 == 0;
    for (int64_t r = row_begin; r < row_end; r++) {
        for (int64_t b = 0; b < n_batch; b++) {
            const char *x_row = (const char *)x + b * x_stride_bytes;
            out[b * out_stride + r] = dot_row(type, w, n_in, r, x_row, tiled);
        }
    }
}
