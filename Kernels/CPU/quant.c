/*
 * Block formats: sizes, fp16 conversion, dequantization and the scalar
 * quantizer for activations.
 *
 * The activation quantizer mirrors ggml's x86 SIMD quantize_row_q8_0 and
 * quantize_row_q8_1 (ggml-cpu/arch/x86/quants.c): one scale per 32 floats
 * from the largest magnitude, products rounded half to even. Every variant
 * must produce the same bytes, so this is the definition they are tested
 * against.
 */
#include "kernels_internal.h"

#include <math.h>

#pragma STDC FP_CONTRACT OFF

float asth_f16_to_f32(asth_f16 h) { return asth_f16_bits_to_f32(h); }

asth_f16 asth_f32_to_f16(float f) { return asth_f32_to_f16_bits(f); }

void asth_scalar_f32_to_f16_row(const float *x, asth_f16 *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = asth_f32_to_f16_bits(x[i]);
}

/* Bytes of one block of ASTH_QK elements, 0 for element types. */
static size_t block_bytes(asth_type type) {
    switch (type) {
    case ASTH_TYPE_Q4_0: return sizeof(asth_block_q4_0);
    case ASTH_TYPE_Q4_1: return sizeof(asth_block_q4_1);
    case ASTH_TYPE_Q8_0: return sizeof(asth_block_q8_0);
    default: return 0;
    }
}

size_t asth_row_bytes(asth_type type, int64_t n) {
    if (n < 0) return 0;
    if (type == ASTH_TYPE_F32) return (size_t)n * sizeof(float);
    if (type == ASTH_TYPE_F16) return (size_t)n * sizeof(asth_f16);
    size_t bytes = block_bytes(type);
    if (bytes == 0 || n % ASTH_QK != 0) return 0;
    return (size_t)(n / ASTH_QK) * bytes;
}

/* ---- Dequantization ----------------------------------------------------- */

static void dequantize_q4_0(const asth_block_q4_0 *src, float *dst, int64_t n_blocks) {
    for (int64_t b = 0; b < n_blocks; b++, dst += ASTH_QK) {
        float d = asth_f16_bits_to_f32(src[b].d);
        for (int j = 0; j < ASTH_QK / 2; j++) {
            dst[j] = (float)((src[b].qs[j] & 0x0f) - 8) * d;
            dst[j + ASTH_QK / 2] = (float)((src[b].qs[j] >> 4) - 8) * d;
        }
    }
}

static void dequantize_q4_1(const asth_block_q4_1 *src, float *dst, int64_t n_blocks) {
    for (int64_t b = 0; b < n_blocks; b++, dst += ASTH_QK) {
        float d = asth_f16_bits_to_f32(src[b].d);
        float m = asth_f16_bits_to_f32(src[b].m);
        for (int j = 0; j < ASTH_QK / 2; j++) {
            dst[j] = (float)(src[b].qs[j] & 0x0f) * d + m;
            dst[j + ASTH_QK / 2] = (float)(src[b].qs[j] >> 4) * d + m;
        }
    }
}

static void dequantize_q8_0(const asth_block_q8_0 *src, float *dst, int64_t n_blocks) {
    for (int64_t b = 0; b < n_blocks; b++, dst += ASTH_QK) {
        float d = asth_f16_bits_to_f32(src[b].d);
        for (int j = 0; j < ASTH_QK; j++) dst[j] = (float)src[b].qs[j] * d;
    }
}

void asth_dequantize_row(asth_type type, const void *src, float *dst, int64_t n) {
    if (asth_row_bytes(type, n) == 0 && n != 0) return;
    int64_t n_blocks = n / ASTH_QK;
    switch (type) {
    case ASTH_TYPE_F32: memcpy(dst, src, (size_t)n * sizeof(float)); break;
    case ASTH_TYPE_F16: {
        const asth_f16 *h = src;
        for (int64_t i = 0; i < n; i++) dst[i] = asth_f16_bits_to_f32(h[i]);
        break;
    }
    case ASTH_TYPE_Q4_0: dequantize_q4_0(src, dst, n_blocks); break;
    case ASTH_TYPE_Q4_1: dequantize_q4_1(src, dst, n_blocks); break;
    case ASTH_TYPE_Q8_0: dequantize_q8_0(src, dst, n_blocks); break;
    default: break; /* panel types: asth_row_bytes gives 0 for them */
    }
}

/* ---- Activation quantization -------------------------------------------- */

void asth_scalar_quantize_row_q8a(const float *x, asth_block_q8a *y, int64_t n) {
    for (int64_t b = 0; b < n / ASTH_QK; b++, x += ASTH_QK) {
        /* Scale from the largest magnitude; an all-zero block gets 0. */
        float amax = 0.0f;
        for (int j = 0; j < ASTH_QK; j++) amax = fmaxf(amax, fabsf(x[j]));
        float d = amax / 127.0f;
        float id = amax != 0.0f ? 127.0f / amax : 0.0f;

        /* Round half to even under the default rounding mode. */
        int32_t sum = 0;
        for (int j = 0; j < ASTH_QK; j++) {
            int32_t q = (int32_t)nearbyintf(x[j] * id);
            y[b].qs[j] = (int8_t)q;
            sum += q;
        }

        /* Store both through fp16; s uses the unrounded d, as ggml does. */
        y[b].d = asth_round_f16(d);
        y[b].s = asth_round_f16(d * (float)sum);
    }
}
