/*
 * F32 and F16 weights times float activations, for the x86 variants.
 *
 * A tile of up to 4 weight rows × a few batch rows keeps one vector
 * accumulator per (row, batch row), so each weight and activation load
 * feeds several FMAs. Each output reduces its lanes the same way whatever
 * the tile shape, so results do not depend on row ranges or batch size.
 * F16 weights take activations rounded through fp16 first, as ggml's
 * vec_dot_f16 does; F16C converts both ways.
 */
#include "kernels_internal.h"

#if defined(__x86_64__)

#include "simd_x86.h"

#define ROW_TILE 4

/* Elements [from, n) of one dot product, in scalar: the tail past the
 * last whole vector. */
ASTH_INLINE float dot_tail(asth_type type, const char *w_row, const float *x, int64_t from,
                           int64_t n, float sum) {
    for (int64_t k = from; k < n; k++) {
        if (type == ASTH_TYPE_F16) {
            asth_f16 h;
            memcpy(&h, w_row + 2 * k, sizeof h);
            sum += asth_f16_bits_to_f32(h) * asth_round_f16(x[k]);
        } else {
            float f;
            memcpy(&f, w_row + 4 * k, sizeof f);
            sum += f * x[k];
        }
    }
    return sum;
}

/* ---- AVX2 ---------------------------------------------------------------- */

#define AVX2_COL_TILE 2

ASTH_INLINE ASTH_AVX2 __m256 load8(asth_type type, const char *row, int64_t k) {
    if (type == ASTH_TYPE_F16) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(row + 2 * k)));
    return _mm256_loadu_ps((const float *)(row + 4 * k));
}

ASTH_INLINE ASTH_AVX2 __m256 load8_x(asth_type type, const float *x) {
    __m256 v = _mm256_loadu_ps(x);
    if (type != ASTH_TYPE_F16) return v;
    return _mm256_cvtph_ps(_mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
}

ASTH_INLINE ASTH_AVX2 void float_tile_avx2(asth_type type, const char *w, size_t row_bytes,
                                           int64_t n_in, int nr, const char *x,
                                           int64_t x_stride, int nc, float *out,
                                           int64_t out_stride) {
    __m256 acc[ROW_TILE][AVX2_COL_TILE];
    for (int r = 0; r < nr; r++) {
        for (int c = 0; c < nc; c++) acc[r][c] = _mm256_setzero_ps();
    }

    /* Whole vectors: every weight load meets nc activations. */
    int64_t k = 0;
    for (; k + 8 <= n_in; k += 8) {
        __m256 xv[AVX2_COL_TILE];
        for (int c = 0; c < nc; c++) xv[c] = load8_x(type, (const float *)(x + c * x_stride) + k);
        for (int r = 0; r < nr; r++) {
            __m256 wv = load8(type, w + r * row_bytes, k);
            for (int c = 0; c < nc; c++) acc[r][c] = _mm256_fmadd_ps(wv, xv[c], acc[r][c]);
        }
    }

    /* Reduce, finish the tail, store. */
    for (int r = 0; r < nr; r++) {
        for (int c = 0; c < nc; c++) {
            const float *xc = (const float *)(x + c * x_stride);
            out[c * out_stride + r] =
                dot_tail(type, w + r * row_bytes, xc, k, n_in, asth_hsum8(acc[r][c]));
        }
    }
}

ASTH_AVX2 void asth_avx2_matmul_float(asth_type type, const void *w, int64_t n_in, int64_t row_begin,
                            int64_t row_end, const void *x, int64_t x_stride_bytes,
                            int64_t n_batch, float *out, int64_t out_stride) {
    size_t row_bytes = asth_row_bytes(type, n_in);
    for (int64_t r = row_begin; r < row_end; r += ROW_TILE) {
        int nr = row_end - r < ROW_TILE ? (int)(row_end - r) : ROW_TILE;
        const char *w_rows = (const char *)w + r * row_bytes;
        for (int64_t c = 0; c < n_batch; c += AVX2_COL_TILE) {
            int nc = n_batch - c < AVX2_COL_TILE ? (int)(n_batch - c) : AVX2_COL_TILE;
            const char *x_cols = (const char *)x + c * x_stride_bytes;
            float *o = out + c * out_stride + r;
            switch (nr * 8 + nc) {
#define TILE(R, C)                                                                         \
    case R * 8 + C:                                                                        \
        float_tile_avx2(type, w_rows, row_bytes, n_in, R, x_cols, x_stride_bytes, C, o,    \
                        out_stride);                                                       \
        break;
                TILE(1, 1) TILE(2, 1) TILE(3, 1) TILE(4, 1)
                TILE(1, 2) TILE(2, 2) TILE(3, 2) TILE(4, 2)
#undef TILE
            }
        }
    }
}

/* ---- AVX-512 ------------------------------------------------------------- */

#define AVX512_COL_TILE 4

ASTH_INLINE ASTH_AVX512 __m512 load16(asth_type type, const char *row, int64_t k) {
    if (type == ASTH_TYPE_F16) {
        return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(row + 2 * k)));
    }
    return _mm512_loadu_ps((const float *)(row + 4 * k));
}

ASTH_INLINE ASTH_AVX512 __m512 load16_x(asth_type type, const float *x) {
    __m512 v = _mm512_loadu_ps(x);
    if (type != ASTH_TYPE_F16) return v;
    return _mm512_cvtph_ps(_mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
}

ASTH_INLINE ASTH_AVX512 void float_tile_avx512(asth_type type, const char *w, size_t row_bytes,
                                               int64_t n_in, int nr, const char *x,
                                               int64_t x_stride, int nc, float *out,
                                               int64_t out_stride) {
    __m512 acc[ROW_TILE][AVX512_COL_TILE];
    for (int r = 0; r < nr; r++) {
        for (int c = 0; c < nc; c++) acc[r][c] = _mm512_setzero_ps();
    }

    int64_t k = 0;
    for (; k + 16 <= n_in; k += 16) {
        __m512 xv[AVX512_COL_TILE];
        for (int c = 0; c < nc; c++) xv[c] = load16_x(type, (const float *)(x + c * x_stride) + k);
        for (int r = 0; r < nr; r++) {
            __m512 wv = load16(type, w + r * row_bytes, k);
            for (int c = 0; c < nc; c++) acc[r][c] = _mm512_fmadd_ps(wv, xv[c], acc[r][c]);
        }
    }

    for (int r = 0; r < nr; r++) {
        for (int c = 0; c < nc; c++) {
            const float *xc = (const float *)(x + c * x_stride);
            __m256 high = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc[r][c]), 1));
            __m256 halves = _mm256_add_ps(_mm512_castps512_ps256(acc[r][c]), high);
            out[c * out_stride + r] =
                dot_tail(type, w + r * row_bytes, xc, k, n_in, asth_hsum8(halves));
        }
    }
}

ASTH_AVX512 void asth_avx512_matmul_float(asth_type type, const void *w, int64_t n_in, int64_t row_begin,
                              int64_t row_end, const void *x, int64_t x_stride_bytes,
                              int64_t n_batch, float *out, int64_t out_stride) {
    size_t row_bytes = asth_row_bytes(type, n_in);
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
        float_tile_avx512(type, w_rows, row_bytes, n_in, R, x_cols, x_stride_bytes, C, o,  \
                          out_stride);                                                     \
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
