/*
 * Attention of the query heads that share one KV head, over an fp16 KV
 * cache, bit for bit the scalar reference's (attention.c, NUMERICS.md) in
 * both of llama.cpp's orders. Written once and compiled twice, like
 * quant_tile_x86.h: attention_avx2.c and attention_avx512.c include it
 * after defining AT_TARGET (the target attribute), AT_NAME(name) (the
 * exported names' prefix) and AT_OUT_DIMS (dimensions per head one pass of
 * the output keeps in registers: 16 for AVX2's 16 registers, 32 for
 * AVX-512's 32).
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
 *
 * The heads of a group read the same keys and values, so each row of k
 * and v is widened from fp16 once for all of them.
 */
#include "kernels_internal.h"
#include "simd_x86.h"

/* Head widths the vector path takes: multiples of 16 up to this. Others
 * (no model we know of) take the scalar reference. */
#define AT_HEAD_DIM_MAX 256

/* Query heads per KV head one pass takes; larger groups take several. */
#define AT_GROUP_MAX 4

/* llama.cpp pads the KV window to a multiple of this (attention.c). */
#define AT_KV_WINDOW_PAD 32

/* Elements of one step of the vec order: 4 accumulators of 16 lanes. */
#define AT_VEC_STEP 64

/* Registers per head one pass of the output keeps. */
#define AT_OUT_VECTORS (AT_OUT_DIMS / 8)

/* One group: n_group query heads over one KV head. */
typedef struct {
    const float *q16;  /* [n_group][head_dim]: q rounded through fp16 */
    const asth_f16 *k; /* position 0 of the KV head's keys */
    const asth_f16 *v; /* position 0 of its values */
    int64_t kv_stride; /* elements between positions */
    int64_t n_pos;
    int64_t head_dim;
    float *prob;       /* [n_group][n_pos]: scores, then probabilities */
} at_group;

/* ---- Scores -------------------------------------------------------------- */

/* lanes[8..16) + lanes[0..8) of f16(q)·k over a head of whole steps of 64
 * in the vec order, or of 16 in the tile order, from the widened key k:
 * its tree8 is the score. */
ASTH_INLINE AT_TARGET __m256 at_score_lanes(const __m256 *k, const float *q16,
                                            int64_t head_dim, int batched) {
    if (batched) {
        __m256 low = _mm256_setzero_ps();
        __m256 high = _mm256_setzero_ps();
        for (int64_t i = 0; i < head_dim; i += ASTH_LANES_16) {
            low = _mm256_fmadd_ps(k[i / 8], _mm256_loadu_ps(q16 + i), low);
            high = _mm256_fmadd_ps(k[i / 8 + 1], _mm256_loadu_ps(q16 + i + 8), high);
        }
        return _mm256_add_ps(high, low);
    }
    __m256 low[4];
    __m256 high[4];
    for (int j = 0; j < 4; j++) low[j] = high[j] = _mm256_setzero_ps();
    for (int64_t i0 = 0; i0 < head_dim; i0 += AT_VEC_STEP) {
        for (int j = 0; j < 4; j++) {
            int64_t i = i0 + ASTH_LANES_16 * j;
            low[j] = _mm256_fmadd_ps(k[i / 8], _mm256_loadu_ps(q16 + i), low[j]);
            high[j] = _mm256_fmadd_ps(k[i / 8 + 1], _mm256_loadu_ps(q16 + i + 8), high[j]);
        }
    }
    __m256 lanes_low = _mm256_add_ps(_mm256_add_ps(low[0], low[2]), _mm256_add_ps(low[1], low[3]));
    __m256 lanes_high =
        _mm256_add_ps(_mm256_add_ps(high[0], high[2]), _mm256_add_ps(high[1], high[3]));
    return _mm256_add_ps(lanes_high, lanes_low);
}

/* One score in the vec order with a tail past the last step of 64 (the
 * head is not a whole number of steps): the lanes, then the tail in
 * double, one product at a time. */
static AT_TARGET float at_score_vec_tail(const float *q16, const asth_f16 *k, int64_t head_dim) {
    __m256 widened[AT_HEAD_DIM_MAX / 8];
    int64_t n_vector = head_dim - head_dim % AT_VEC_STEP;
    for (int64_t i = 0; i < n_vector; i += 8) widened[i / 8] = asth_load_f16x8(k + i);
    float r = asth_hsum8(at_score_lanes(widened, q16, n_vector, 0));
    double sum = (double)r;
    for (int64_t i = n_vector; i < head_dim; i++) {
        sum += (double)(asth_f16_bits_to_f32(k[i]) * q16[i]);
    }
    return (float)sum;
}

/* The scores of n_group heads (constant, like head_dim where callers can
 * make it so), eight positions at a time so their trees share one
 * transposed reduction (asth_hsum8x8 adds as asth_hsum8 does). */
ASTH_INLINE AT_TARGET void at_scores(const at_group *g, int n_group, int64_t head_dim,
                                     float scale, int batched) {
    int64_t n_pos = g->n_pos;
    int64_t p = 0;
    if (batched || head_dim % AT_VEC_STEP == 0) {
        for (; p + 8 <= n_pos; p += 8) {
            __m256 lanes[AT_GROUP_MAX][8];
            for (int i = 0; i < 8; i++) {
                __m256 k[AT_HEAD_DIM_MAX / 8];
                const asth_f16 *k_row = g->k + (p + i) * g->kv_stride;
                for (int64_t d = 0; d < head_dim; d += 8) k[d / 8] = asth_load_f16x8(k_row + d);
                for (int h = 0; h < n_group; h++) {
                    lanes[h][i] = at_score_lanes(k, g->q16 + h * head_dim, head_dim, batched);
                }
            }
            for (int h = 0; h < n_group; h++) {
                __m256 scores = _mm256_mul_ps(asth_hsum8x8(lanes[h]), _mm256_set1_ps(scale));
                _mm256_storeu_ps(g->prob + h * n_pos + p, scores);
            }
        }
    }
    for (; p < n_pos; p++) {
        const asth_f16 *k_row = g->k + p * g->kv_stride;
        for (int h = 0; h < n_group; h++) {
            const float *q16 = g->q16 + h * head_dim;
            float score;
            if (batched || head_dim % AT_VEC_STEP == 0) {
                __m256 k[AT_HEAD_DIM_MAX / 8];
                for (int64_t d = 0; d < head_dim; d += 8) k[d / 8] = asth_load_f16x8(k_row + d);
                score = asth_hsum8(at_score_lanes(k, q16, head_dim, batched));
            } else {
                score = at_score_vec_tail(q16, k_row, head_dim);
            }
            g->prob[h * n_pos + p] = score * scale;
        }
    }
}

/* ---- Output sums --------------------------------------------------------- */

/* acc[h][i] = Σ_{p ≡ s mod n_slots, p < n_live} v_p[d0 + 8i..]·prob_h[p],
 * each head's products fused in position order, as lane s of the
 * reference's accumulators. */
ASTH_INLINE AT_TARGET void at_slot(const at_group *g, int n_group, int64_t d0, int64_t n_live,
                                   int s, int n_slots, int nv,
                                   __m256 acc[AT_GROUP_MAX][AT_OUT_VECTORS]) {
    for (int h = 0; h < n_group; h++) {
        for (int i = 0; i < nv; i++) acc[h][i] = _mm256_setzero_ps();
    }
    for (int64_t p = s; p < n_live; p += n_slots) {
        const asth_f16 *v_row = g->v + p * g->kv_stride + d0;
        __m256 v[AT_OUT_VECTORS];
        for (int i = 0; i < nv; i++) v[i] = asth_load_f16x8(v_row + 8 * i);
        for (int h = 0; h < n_group; h++) {
            __m256 weight = _mm256_set1_ps(g->prob[h * g->n_pos + p]);
            for (int i = 0; i < nv; i++) acc[h][i] = _mm256_fmadd_ps(v[i], weight, acc[h][i]);
        }
    }
}

/* asth_sum_tree16 of lanes[0..16), dimension by dimension. */
ASTH_INLINE AT_TARGET __m256 at_tree16(const __m256 lanes[ASTH_LANES_16]) {
    __m256 g[ASTH_LANES_8];
    for (int i = 0; i < ASTH_LANES_8; i++) g[i] = _mm256_add_ps(lanes[i + 8], lanes[i]);
    __m256 h[4];
    for (int i = 0; i < 4; i++) h[i] = _mm256_add_ps(g[i + 4], g[i]);
    return _mm256_add_ps(_mm256_add_ps(h[0], h[2]), _mm256_add_ps(h[1], h[3]));
}

/*
 * Dimensions [d0, d0 + 8·nv) of every head's output. Tile order: lane l is
 * slot l of 16 over the n_pos positions. Vec order: slot s of 64 over the
 * whole steps of the padded window, lane l = (slot l + slot 32 + l) +
 * (slot 16 + l + slot 48 + l), then the live positions past the last
 * whole step added in double.
 */
ASTH_INLINE AT_TARGET void at_output(const at_group *g, int n_group, int64_t d0, int nv,
                                     int batched, float *out) {
    int64_t n_pos = g->n_pos;
    int64_t n_kv = (n_pos + AT_KV_WINDOW_PAD - 1) / AT_KV_WINDOW_PAD * AT_KV_WINDOW_PAD;
    int64_t n_vector = batched ? n_pos : n_kv - n_kv % AT_VEC_STEP;
    int64_t n_live = n_pos < n_vector ? n_pos : n_vector;

    /* The 16 lanes of every head, dimension-wise. */
    __m256 lanes[ASTH_LANES_16][AT_GROUP_MAX][AT_OUT_VECTORS];
    for (int l = 0; l < ASTH_LANES_16; l++) {
        if (batched) {
            at_slot(g, n_group, d0, n_live, l, ASTH_LANES_16, nv, lanes[l]);
            continue;
        }
        __m256 slot[4][AT_GROUP_MAX][AT_OUT_VECTORS];
        for (int j = 0; j < 4; j++) {
            at_slot(g, n_group, d0, n_live, l + ASTH_LANES_16 * j, AT_VEC_STEP, nv, slot[j]);
        }
        for (int h = 0; h < n_group; h++) {
            for (int i = 0; i < nv; i++) {
                __m256 even = _mm256_add_ps(slot[0][h][i], slot[2][h][i]);
                __m256 odd = _mm256_add_ps(slot[1][h][i], slot[3][h][i]);
                lanes[l][h][i] = _mm256_add_ps(even, odd);
            }
        }
    }

    for (int h = 0; h < n_group; h++) {
        for (int i = 0; i < nv; i++) {
            __m256 tree[ASTH_LANES_16];
            for (int l = 0; l < ASTH_LANES_16; l++) tree[l] = lanes[l][h][i];
            __m256 r = at_tree16(tree);
            float *out_h = out + h * g->head_dim + d0 + 8 * i;
            if (n_vector >= n_pos) {
                _mm256_storeu_ps(out_h, r);
                continue;
            }

            /* The tail, per dimension in double: low and high 4 dimensions. */
            __m256d sum_low = _mm256_cvtps_pd(_mm256_castps256_ps128(r));
            __m256d sum_high = _mm256_cvtps_pd(_mm256_extractf128_ps(r, 1));
            for (int64_t p = n_vector; p < n_pos; p++) {
                __m256 v = asth_load_f16x8(g->v + p * g->kv_stride + d0 + 8 * i);
                __m256 product = _mm256_mul_ps(v, _mm256_set1_ps(g->prob[h * n_pos + p]));
                __m128 product_high = _mm256_extractf128_ps(product, 1);
                sum_low = _mm256_add_pd(sum_low, _mm256_cvtps_pd(_mm256_castps256_ps128(product)));
                sum_high = _mm256_add_pd(sum_high, _mm256_cvtps_pd(product_high));
            }
            _mm256_storeu_ps(out_h, _mm256_set_m128(_mm256_cvtpd_ps(sum_high),
                                                    _mm256_cvtpd_ps(sum_low)));
        }
    }
}

/* ---- One group ----------------------------------------------------------- */

/* Softmax of each head's scores over the padded window, then the
 * probabilities rounded through fp16 as the second product takes them. */
static AT_TARGET void at_probabilities(const at_group *g, int n_group) {
    for (int h = 0; h < n_group; h++) {
        float *prob = g->prob + h * g->n_pos;
        float max = asth_avx2_max(prob, g->n_pos);
        double sum = asth_avx2_softmax_exp(prob, g->n_pos, max, 1);
        __m256 inverse = _mm256_set1_ps((float)(1.0 / sum));
        int64_t p = 0;
        for (; p + 8 <= g->n_pos; p += 8) {
            __m256 scaled = _mm256_mul_ps(_mm256_loadu_ps(prob + p), inverse);
            _mm256_storeu_ps(prob + p, asth_round_f16x8(scaled));
        }
        for (; p < g->n_pos; p++) prob[p] = asth_round_f16(prob[p] * _mm256_cvtss_f32(inverse));
    }
}

/* A whole group with constant n_group: scores, probabilities, output. */
ASTH_INLINE AT_TARGET void at_attend(const at_group *g, int n_group, float scale, int batched,
                                     float *out) {
    switch (g->head_dim) {
    case 64: at_scores(g, n_group, 64, scale, batched); break;
    case 128: at_scores(g, n_group, 128, scale, batched); break;
    default: at_scores(g, n_group, g->head_dim, scale, batched); break;
    }
    at_probabilities(g, n_group);
    for (int64_t d0 = 0; d0 < g->head_dim; d0 += AT_OUT_DIMS) {
        int64_t dims = g->head_dim - d0 < AT_OUT_DIMS ? g->head_dim - d0 : AT_OUT_DIMS;
        if (dims == AT_OUT_DIMS) {
            at_output(g, n_group, d0, AT_OUT_VECTORS, batched, out);
        } else {
            for (int64_t d = d0; d < d0 + dims; d += ASTH_LANES_16) {
                at_output(g, n_group, d, 2, batched, out);
            }
        }
    }
}

static AT_TARGET void at_attend_any(const at_group *g, int n_group, float scale, int batched,
                                    float *out) {
    switch (n_group * 2 + batched) {
#define GROUP(N)                                                                           \
    case N * 2: at_attend(g, N, scale, 0, out); break;                                     \
    case N * 2 + 1: at_attend(g, N, scale, 1, out); break;
        GROUP(1) GROUP(2) GROUP(3) GROUP(4)
#undef GROUP
    }
}

/*
 * n_group query heads (q and out: head_dim apart) over one KV head, in the
 * order of several tokens when batched; scratch holds n_group × n_pos
 * floats. Heads past AT_GROUP_MAX take further passes.
 */
AT_TARGET void AT_NAME(attention_group)(const float *q, int64_t n_group, const asth_f16 *k,
                                        const asth_f16 *v, int64_t kv_stride, int64_t n_pos,
                                        int64_t head_dim, float scale, int batched,
                                        float *scratch, float *out) {
    if (head_dim > AT_HEAD_DIM_MAX || head_dim % ASTH_LANES_16 != 0) {
        asth_scalar_attention_group(q, n_group, k, v, kv_stride, n_pos, head_dim, scale,
                                    batched, scratch, out);
        return;
    }
    for (int64_t h0 = 0; h0 < n_group; h0 += AT_GROUP_MAX) {
        int n = n_group - h0 < AT_GROUP_MAX ? (int)(n_group - h0) : AT_GROUP_MAX;

        /* q through fp16, once per head. */
        float q16[AT_GROUP_MAX * AT_HEAD_DIM_MAX];
        for (int64_t d = 0; d < n * head_dim; d += 8) {
            __m256 q8 = _mm256_loadu_ps(q + h0 * head_dim + d);
            _mm256_storeu_ps(q16 + d, asth_round_f16x8(q8));
        }
        at_group g = {
            .q16 = q16, .k = k, .v = v, .kv_stride = kv_stride, .n_pos = n_pos,
            .head_dim = head_dim, .prob = scratch,
        };
        at_attend_any(&g, n, scale, batched, out + h0 * head_dim);
    }
}

AT_TARGET void AT_NAME(attention_head)(const float *q, const asth_f16 *k, const asth_f16 *v,
                                       int64_t kv_stride, int64_t n_pos, int64_t head_dim,
                                       float scale, float *scratch, float *out) {
    AT_NAME(attention_group)(q, 1, k, v, kv_stride, n_pos, head_dim, scale, 0, scratch, out);
}

AT_TARGET void AT_NAME(attention_head_batched)(const float *q, const asth_f16 *k,
                                               const asth_f16 *v, int64_t kv_stride,
                                               int64_t n_pos, int64_t head_dim, float scale,
                                               float *scratch, float *out) {
    AT_NAME(attention_group)(q, 1, k, v, kv_stride, n_pos, head_dim, scale, 1, scratch, out);
}
