/*
 * AVX2+FMA attention of one query head over an fp16 KV cache, bit for bit
 * the scalar reference's (attention.c, NUMERICS.md) in both of llama.cpp's
 * orders:
 *
 * - scores: f16(q)·k_p in the vec order (one token: 4 × 16 lanes over
 *   steps of 64, the tail in double) or the tile order (several tokens:
 *   16 lanes over the whole head), then scaled;
 * - softmax over the window padded to 32 with ggml's vector exp;
 * - output: out_d = Σ_p f16(prob_p)·v_p[d], again in the vec order (whose
 *   split between lanes and the double tail the padded window decides) or
 *   the tile order. The sum runs over positions, so lanes are positions:
 *   the kernel keeps one accumulator per (lane, dimension), 8 dimensions
 *   to a register, and reduces the lanes in their tree dimension-wise.
 */
#include "kernels_internal.h"

#if defined(__x86_64__)

#include "simd_x86.h"

/* Head widths the vector path takes: multiples of 16 up to this. Others
 * (no model we know of) take the scalar reference. */
#define HEAD_DIM_MAX 256

/* llama.cpp pads the KV window to a multiple of this (attention.c). */
#define KV_WINDOW_PAD 32

/* Elements of one step of the vec order: 4 accumulators of 16 lanes. */
#define VEC_STEP 64

/* Dimensions one pass of the output sums keeps: 8 registers. */
#define DIMS_PER_PASS 64

/* ---- Scores -------------------------------------------------------------- */

/* f16(q)·k in the vec order over head_dim (q16 is already rounded). */
ASTH_INLINE ASTH_AVX2 float score_vec(const float *q16, const asth_f16 *k, int64_t head_dim) {
    __m256 low[4];
    __m256 high[4];
    for (int j = 0; j < 4; j++) low[j] = high[j] = _mm256_setzero_ps();
    int64_t n_vector = head_dim - head_dim % VEC_STEP;
    for (int64_t i0 = 0; i0 < n_vector; i0 += VEC_STEP) {
        for (int j = 0; j < 4; j++) {
            int64_t i = i0 + ASTH_LANES_16 * j;
            low[j] = _mm256_fmadd_ps(asth_load_f16x8(k + i), _mm256_loadu_ps(q16 + i), low[j]);
            high[j] = _mm256_fmadd_ps(asth_load_f16x8(k + i + 8), _mm256_loadu_ps(q16 + i + 8),
                                      high[j]);
        }
    }
    __m256 lanes_low = _mm256_add_ps(_mm256_add_ps(low[0], low[2]), _mm256_add_ps(low[1], low[3]));
    __m256 lanes_high =
        _mm256_add_ps(_mm256_add_ps(high[0], high[2]), _mm256_add_ps(high[1], high[3]));
    float r = asth_hsum16(lanes_low, lanes_high);
    if (n_vector == head_dim) return r;

    /* The tail in double, one product at a time. */
    double sum = (double)r;
    for (int64_t i = n_vector; i < head_dim; i++) {
        sum += (double)(asth_f16_bits_to_f32(k[i]) * q16[i]);
    }
    return (float)sum;
}

/* f16(q)·k in the tile order: 16 lanes over the whole head. */
ASTH_INLINE ASTH_AVX2 float score_tile(const float *q16, const asth_f16 *k, int64_t head_dim) {
    __m256 low = _mm256_setzero_ps();
    __m256 high = _mm256_setzero_ps();
    for (int64_t i = 0; i < head_dim; i += ASTH_LANES_16) {
        low = _mm256_fmadd_ps(asth_load_f16x8(k + i), _mm256_loadu_ps(q16 + i), low);
        high = _mm256_fmadd_ps(asth_load_f16x8(k + i + 8), _mm256_loadu_ps(q16 + i + 8), high);
    }
    return asth_hsum16(low, high);
}

static ASTH_AVX2 void scores(const float *q16, const asth_f16 *k, int64_t kv_stride,
                             int64_t n_pos, int64_t head_dim, float scale, int batched,
                             float *out) {
    for (int64_t p = 0; p < n_pos; p++) {
        const asth_f16 *k_row = k + p * kv_stride;
        float score = batched ? score_tile(q16, k_row, head_dim) : score_vec(q16, k_row, head_dim);
        out[p] = score * scale;
    }
}

/* ---- Output sums --------------------------------------------------------- */

/* slots[s][0..nv·8) = Σ_{p ≡ s mod n_slots, p < n_live} v_p[d0..]·prob_p,
 * each slot's products fused in position order, as lane s of the
 * reference's accumulators. */
ASTH_INLINE ASTH_AVX2 void fill_slots(const float *prob, const asth_f16 *v, int64_t kv_stride,
                                      int64_t n_live, int n_slots, int nv,
                                      __m256 slots[][DIMS_PER_PASS / 8]) {
    for (int s = 0; s < n_slots; s++) {
        __m256 acc[DIMS_PER_PASS / 8];
        for (int i = 0; i < nv; i++) acc[i] = _mm256_setzero_ps();
        for (int64_t p = s; p < n_live; p += n_slots) {
            __m256 weight = _mm256_set1_ps(prob[p]);
            const asth_f16 *v_row = v + p * kv_stride;
            for (int i = 0; i < nv; i++) {
                acc[i] = _mm256_fmadd_ps(asth_load_f16x8(v_row + 8 * i), weight, acc[i]);
            }
        }
        for (int i = 0; i < nv; i++) slots[s][i] = acc[i];
    }
}

/* asth_sum_tree16 of lanes[0..16), dimension by dimension. */
ASTH_INLINE ASTH_AVX2 __m256 tree16(const __m256 lanes[ASTH_LANES_16]) {
    __m256 g[ASTH_LANES_8];
    for (int i = 0; i < ASTH_LANES_8; i++) g[i] = _mm256_add_ps(lanes[i + 8], lanes[i]);
    __m256 h[4];
    for (int i = 0; i < 4; i++) h[i] = _mm256_add_ps(g[i + 4], g[i]);
    return _mm256_add_ps(_mm256_add_ps(h[0], h[2]), _mm256_add_ps(h[1], h[3]));
}

/* Tile order: 16 lanes over the n_pos positions, then the tree. */
static ASTH_AVX2 void output_tile(const float *prob, const asth_f16 *v, int64_t kv_stride,
                                  int64_t n_pos, int nv, float *out) {
    __m256 slots[ASTH_LANES_16][DIMS_PER_PASS / 8];
    fill_slots(prob, v, kv_stride, n_pos, ASTH_LANES_16, nv, slots);
    for (int i = 0; i < nv; i++) {
        __m256 lanes[ASTH_LANES_16];
        for (int l = 0; l < ASTH_LANES_16; l++) lanes[l] = slots[l][i];
        _mm256_storeu_ps(out + 8 * i, tree16(lanes));
    }
}

/* Vec order over the window of n_kv positions (padded; only n_pos live):
 * 4 × 16 lanes over whole steps of 64, (0 + 2) + (1 + 3), the tree, then
 * the live positions past the last whole step added in double. */
static ASTH_AVX2 void output_vec(const float *prob, const asth_f16 *v, int64_t kv_stride,
                                 int64_t n_pos, int64_t n_kv, int nv, float *out) {
    int64_t n_vector = n_kv - n_kv % VEC_STEP;
    int64_t n_lanes = n_pos < n_vector ? n_pos : n_vector;
    __m256 slots[VEC_STEP][DIMS_PER_PASS / 8];
    fill_slots(prob, v, kv_stride, n_lanes, VEC_STEP, nv, slots);
    for (int i = 0; i < nv; i++) {
        __m256 lanes[ASTH_LANES_16];
        for (int l = 0; l < ASTH_LANES_16; l++) {
            __m256 even = _mm256_add_ps(slots[l][i], slots[32 + l][i]);
            __m256 odd = _mm256_add_ps(slots[16 + l][i], slots[48 + l][i]);
            lanes[l] = _mm256_add_ps(even, odd);
        }
        __m256 r = tree16(lanes);

        /* The tail, per dimension in double: low and high 4 dimensions. */
        __m256d sum_low = _mm256_cvtps_pd(_mm256_castps256_ps128(r));
        __m256d sum_high = _mm256_cvtps_pd(_mm256_extractf128_ps(r, 1));
        for (int64_t p = n_vector; p < n_pos; p++) {
            __m256 product = _mm256_mul_ps(asth_load_f16x8(v + p * kv_stride + 8 * i),
                                           _mm256_set1_ps(prob[p]));
            sum_low = _mm256_add_pd(sum_low, _mm256_cvtps_pd(_mm256_castps256_ps128(product)));
            sum_high = _mm256_add_pd(sum_high, _mm256_cvtps_pd(_mm256_extractf128_ps(product, 1)));
        }
        __m128 low = _mm256_cvtpd_ps(sum_low);
        __m128 high = _mm256_cvtpd_ps(sum_high);
        _mm256_storeu_ps(out + 8 * i, _mm256_set_m128(high, low));
    }
}

/* ---- One head ------------------------------------------------------------ */

static ASTH_AVX2 void attend(const float *q, const asth_f16 *k, const asth_f16 *v,
                             int64_t kv_stride, int64_t n_pos, int64_t head_dim, float scale,
                             int batched, float *scratch, float *out) {
    /* q through fp16, once. */
    float q16[HEAD_DIM_MAX];
    int64_t d = 0;
    for (; d < head_dim; d += 8) {
        _mm256_storeu_ps(q16 + d, asth_round_f16x8(_mm256_loadu_ps(q + d)));
    }

    /* Scores, then the softmax over the padded window. */
    scores(q16, k, kv_stride, n_pos, head_dim, scale, batched, scratch);
    float max = asth_avx2_max(scratch, n_pos);
    double sum = asth_avx2_softmax_exp(scratch, n_pos, max, 1);
    float inverse = (float)(1.0 / sum);

    /* Probabilities, rounded through fp16 as the second product takes them. */
    int64_t p = 0;
    for (; p + 8 <= n_pos; p += 8) {
        __m256 prob = _mm256_mul_ps(_mm256_loadu_ps(scratch + p), _mm256_set1_ps(inverse));
        _mm256_storeu_ps(scratch + p, asth_round_f16x8(prob));
    }
    for (; p < n_pos; p++) scratch[p] = asth_round_f16(scratch[p] * inverse);

    /* The output, DIMS_PER_PASS dimensions at a time. */
    int64_t n_kv = (n_pos + KV_WINDOW_PAD - 1) / KV_WINDOW_PAD * KV_WINDOW_PAD;
    for (int64_t d0 = 0; d0 < head_dim; d0 += DIMS_PER_PASS) {
        int64_t dims = head_dim - d0 < DIMS_PER_PASS ? head_dim - d0 : DIMS_PER_PASS;
        int nv = (int)(dims / 8);
        if (batched) {
            output_tile(scratch, v + d0, kv_stride, n_pos, nv, out + d0);
        } else {
            output_vec(scratch, v + d0, kv_stride, n_pos, n_kv, nv, out + d0);
        }
    }
}

ASTH_AVX2 void asth_avx2_attention_head(const float *q, const asth_f16 *k, const asth_f16 *v,
                                        int64_t kv_stride, int64_t n_pos, int64_t head_dim,
                                        float scale, float *scratch, float *out) {
    if (head_dim > HEAD_DIM_MAX || head_dim % ASTH_LANES_16 != 0) {
        asth_scalar_attention_head(q, k, v, kv_stride, n_pos, head_dim, scale, scratch, out);
        return;
    }
    attend(q, k, v, kv_stride, n_pos, head_dim, scale, 0, scratch, out);
}

ASTH_AVX2 void asth_avx2_attention_head_batched(const float *q, const asth_f16 *k,
                                                const asth_f16 *v, int64_t kv_stride,
                                                int64_t n_pos, int64_t head_dim, float scale,
                                                float *scratch, float *out) {
    if (head_dim > HEAD_DIM_MAX || head_dim % ASTH_LANES_16 != 0) {
        asth_scalar_attention_head_batched(q, k, v, kv_stride, n_pos, head_dim, scale,
                                           scratch, out);
        return;
    }
    attend(q, k, v, kv_stride, n_pos, head_dim, scale, 1, scratch, out);
}

#endif /* __x86_64__ */
