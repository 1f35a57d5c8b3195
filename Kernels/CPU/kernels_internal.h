/*
 * Declarations shared by the kernel files and never exported: each
 * variant's implementations, which dispatch.c gathers into tables, and the
 * inline helpers the scalar reference builds on.
 */
#ifndef ASTH_KERNELS_INTERNAL_H
#define ASTH_KERNELS_INTERNAL_H

#include "asth_kernels.h"

#include <string.h>

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

/* ---- Scalar reference (any architecture) -------------------------------- */

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
void asth_scalar_f32_to_f16_row(const float *x, asth_f16 *y, int64_t n);

#endif /* ASTH_KERNELS_INTERNAL_H */
