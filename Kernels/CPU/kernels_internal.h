/*
 * Declarations shared by the kernel files and never exported: each
 * variant's implementations, which dispatch.c gathers into tables, and the
 * inline helpers the scalar reference builds on.
 */
#ifndef ASTH_KERNELS_INTERNAL_H
#define ASTH_KERNELS_INTERNAL_H

#include "asth_kernels.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

/* Every float operation below is rounded where it is written: the inline
 * helpers reproduce ggml's arithmetic exactly, so no compiler may fuse a
 * multiply and an add that the source keeps apart. The files that include
 * this header keep the same rule. */
#pragma STDC FP_CONTRACT OFF

/* ---- fp16 bit conversions, inline for the scalar loops ------------------ */

/* Exact: every fp16 value is a float value. NaN payloads move up unchanged. */
static inline float asth_f16_bits_to_f32(asth_f16 h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exponent = (h >> 10) & 0x1f;
    uint32_t mantissa = h & 0x3ff;
    uint32_t bits;
    if (exponent == 0x1f) {
        bits = sign | 0x7f800000u | (mantissa << 13);
    } else if (exponent != 0) {
        bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
    } else {
        /* Zero or subnormal: mantissa * 2^-24 is exact in float. */
        float magnitude = (float)mantissa * 0x1p-24f;
        memcpy(&bits, &magnitude, sizeof bits);
        bits |= sign;
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* Round to nearest even, as F16C's vcvtps2ph with imm 0 does, NaNs
 * included: a NaN is quieted and keeps the top 10 bits of its payload. */
static inline asth_f16 asth_f32_to_f16_bits(float f) {
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    uint32_t sign = (bits >> 16) & 0x8000;
    uint32_t magnitude = bits & 0x7fffffff;

    /* Inf and NaN; then everything from 65536 up overflows to inf. */
    if (magnitude >= 0x7f800000u) {
        if (magnitude == 0x7f800000u) return (asth_f16)(sign | 0x7c00);
        return (asth_f16)(sign | 0x7e00 | ((magnitude >> 13) & 0x3ff));
    }
    if (magnitude >= 0x47800000u) return (asth_f16)(sign | 0x7c00);

    /* Normal results: drop 13 mantissa bits; a carry may reach inf. */
    if (magnitude >= 0x38800000u) {
        uint32_t h = (magnitude - 0x38000000u) >> 13;
        uint32_t rest = magnitude & 0x1fff;
        if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) h += 1;
        return (asth_f16)(sign | h);
    }

    /* Subnormal results, in units of 2^-24; at most 2^-25 rounds to zero. */
    if (magnitude <= 0x33000000u) return (asth_f16)sign;
    uint32_t exponent = magnitude >> 23;
    uint32_t mantissa = (magnitude & 0x7fffff) | 0x800000;
    uint32_t shift = 126 - exponent;
    uint32_t h = mantissa >> shift;
    uint32_t rest = mantissa & ((1u << shift) - 1);
    uint32_t half = 1u << (shift - 1);
    if (rest > half || (rest == half && (h & 1))) h += 1;
    return (asth_f16)(sign | h);
}

/* The float value of x rounded through fp16. */
static inline float asth_round_f16(float x) {
    return asth_f16_bits_to_f32(asth_f32_to_f16_bits(x));
}

/* ---- ggml's float arithmetic, lane by lane -------------------------------
 *
 * The helpers below reproduce, in portable C, the float operations of
 * ggml's x86 build (GCC, -O3 -march=native on an AVX-512 machine) that
 * llama.cpp runs; NUMERICS.md lists them op by op. fmaf stands for every
 * FMA instruction ggml's build executes, plain * and + for every rounded
 * multiply and add; nothing else may be fused.
 */

/* Lanes of the 8-wide accumulators of ggml's quantized dot products. */
#define ASTH_LANES_8 8

/* Lanes of the 16-wide (AVX-512) accumulators of ggml's float paths. */
#define ASTH_LANES_16 16

/* Sum of 8 lanes in the tree of ggml's hsum_float_8 (and of llamafile's
 * hsum for __m256): upper half onto lower half, then (0+2) + (1+3). */
static inline float asth_sum_tree8(const float v[ASTH_LANES_8]) {
    float h4[4];
    for (int i = 0; i < 4; i++) h4[i] = v[i + 4] + v[i];
    return (h4[0] + h4[2]) + (h4[1] + h4[3]);
}

/* Sum of 16 lanes in the tree of GCC's _mm512_reduce_add_ps: upper 8
 * onto lower 8, then as asth_sum_tree8. */
static inline float asth_sum_tree16(const float v[ASTH_LANES_16]) {
    float h8[ASTH_LANES_8];
    for (int i = 0; i < ASTH_LANES_8; i++) h8[i] = v[i + 8] + v[i];
    return asth_sum_tree8(h8);
}

/*
 * e^x as one lane of ggml_v_expf, AVX-512 form (ggml-cpu/vec.h; ggml
 * adapted it from ARM's optimized-routines): n = round(x / ln 2) by the
 * 1.5·2^23 trick, b = x − n·ln 2 in two FMA steps, a degree-5 polynomial
 * in b by Horner pairs, then j·2^n (vscalefps). |n| > 192 gives 0 or inf.
 * Within 1.5 ulp of expf; not equal to it, and llama.cpp uses it for
 * SiLU, SwiGLU and soft_max, so we must too.
 */
static inline float asth_ggml_expf(float x) {
    const float shift = 0x1.8p23f;
    float z = fmaf(x, 0x1.715476p+0f, shift);
    float n = z - shift;
    float b = fmaf(-n, 0x1.7f7d1cp-20f, fmaf(-n, 0x1.62e4p-1f, x));
    float u = b * b;
    float odd = fmaf(fmaf(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u,
                     fmaf(0x1.555e66p-3f, b, 0x1.fffdb6p-2f));
    float j = fmaf(odd, u, fmaf(0x1.ffffecp-1f, b, 1.0f));
    if (isnan(n)) return n;
    if (fabsf(n) > 192.0f) return n <= 0.0f ? 0.0f : INFINITY;
    /* n is a whole number in [-192, 192]: scaling by it rounds once. */
    return ldexpf(j, (int)n);
}

/* silu(x) = x / (1 + e^−x), as one lane of ggml_v_silu (AVX-512). */
static inline float asth_ggml_silu(float x) {
    float e = asth_ggml_expf(0.0f - x);
    return x / (1.0f + e);
}

/* ---- Panel geometry (asth_kernels.h describes the layout) ---------------- */

/* Where a panel matrix keeps what. */
typedef struct {
    asth_type file_type;  /* Q4_0, Q4_1 or Q8_0: the blocks the panels hold */
    int64_t n_blocks;     /* blocks per row */
    size_t block_bytes;   /* one block of one row in the file */
    size_t quant_bytes;   /* one block's quants, 16 rows: 256 (Q4) or 512 (Q8_0) */
    size_t scale_bytes;   /* one block's d (and m), 16 rows: 32 or 64 (Q4_1) */
    size_t stride;        /* one panel, padded to ASTH_PANEL_ALIGN */
} asth_panel_shape;

/* The shape of panels of `panel_type` for rows of n_in elements; false
 * when the type is no panel type or n_in no whole number of blocks. */
static inline bool asth_panel_shape_of(asth_type panel_type, int64_t n_in,
                                       asth_panel_shape *shape) {
    if (!(panel_type & ASTH_PANEL_TYPE_BIT) || n_in <= 0 || n_in % ASTH_QK != 0) return false;
    asth_type file_type = (asth_type)(panel_type & ~ASTH_PANEL_TYPE_BIT);
    switch (file_type) {
    case ASTH_TYPE_Q4_0:
        shape->block_bytes = sizeof(asth_block_q4_0);
        shape->quant_bytes = ASTH_PANEL_ROWS * ASTH_QK / 2;
        shape->scale_bytes = ASTH_PANEL_ROWS * sizeof(asth_f16);
        break;
    case ASTH_TYPE_Q4_1:
        shape->block_bytes = sizeof(asth_block_q4_1);
        shape->quant_bytes = ASTH_PANEL_ROWS * ASTH_QK / 2;
        shape->scale_bytes = 2 * ASTH_PANEL_ROWS * sizeof(asth_f16);
        break;
    case ASTH_TYPE_Q8_0:
        shape->block_bytes = sizeof(asth_block_q8_0);
        shape->quant_bytes = ASTH_PANEL_ROWS * ASTH_QK;
        shape->scale_bytes = ASTH_PANEL_ROWS * sizeof(asth_f16);
        break;
    default: return false;
    }
    shape->file_type = file_type;
    shape->n_blocks = n_in / ASTH_QK;
    size_t bytes = (size_t)shape->n_blocks * (shape->quant_bytes + shape->scale_bytes);
    shape->stride = (bytes + ASTH_PANEL_ALIGN - 1) / ASTH_PANEL_ALIGN * ASTH_PANEL_ALIGN;
    return true;
}

/* Block b of row `row` of a panel matrix, back in the file's layout, into
 * `block` (block_bytes of it). */
void asth_panel_block(const asth_panel_shape *shape, const void *panels, int64_t row,
                      int64_t b, void *block);

/* ---- Scalar reference (any architecture) -------------------------------- */

/* A vector of floats or fp16 values, stride elements apart. */
typedef struct {
    const void *data;
    int is_f16;
    int64_t stride;
} asth_float_vector;

/* Float dot products in ggml's two orders (matmul_scalar.c). */
float asth_scalar_dot_vec(const asth_float_vector x, const float *y, int64_t n_live,
                          int64_t n);
float asth_scalar_dot_tile(const asth_float_vector x, const float *y, int64_t n_live);

/* ggml_vec_soft_max_f32's exponentials and double sum (ops.c). */
double asth_scalar_softmax_exp(float *x, int64_t n, float max, int pad_tail);

void asth_scalar_quantize_row_q8a(const float *x, asth_block_q8a *y, int64_t n);
void asth_scalar_matmul(asth_type type, const void *w, int64_t n_in, int64_t row_begin,
                        int64_t row_end, const void *x, int64_t x_stride_bytes,
                        int64_t n_batch, float *out, int64_t out_stride);
void asth_scalar_rmsnorm(const float *x, const float *w, float *out, int64_t n, float eps);
void asth_scalar_add(float *x, const float *y, int64_t n);
void asth_scalar_silu_mul(const float *g, const float *u, float *out, int64_t n);
void asth_scalar_softmax(float *x, int64_t n);
void asth_scalar_rope_norm(float *x, int64_t n_heads, int64_t head_dim, int64_t rope_dims,
                           int64_t pos, float freq_base);
void asth_scalar_attention_head(const float *q, const asth_f16 *k, const asth_f16 *v,
                                int64_t kv_stride, int64_t n_pos, int64_t head_dim,
                                float scale, float *scratch, float *out);
void asth_scalar_attention_head_batched(const float *q, const asth_f16 *k,
                                        const asth_f16 *v, int64_t kv_stride, int64_t n_pos,
                                        int64_t head_dim, float scale, float *scratch,
                                        float *out);
void asth_scalar_attention_group(const float *q, int64_t n_group, const asth_f16 *k,
                                 const asth_f16 *v, int64_t kv_stride, int64_t n_pos,
                                 int64_t head_dim, float scale, int batched, float *scratch,
                                 float *out);
void asth_scalar_f32_to_f16_row(const float *x, asth_f16 *y, int64_t n);

/* ---- x86 variants (x86-64 only) ----------------------------------------- */

#if defined(__x86_64__)
void asth_avx2_quantize_row_q8a(const float *x, asth_block_q8a *y, int64_t n);
void asth_avx2_matmul(asth_type type, const void *w, int64_t n_in, int64_t row_begin,
                      int64_t row_end, const void *x, int64_t x_stride_bytes, int64_t n_batch,
                      float *out, int64_t out_stride);
void asth_avx2_matmul_float(asth_type type, const void *w, int64_t n_in, int64_t row_begin,
                            int64_t row_end, const void *x, int64_t x_stride_bytes,
                            int64_t n_batch, float *out, int64_t out_stride);
void asth_avx2_silu_mul(const float *g, const float *u, float *out, int64_t n);
void asth_avx2_softmax(float *x, int64_t n);
void asth_avx2_attention_head(const float *q, const asth_f16 *k, const asth_f16 *v,
                              int64_t kv_stride, int64_t n_pos, int64_t head_dim, float scale,
                              float *scratch, float *out);
void asth_avx2_attention_head_batched(const float *q, const asth_f16 *k, const asth_f16 *v,
                                      int64_t kv_stride, int64_t n_pos, int64_t head_dim,
                                      float scale, float *scratch, float *out);
void asth_avx2_attention_group(const float *q, int64_t n_group, const asth_f16 *k,
                               const asth_f16 *v, int64_t kv_stride, int64_t n_pos,
                               int64_t head_dim, float scale, int batched, float *scratch,
                               float *out);
void asth_avx2_f32_to_f16_row(const float *x, asth_f16 *y, int64_t n);

/* Softmax pieces the attention kernels share (ops_avx2.c): the largest of
 * n floats, asth_scalar_softmax_exp's exponentials and double sum, and
 * x[i] *= scale. */
float asth_avx2_max(const float *x, int64_t n);
double asth_avx2_softmax_exp(float *x, int64_t n, float max, int pad_tail);
void asth_avx2_scale(float *x, int64_t n, float scale);

void asth_avx512_matmul(asth_type type, const void *w, int64_t n_in, int64_t row_begin,
                        int64_t row_end, const void *x, int64_t x_stride_bytes,
                        int64_t n_batch, float *out, int64_t out_stride);
void asth_avx512_attention_head(const float *q, const asth_f16 *k, const asth_f16 *v,
                                int64_t kv_stride, int64_t n_pos, int64_t head_dim,
                                float scale, float *scratch, float *out);
void asth_avx512_attention_head_batched(const float *q, const asth_f16 *k, const asth_f16 *v,
                                        int64_t kv_stride, int64_t n_pos, int64_t head_dim,
                                        float scale, float *scratch, float *out);
void asth_avx512_attention_group(const float *q, int64_t n_group, const asth_f16 *k,
                                 const asth_f16 *v, int64_t kv_stride, int64_t n_pos,
                                 int64_t head_dim, float scale, int batched, float *scratch,
                                 float *out);
void asth_avx512_matmul_float(asth_type type, const void *w, int64_t n_in, int64_t row_begin,
                              int64_t row_end, const void *x, int64_t x_stride_bytes,
                              int64_t n_batch, float *out, int64_t out_stride);
#endif

#endif /* ASTH_KERNELS_INTERNAL_H */
