/*
 * AVX2+FMA matmul: quantized weights through the panel driver, float
 * weights through a register-tiled dot product.
 *
 * Quantized panels hold 8 weight rows, one per 32-bit lane. Step j of a
 * block pairs a vector whose lane r holds 4 quants of row r with the
 * matching 4 activation quants broadcast to every lane, so
 * _mm256_maddubs_epi16 (unsigned weight × signed activation) and a final
 * _mm256_madd_epi16 leave each lane with the exact integer block sum for
 * its row. Nibbles stay unsigned; Q4_0's −8 comes back as 8·Σq_x. Q8_0
 * weights are signed, so they multiply as |w| with the activation carrying
 * w's sign, as ggml does on AVX2.
 */
#include "kernels_internal.h"

#if defined(__x86_64__)

#include "simd_x86.h"

/* Panel bytes per block: 8 quant vectors, then d and m (8 floats each). */
#define Q4_PANEL_BYTES (8 * 32 + 2 * 32)

/* Panel bytes per block: 8 |q| vectors, 8 q vectors, then d. */
#define Q8_PANEL_BYTES (16 * 32 + 32)

/* Columns compute keeps in registers. */
#define COL_TILE 4

/* ---- Repacking ----------------------------------------------------------- */

/* Byte offsets of the panel's 8 rows from its first row; short panels
 * repeat their last row. */
ASTH_INLINE ASTH_AVX2 __m256i row_offsets(const asth_quant_matmul *m, int n_rows) {
    int32_t offsets[8];
    for (int r = 0; r < 8; r++) offsets[r] = (int32_t)((r < n_rows ? r : n_rows - 1) * m->row_bytes);
    return _mm256_loadu_si256((const __m256i *)offsets);
}

/* Two 16-byte loads as one vector: a in the low lane, b in the high. */
ASTH_INLINE ASTH_AVX2 __m256i load_pair(const char *a, const char *b) {
    __m256i low = _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)a));
    return _mm256_inserti128_si256(low, _mm_loadu_si128((const __m128i *)b), 1);
}

/* 16 bytes of each of 8 rows at p + offsets[r] -> v[k] lane r = dword k of row r. */
ASTH_INLINE ASTH_AVX2 void transpose_rows(const char *p, const int32_t *offsets, __m256i v[4]) {
    __m256i z0 = load_pair(p + offsets[0], p + offsets[4]);
    __m256i z1 = load_pair(p + offsets[1], p + offsets[5]);
    __m256i z2 = load_pair(p + offsets[2], p + offsets[6]);
    __m256i z3 = load_pair(p + offsets[3], p + offsets[7]);
    __m256i t0 = _mm256_unpacklo_epi32(z0, z1);
    __m256i t1 = _mm256_unpackhi_epi32(z0, z1);
    __m256i t2 = _mm256_unpacklo_epi32(z2, z3);
    __m256i t3 = _mm256_unpackhi_epi32(z2, z3);
    v[0] = _mm256_unpacklo_epi64(t0, t2);
    v[1] = _mm256_unpackhi_epi64(t0, t2);
    v[2] = _mm256_unpacklo_epi64(t1, t3);
    v[3] = _mm256_unpackhi_epi64(t1, t3);
}

/* The fp16 pair at the start of each row's block: d (and m) as floats. */
ASTH_INLINE ASTH_AVX2 void load_scales(const char *block, __m256i offsets, float *d, float *m) {
    __m256i head = _mm256_i32gather_epi32((const int *)block, offsets, 1);
    __m256i low = _mm256_and_si256(head, _mm256_set1_epi32(0xffff));
    __m256i high = _mm256_srli_epi32(head, 16);
    __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(low, high), 0xD8);
    _mm256_store_ps(d, _mm256_cvtph_ps(_mm256_castsi256_si128(packed)));
    if (m != NULL) _mm256_store_ps(m, _mm256_cvtph_ps(_mm256_extracti128_si256(packed, 1)));
}

static ASTH_AVX2 void repack_q4(const asth_quant_matmul *m, int64_t row0, int n_rows,
                                int64_t block0, int n_blocks, void *scratch) {
    __m256i offsets = row_offsets(m, n_rows);
    int32_t offset_list[8];
    _mm256_storeu_si256((__m256i *)offset_list, offsets);
    size_t qs_offset = m->type == ASTH_TYPE_Q4_1 ? 4 : 2;
    const __m256i low_nibbles = _mm256_set1_epi8(0x0f);

    for (int b = 0; b < n_blocks; b++) {
        const char *block = m->w + row0 * m->row_bytes + (block0 + b) * m->block_bytes;
        __m256i *panel = (__m256i *)((char *)scratch + b * Q4_PANEL_BYTES);

        /* Dword k of 8 rows; low nibbles then high nibbles. */
        __m256i v[4];
        transpose_rows(block + qs_offset, offset_list, v);
        for (int k = 0; k < 4; k++) {
            _mm256_store_si256(panel + k, _mm256_and_si256(v[k], low_nibbles));
            __m256i high = _mm256_srli_epi16(v[k], 4);
            _mm256_store_si256(panel + 4 + k, _mm256_and_si256(high, low_nibbles));
        }

        float *scales = (float *)(panel + 8);
        load_scales(block, offsets, scales, m->type == ASTH_TYPE_Q4_1 ? scales + 8 : NULL);
    }
}

static ASTH_AVX2 void repack_q8(const asth_quant_matmul *m, int64_t row0, int n_rows,
                                int64_t block0, int n_blocks, void *scratch) {
    __m256i offsets = row_offsets(m, n_rows);
    int32_t offset_list[8];
    _mm256_storeu_si256((__m256i *)offset_list, offsets);

    for (int b = 0; b < n_blocks; b++) {
        const char *block = m->w + row0 * m->row_bytes + (block0 + b) * m->block_bytes;
        __m256i *panel = (__m256i *)((char *)scratch + b * Q8_PANEL_BYTES);

        /* Dwords 0-3, then 4-7, of 8 rows; |q| for maddubs, q for signs. */
        __m256i v[8];
        transpose_rows(block + 2, offset_list, v);
        transpose_rows(block + 18, offset_list, v + 4);
        for (int k = 0; k < 8; k++) {
            _mm256_store_si256(panel + k, _mm256_abs_epi8(v[k]));
            _mm256_store_si256(panel + 8 + k, v[k]);
        }
        load_scales(block, offsets, (float *)(panel + 16), NULL);
    }
}

/* ---- Compute ------------------------------------------------------------- */

/* The running sums of a tile: zero, or what earlier chunks left in out. */
ASTH_INLINE ASTH_AVX2 void load_tile(const asth_quant_matmul *m, int64_t row0, int n_rows,
                                     int64_t col0, int nc, bool accumulate, __m256 *acc) {
    __m256i mask = asth_mask8(n_rows);
    for (int c = 0; c < nc; c++) {
        float *out = m->out + (col0 + c) * m->out_stride + row0;
        acc[c] = !accumulate ? _mm256_setzero_ps()
                 : n_rows == 8 ? _mm256_loadu_ps(out)
                               : _mm256_maskload_ps(out, mask);
    }
}

ASTH_INLINE ASTH_AVX2 void store_tile(const asth_quant_matmul *m, int64_t row0, int n_rows,
                                      int64_t col0, int nc, const __m256 *acc) {
    __m256i mask = asth_mask8(n_rows);
    for (int c = 0; c < nc; c++) {
        float *out = m->out + (col0 + c) * m->out_stride + row0;
        if (n_rows == 8) {
            _mm256_storeu_ps(out, acc[c]);
        } else {
            _mm256_maskstore_ps(out, mask, acc[c]);
        }
    }
}

/* acc[c] += d_w·d_x·isum (+ m_w·s_x), lane by lane. */
ASTH_INLINE ASTH_AVX2 __m256 scale_block(__m256 acc, __m256i isum, const float *scales,
                                         const asth_block_q8a *x, bool has_min) {
    __m256 dd = _mm256_mul_ps(_mm256_load_ps(scales), _mm256_set1_ps(x->d));
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), dd, acc);
    if (has_min) acc = _mm256_fmadd_ps(_mm256_load_ps(scales + 8), _mm256_set1_ps(x->s), acc);
    return acc;
}

/* nc batch rows × one Q4 panel. Nibble products fit int16 over a whole
 * block: 8 steps × 2 × 15 × 127 = 30480 < 32767. */
ASTH_INLINE ASTH_AVX2 void compute_q4_tile(const asth_quant_matmul *m, const void *scratch,
                                           int64_t row0, int n_rows, int64_t block0,
                                           int n_blocks, int64_t col0, int nc,
                                           const int32_t *bias, bool accumulate) {
    const asth_block_q8a *x[COL_TILE];
    for (int c = 0; c < nc; c++) {
        x[c] = (const asth_block_q8a *)(m->x + (col0 + c) * m->x_stride_bytes) + block0;
    }
    __m256 acc[COL_TILE];
    load_tile(m, row0, n_rows, col0, nc, accumulate, acc);
    bool has_min = m->type == ASTH_TYPE_Q4_1;
    const __m256i ones = _mm256_set1_epi16(1);

    for (int b = 0; b < n_blocks; b++) {
        const __m256i *panel = (const __m256i *)((const char *)scratch + b * Q4_PANEL_BYTES);
        __m256i sum16[COL_TILE];
        for (int c = 0; c < nc; c++) sum16[c] = _mm256_setzero_si256();
        for (int j = 0; j < 8; j++) {
            __m256i w = _mm256_load_si256(panel + j);
            for (int c = 0; c < nc; c++) {
                __m256i xq = _mm256_set1_epi32(asth_load_i32(x[c][b].qs + 4 * j));
                sum16[c] = _mm256_add_epi16(sum16[c], _mm256_maddubs_epi16(w, xq));
            }
        }
        for (int c = 0; c < nc; c++) {
            __m256i isum = _mm256_madd_epi16(sum16[c], ones);
            if (!has_min) isum = _mm256_sub_epi32(isum, _mm256_set1_epi32(bias[c * ASTH_DRIVER_BLOCKS_MAX + b]));
            acc[c] = scale_block(acc[c], isum, (const float *)(panel + 8), &x[c][b], has_min);
        }
    }
    store_tile(m, row0, n_rows, col0, nc, acc);
}

/* nc batch rows × one Q8_0 panel: |w| times x signed by w. */
ASTH_INLINE ASTH_AVX2 void compute_q8_tile(const asth_quant_matmul *m, const void *scratch,
                                           int64_t row0, int n_rows, int64_t block0,
                                           int n_blocks, int64_t col0, int nc,
                                           bool accumulate) {
    const asth_block_q8a *x[COL_TILE];
    for (int c = 0; c < nc; c++) {
        x[c] = (const asth_block_q8a *)(m->x + (col0 + c) * m->x_stride_bytes) + block0;
    }
    __m256 acc[COL_TILE];
    load_tile(m, row0, n_rows, col0, nc, accumulate, acc);
    const __m256i ones = _mm256_set1_epi16(1);

    for (int b = 0; b < n_blocks; b++) {
        const __m256i *panel = (const __m256i *)((const char *)scratch + b * Q8_PANEL_BYTES);
        __m256i sum[COL_TILE];
        for (int c = 0; c < nc; c++) sum[c] = _mm256_setzero_si256();
        for (int j = 0; j < 8; j++) {
            __m256i w_abs = _mm256_load_si256(panel + j);
            __m256i w_sign = _mm256_load_si256(panel + 8 + j);
            for (int c = 0; c < nc; c++) {
                __m256i xq = _mm256_set1_epi32(asth_load_i32(x[c][b].qs + 4 * j));
                __m256i pairs = _mm256_maddubs_epi16(w_abs, _mm256_sign_epi8(xq, w_sign));
                sum[c] = _mm256_add_epi32(sum[c], _mm256_madd_epi16(pairs, ones));
            }
        }
        for (int c = 0; c < nc; c++) {
            acc[c] = scale_block(acc[c], sum[c], (const float *)(panel + 16), &x[c][b], false);
        }
    }
    store_tile(m, row0, n_rows, col0, nc, acc);
}

/* Specialises the tiles on the column count, so accumulators stay in registers. */
static ASTH_AVX2 void compute_q4(const asth_quant_matmul *m, const void *scratch, int64_t row0,
                                 int n_rows, int64_t block0, int n_blocks, int64_t col0,
                                 int n_cols, const int32_t *bias, bool accumulate) {
    switch (n_cols) {
#define TILE(n)                                                                            \
    case n:                                                                                \
        compute_q4_tile(m, scratch, row0, n_rows, block0, n_blocks, col0, n, bias, accumulate); \
        break;
        TILE(1) TILE(2) TILE(3) TILE(4)
#undef TILE
    }
}

static ASTH_AVX2 void compute_q8(const asth_quant_matmul *m, const void *scratch, int64_t row0,
                                 int n_rows, int64_t block0, int n_blocks, int64_t col0,
                                 int n_cols, const int32_t *bias, bool accumulate) {
    switch (n_cols) {
#define TILE(n)                                                                            \
    case n:                                                                                \
        compute_q8_tile(m, scratch, row0, n_rows, block0, n_blocks, col0, n, accumulate);  \
        break;
        TILE(1) TILE(2) TILE(3) TILE(4)
#undef TILE
    }
}

static const asth_quant_kernels q4_0_kernels = {
    .panel_rows = 8, .col_tile = COL_TILE, .bias_offset = 8,
    .repack = repack_q4, .compute = compute_q4,
};
static const asth_quant_kernels q4_1_kernels = {
    .panel_rows = 8, .col_tile = COL_TILE, .bias_offset = 0,
    .repack = repack_q4, .compute = compute_q4,
};
static const asth_quant_kernels q8_0_kernels = {
    .panel_rows = 8, .col_tile = COL_TILE, .bias_offset = 0,
    .repack = repack_q8, .compute = compute_q8,
};

ASTH_AVX2 void asth_avx2_matmul(asth_type type, const void *w, int64_t n_in, int64_t row_begin,
                      int64_t row_end, const void *x, int64_t x_stride_bytes, int64_t n_batch,
                      float *out, int64_t out_stride) {
    asth_quant_matmul m;
    if (!asth_quant_matmul_init(&m, type, w, n_in, x, x_stride_bytes, out, out_stride)) {
        asth_avx2_matmul_float(type, w, n_in, row_begin, row_end, x, x_stride_bytes, n_batch,
                               out, out_stride);
        return;
    }
    const asth_quant_kernels *k = type == ASTH_TYPE_Q4_0   ? &q4_0_kernels
                                  : type == ASTH_TYPE_Q4_1 ? &q4_1_kernels
                                                           : &q8_0_kernels;
    asth_quant_matmul_run(k, &m, row_begin, row_end, n_batch);
}

#endif /* __x86_64__ */
