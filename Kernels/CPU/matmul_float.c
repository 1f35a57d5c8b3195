/*
 * F32 and F16 weights times float activations, for the x86 variants, in
 * the scalar reference's two orders (NUMERICS.md), bit for bit:
 *
 * - tile order (two batch rows or more, n_in a multiple of 16): one
 *   16-lane accumulator per output, lane i % 16 += w_i·x_i by FMA, then
 *   asth_sum_tree16. A tile of several weight rows × batch rows shares
 *   each load between outputs without touching any output's order.
 * - vec order (one batch row, or n_in not a multiple of 16): four 16-lane
 *   accumulators over steps of 64, combined as (0 + 2) + (1 + 3), the tree
 *   of 16, then the tail past the last whole step one element at a time
 *   (in double for F16, in float for F32) as matmul_scalar.c does.
 *
 * F16 weights take activations rounded through fp16 first, as ggml's
 * vec_dot_f16 does; F16C converts both ways.
 */
#include "kernels_internal.h"

#if defined(__x86_64__)

#include "simd_x86.h"

/* Elements of one step of the vec order: 4 accumulators of 16 lanes. */
#define VEC_STEP 64

/* Weight rows of a tile-order tile: AVX-512 holds 4 × 4 outputs in one
 * register each, AVX2 2 × 2 outputs in two. */
#define ROW_TILE 4
#define AVX2_ROW_TILE 2

/* The tail of the vec order: elements [from, n), after the lanes' sum r. */
static float vec_tail(asth_type type, const char *w_row, const float *x, int64_t from,
                      int64_t n, float r) {
    if (type == ASTH_TYPE_F16) {
        double sum = (double)r;
        for (int64_t i = from; i < n; i++) {
            asth_f16 h;
            memcpy(&h, w_row + 2 * i, sizeof h);
            sum += (double)(asth_f16_bits_to_f32(h) * asth_round_f16(x[i]));
        }
        return (float)sum;
    }

    /* Whole groups of 8 rounded and added, the rest fused. */
    int64_t n_unfused = from + (n - from) / ASTH_LANES_8 * ASTH_LANES_8;
    float sum = r;
    for (int64_t i = from; i < n; i++) {
        float w_i;
        memcpy(&w_i, w_row + 4 * i, sizeof w_i);
        if (i < n_unfused) {
            sum += w_i * x[i];
        } else {
            sum = fmaf(w_i, x[i], sum);
        }
    }
    return sum;
}

/* ---- AVX2 ---------------------------------------------------------------- */

#define AVX2_COL_TILE 2

ASTH_INLINE ASTH_AVX2 __m256 load8_w(asth_type type, const char *row, int64_t k) {
    if (type == ASTH_TYPE_F16) return asth_load_f16x8((const asth_f16 *)row + k);
    return _mm256_loadu_ps((const float *)row + k);
}

ASTH_INLINE ASTH_AVX2 __m256 load8_x(asth_type type, const float *x) {
    __m256 v = _mm256_loadu_ps(x);
    return type == ASTH_TYPE_F16 ? asth_round_f16x8(v) : v;
}

/* Tile order: nr weight rows × nc batch rows, lanes 0..7 and 8..15 of
 * each output in two registers. */
ASTH_INLINE ASTH_AVX2 void tile_avx2(asth_type type, const char *w, size_t row_bytes,
                                     int64_t n_in, int nr, const char *x, int64_t x_stride,
                                     int nc, float *out, int64_t out_stride) {
    __m256 low[AVX2_ROW_TILE][AVX2_COL_TILE];
    __m256 high[AVX2_ROW_TILE][AVX2_COL_TILE];
    for (int r = 0; r < nr; r++) {
        for (int c = 0; c < nc; c++) low[r][c] = high[r][c] = _mm256_setzero_ps();
    }
    for (int64_t k = 0; k < n_in; k += ASTH_LANES_16) {
        __m256 x_low[AVX2_COL_TILE];
        __m256 x_high[AVX2_COL_TILE];
        for (int c = 0; c < nc; c++) {
            const float *xc = (const float *)(x + c * x_stride) + k;
            x_low[c] = load8_x(type, xc);
            x_high[c] = load8_x(type, xc + 8);
        }
        for (int r = 0; r < nr; r++) {
            __m256 w_low = load8_w(type, w + r * row_bytes, k);
            __m256 w_high = load8_w(type, w + r * row_bytes, k + 8);
            for (int c = 0; c < nc; c++) {
                low[r][c] = _mm256_fmadd_ps(w_low, x_low[c], low[r][c]);
                high[r][c] = _mm256_fmadd_ps(w_high, x_high[c], high[r][c]);
            }
        }
    }
    for (int r = 0; r < nr; r++) {
        for (int c = 0; c < nc; c++) out[c * out_stride + r] = asth_hsum16(low[r][c], high[r][c]);
    }
}

/* Vec order for one weight row and one batch row. */
static ASTH_AVX2 float vec_dot_avx2(asth_type type, const char *w_row, const float *x,
                                    int64_t n) {
    __m256 low[4];
    __m256 high[4];
    for (int j = 0; j < 4; j++) low[j] = high[j] = _mm256_setzero_ps();
    int64_t n_vector = n - n % VEC_STEP;
    for (int64_t k = 0; k < n_vector; k += VEC_STEP) {
        for (int j = 0; j < 4; j++) {
            int64_t i = k + ASTH_LANES_16 * j;
            low[j] = _mm256_fmadd_ps(load8_w(type, w_row, i), load8_x(type, x + i), low[j]);
            high[j] = _mm256_fmadd_ps(load8_w(type, w_row, i + 8), load8_x(type, x + i + 8),
                                      high[j]);
        }
    }
    __m256 lanes_low = _mm256_add_ps(_mm256_add_ps(low[0], low[2]), _mm256_add_ps(low[1], low[3]));
    __m256 lanes_high =
        _mm256_add_ps(_mm256_add_ps(high[0], high[2]), _mm256_add_ps(high[1], high[3]));
    return vec_tail(type, w_row, x, n_vector, n, asth_hsum16(lanes_low, lanes_high));
}

ASTH_AVX2 void asth_avx2_matmul_float(asth_type type, const void *w, int64_t n_in,
                                      int64_t row_begin, int64_t row_end, const void *x,
                                      int64_t x_stride_bytes, int64_t n_batch, float *out,
                                      int64_t out_stride) {
    size_t row_bytes = asth_row_bytes(type, n_in);
    if (n_batch < 2 || n_in % ASTH_LANES_16 != 0) {
        for (int64_t r = row_begin; r < row_end; r++) {
            for (int64_t c = 0; c < n_batch; c++) {
                const float *xc = (const float *)((const char *)x + c * x_stride_bytes);
                out[c * out_stride + r] =
                    vec_dot_avx2(type, (const char *)w + r * row_bytes, xc, n_in);
            }
        }
        return;
    }
    for (int64_t r = row_begin; r < row_end; r += AVX2_ROW_TILE) {
        int nr = row_end - r < AVX2_ROW_TILE ? (int)(row_end - r) : AVX2_ROW_TILE;
        const char *w_rows = (const char *)w + r * row_bytes;
        for (int64_t c = 0; c < n_batch; c += AVX2_COL_TILE) {
            int nc = n_batch - c < AVX2_COL_TILE ? (int)(n_batch - c) : AVX2_COL_TILE;
            const char *x_cols = (const char *)x + c * x_stride_bytes;
            float *o = out + c * out_stride + r;
            switch (nr * 8 + nc) {
#define TILE(R, C)                                                                         \
    case R * 8 + C:                                                                        \
        tile_avx2(type, w_rows, row_bytes, n_in, R, x_cols, x_stride_bytes, C, o, out_stride); \
        break;
                TILE(1, 1) TILE(2, 1) TILE(1, 2) TILE(2, 2)
#undef TILE
            }
        }
    }
}

/* ---- AVX-512 ------------------------------------------------------------- */

/* Batch rows of an AVX-512 tile-order tile: 4 × 4 outputs of 1 register. */
#define AVX512_COL_TILE 4

ASTH_INLINE ASTH_AVX512 __m512 load16_w(asth_type type, const char *row, int64_t k) {
    if (type == ASTH_TYPE_F16) {
        return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const asth_f16 *)row + k)));
    }
    return _mm512_loadu_ps((const float *)row + k);
}

ASTH_INLINE ASTH_AVX512 __m512 load16_x(asth_type type, const float *x) {
    __m512 v = _mm512_loadu_ps(x);
    if (type != ASTH_TYPE_F16) return v;
    return _mm512_cvtph_ps(_mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
}

/* asth_sum_tree16 of one register. */
ASTH_INLINE ASTH_AVX512 float hsum16_avx512(__m512 v) {
    __m256 high = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
    return asth_hsum8(_mm256_add_ps(high, _mm512_castps512_ps256(v)));
}

ASTH_INLINE ASTH_AVX512 void tile_avx512(asth_type type, const char *w, size_t row_bytes,
                                         int64_t n_in, int nr, const char *x,
                                         int64_t x_stride, int nc, float *out,
                                         int64_t out_stride) {
    __m512 acc[ROW_TILE][AVX512_COL_TILE];
    for (int r = 0; r < nr; r++) {
        for (int c = 0; c < nc; c++) acc[r][c] = _mm512_setzero_ps();
    }
    for (int64_t k = 0; k < n_in; k += ASTH_LANES_16) {
        __m512 xv[AVX512_COL_TILE];
        for (int c = 0; c < nc; c++) xv[c] = load16_x(type, (const float *)(x + c * x_stride) + k);
        for (int r = 0; r < nr; r++) {
            __m512 wv = load16_w(type, w + r * row_bytes, k);
            for (int c = 0; c < nc; c++) acc[r][c] = _mm512_fmadd_ps(wv, xv[c], acc[r][c]);
        }
    }
    for (int r = 0; r < nr; r++) {
        for (int c = 0; c < nc; c++) out[c * out_stride + r] = hsum16_avx512(acc[r][c]);
    }
}

static ASTH_AVX512 float vec_dot_avx512(asth_type type, const char *w_row, const float *x,
                                        int64_t n) {
    __m512 acc[4];
    for (int j = 0; j < 4; j++) acc[j] = _mm512_setzero_ps();
    int64_t n_vector = n - n % VEC_STEP;
    for (int64_t k = 0; k < n_vector; k += VEC_STEP) {
        for (int j = 0; j < 4; j++) {
            int64_t i = k + ASTH_LANES_16 * j;
            acc[j] = _mm512_fmadd_ps(load16_w(type, w_row, i), load16_x(type, x + i), acc[j]);
        }
    }
    __m512 lanes = _mm512_add_ps(_mm512_add_ps(acc[0], acc[2]), _mm512_add_ps(acc[1], acc[3]));
    return vec_tail(type, w_row, x, n_vector, n, hsum16_avx512(lanes));
}

ASTH_AVX512 void asth_avx512_matmul_float(asth_type type, const void *w, int64_t n_in,
                                          int64_t row_begin, int64_t row_end, const void *x,
                                          int64_t x_stride_bytes, int64_t n_batch, float *out,
                                          int64_t out_stride) {
    size_t row_bytes = asth_row_bytes(type, n_in);
    if (n_batch < 2 || n_in % ASTH_LANES_16 != 0) {
        for (int64_t r = row_begin; r < row_end; r++) {
            for (int64_t c = 0; c < n_batch; c++) {
                const float *xc = (const float *)((const char *)x + c * x_stride_bytes);
                out[c * out_stride + r] =
                    vec_dot_avx512(type, (const char *)w + r * row_bytes, xc, n_in);
            }
        }
        return;
    }
    for (int64_t r = row_begin; r < row_end; r += ROW_TILE) {
        int nr = row_end - r < ROW_TILE ? (int)(row_end - r) : ROW_TILE;
        const char *w_rows = (const char *)w + r * row_bytes;
        for (int64_t c = 0; c < n_batch; c += AVX512_COL_TILE) {
            int nc = n_batch - c < AVX512_COL_TILE ? (int)(n_batch - c) : AVX512_COL_TILE;
            const char *x_cols = (const char *)x + c * x_stride_bytes;
            float *o = out + c * out_stride + r;
            switch (nr * 8 + nc) {
#define TILE(R, C)                                                                         \
    case R * 8 + C:                                                                        \
        tile_avx512(type, w_rows, row_bytes, n_in, R, x_cols, x_stride_bytes, C, o,        \
                    out_stride);                                                           \
        break;
                TILE(1, 1) TILE(2, 1) TILE(3, 1) TILE(4, 1)
                TILE(1, 2) TILE(2, 2) TILE(3, 2) TILE(4, 2)
                TILE(1, 3) TILE(2, 3) TILE(3, 3) TILE(4, 3)
                TILE(1, 4) TILE(2, 4) TILE(3, 4) TILE(4, 4)
#undef TILE
            }
        }
    }
}

#endif /* __x86_64__ */
