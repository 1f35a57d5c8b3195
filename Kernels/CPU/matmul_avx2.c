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

/* Columns compute keeps in registers. */
#define COL_TILE 4

/* ---- Panels ------------------------------------------------------------ */

/* One block of an 8-row panel in registers. Q4: q[j] holds unsigned
 * nibbles, lane r = row r's quants 4j..4j+3 (j < 4) or 16+4(j−4)..
 * (j >= 4), matching activation dword j. Q8_0: q[j] holds signed bytes. */
typedef struct {
    __m256i q[8];
    __m256 d;
    __m256 m;
} panel_block;

/* Byte offsets of a panel's 8 rows from its first; short panels repeat
 * their last row. */
typedef struct {
    __m256i vector;
    int32_t list[8];
} row_offsets;

ASTH_INLINE ASTH_AVX2 row_offsets make_offsets(const asth_quant_matmul *m, int n_rows) {
    row_offsets offsets;
    for (int r = 0; r < 8; r++) {
        offsets.list[r] = (int32_t)((r < n_rows ? r : n_rows - 1) * m->row_bytes);
    }
    offsets.vector = _mm256_loadu_si256((const __m256i *)offsets.list);
    return offsets;
}

/* Two 16-byte loads as one vector: a in the low lane, b in the high. */
ASTH_INLINE ASTH_AVX2 __m256i load_pair(const char *a, const char *b) {
    __m256i low = _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)a));
    return _mm256_inserti128_si256(low, _mm_loadu_si128((const __m128i *)b), 1);
}

/* 16 bytes at p + offset of each row -> v[k], lane r = dword k of row r. */
ASTH_INLINE ASTH_AVX2 void transpose_rows(const char *p, const int32_t *offsets, __m256i *v) {
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

/* The fp16 pair at the start of each row's block: d, and m, as floats. */
ASTH_INLINE ASTH_AVX2 void load_scales(const char *block, const row_offsets *offsets,
                                       panel_block *p) {
    __m256i head = _mm256_i32gather_epi32((const int *)block, offsets->vector, 1);
    __m256i low = _mm256_and_si256(head, _mm256_set1_epi32(0xffff));
    __m256i high = _mm256_srli_epi32(head, 16);
    __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(low, high), 0xD8);
    p->d = _mm256_cvtph_ps(_mm256_castsi256_si128(packed));
    p->m = _mm256_cvtph_ps(_mm256_extracti128_si256(packed, 1));
}

ASTH_INLINE ASTH_AVX2 void load_q4(const asth_quant_matmul *m, const char *block,
                                   const row_offsets *offsets, panel_block *p) {
    __m256i v[4];
    transpose_rows(block + (m->type == ASTH_TYPE_Q4_1 ? 4 : 2), offsets->list, v);
    const __m256i low_nibbles = _mm256_set1_epi8(0x0f);
    for (int k = 0; k < 4; k++) {
        p->q[k] = _mm256_and_si256(v[k], low_nibbles);
        p->q[4 + k] = _mm256_and_si256(_mm256_srli_epi16(v[k], 4), low_nibbles);
    }
    load_scales(block, offsets, p);
}

ASTH_INLINE ASTH_AVX2 void load_q8(const char *block, const row_offsets *offsets,
                                   panel_block *p) {
    transpose_rows(block + 2, offsets->list, p->q);
    transpose_rows(block + 18, offsets->list, p->q + 4);
    load_scales(block, offsets, p);
}

/* Block b of the panel starting at row0. */
ASTH_INLINE const char *panel_block_at(const asth_quant_matmul *m, int64_t row0, int64_t b) {
    return m->w + row0 * m->row_bytes + b * m->block_bytes;
}

/* ---- Block dot products -------------------------------------------------- */

/* acc[c] += d_w·d_x·isum (+ m_w·s_x), lane by lane. */
ASTH_INLINE ASTH_AVX2 __m256 scale_block(__m256 acc, __m256i isum, __m256 d, __m256 m,
                                         const asth_block_q8a *x, bool has_min) {
    __m256 dd = _mm256_mul_ps(d, _mm256_set1_ps(x->d));
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), dd, acc);
    if (has_min) acc = _mm256_fmadd_ps(m, _mm256_set1_ps(x->s), acc);
    return acc;
}

ASTH_INLINE ASTH_AVX2 __m256i broadcast_dword(const asth_block_q8a *x, int j) {
    return _mm256_set1_epi32(asth_load_i32(x->qs + 4 * j));
}

/* One Q4 panel block against nc batch rows. Nibble products fit int16
 * over a whole block: 8 steps × 2 × 15 × 127 = 30480 < 32767. */
ASTH_INLINE ASTH_AVX2 void dot_q4(const asth_quant_matmul *m, const panel_block *p,
                                  const asth_block_q8a *const *x, int64_t b, int nc,
                                  asth_block_sums sums, __m256 *acc) {
    __m256i sum16[COL_TILE];
    for (int c = 0; c < nc; c++) sum16[c] = _mm256_setzero_si256();
    for (int j = 0; j < 8; j++) {
        for (int c = 0; c < nc; c++) {
            __m256i pairs = _mm256_maddubs_epi16(p->q[j], broadcast_dword(&x[c][b], j));
            sum16[c] = _mm256_add_epi16(sum16[c], pairs);
        }
    }
    bool has_min = m->type == ASTH_TYPE_Q4_1;
    for (int c = 0; c < nc; c++) {
        __m256i isum = _mm256_madd_epi16(sum16[c], _mm256_set1_epi16(1));
        if (!has_min) {
            int32_t offset_sum = 8 * sums[c * ASTH_CHUNK_BLOCKS_MAX + b];
            isum = _mm256_sub_epi32(isum, _mm256_set1_epi32(offset_sum));
        }
        acc[c] = scale_block(acc[c], isum, p->d, p->m, &x[c][b], has_min);
    }
}

/* One Q8_0 panel block against nc batch rows: |w| times x signed by w. */
ASTH_INLINE ASTH_AVX2 void dot_q8(const panel_block *p, const __m256i *q_abs,
                                  const asth_block_q8a *const *x, int64_t b, int nc,
                                  __m256 *acc) {
    __m256i sum[COL_TILE];
    for (int c = 0; c < nc; c++) sum[c] = _mm256_setzero_si256();
    for (int j = 0; j < 8; j++) {
        __m256i w_abs = q_abs != NULL ? q_abs[j] : _mm256_abs_epi8(p->q[j]);
        for (int c = 0; c < nc; c++) {
            __m256i signed_x = _mm256_sign_epi8(broadcast_dword(&x[c][b], j), p->q[j]);
            __m256i pairs = _mm256_maddubs_epi16(w_abs, signed_x);
            sum[c] = _mm256_add_epi32(sum[c], _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
        }
    }
    for (int c = 0; c < nc; c++) acc[c] = scale_block(acc[c], sum[c], p->d, p->d, &x[c][b], false);
}

/* ---- Tiles ------------------------------------------------------------- */

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

/* Block 0 of batch row col0 + c, for c < nc. */
ASTH_INLINE void activation_rows(const asth_quant_matmul *m, int64_t col0, int nc,
                                 int64_t block0, const asth_block_q8a **x) {
    for (int c = 0; c < nc; c++) {
        x[c] = (const asth_block_q8a *)(m->x + (col0 + c) * m->x_stride_bytes) + block0;
    }
}

/* Panel bytes per block in scratch: 8 q vectors, 8 |q| vectors (Q8_0
 * only), d and m. */
#define PANEL_BYTES (16 * 32 + 2 * 32)

static ASTH_AVX2 void repack(const asth_quant_matmul *m, int64_t row0, int n_rows,
                             int64_t block0, int n_blocks, void *scratch) {
    row_offsets offsets = make_offsets(m, n_rows);
    for (int b = 0; b < n_blocks; b++) {
        asth_prefetch_next_panel(m, row0, 8, block0, n_blocks, b);
        __m256i *out = (__m256i *)((char *)scratch + b * PANEL_BYTES);
        const char *block = panel_block_at(m, row0, block0 + b);
        panel_block p;
        if (m->type == ASTH_TYPE_Q8_0) {
            load_q8(block, &offsets, &p);
            for (int j = 0; j < 8; j++) _mm256_store_si256(out + 8 + j, _mm256_abs_epi8(p.q[j]));
        } else {
            load_q4(m, block, &offsets, &p);
        }
        for (int j = 0; j < 8; j++) _mm256_store_si256(out + j, p.q[j]);
        _mm256_store_ps((float *)(out + 16), p.d);
        _mm256_store_ps((float *)(out + 17), p.m);
    }
}

/* nc batch rows against a repacked panel. */
ASTH_INLINE ASTH_AVX2 void compute_tile(const asth_quant_matmul *m, const void *scratch,
                                        int64_t row0, int n_rows, int64_t block0,
                                        int n_blocks, int64_t col0, int nc,
                                        asth_block_sums sums, bool accumulate) {
    const asth_block_q8a *x[COL_TILE];
    activation_rows(m, col0, nc, block0, x);
    __m256 acc[COL_TILE];
    load_tile(m, row0, n_rows, col0, nc, accumulate, acc);
    for (int b = 0; b < n_blocks; b++) {
        const __m256i *in = (const __m256i *)((const char *)scratch + b * PANEL_BYTES);
        panel_block p;
        for (int j = 0; j < 8; j++) p.q[j] = _mm256_load_si256(in + j);
        p.d = _mm256_load_ps((const float *)(in + 16));
        p.m = _mm256_load_ps((const float *)(in + 17));
        if (m->type == ASTH_TYPE_Q8_0) {
            dot_q8(&p, in + 8, x, b, nc, acc);
        } else {
            dot_q4(m, &p, x, b, nc, sums, acc);
        }
    }
    store_tile(m, row0, n_rows, col0, nc, acc);
}

/* nc batch rows against a panel repacked block by block in registers. */
ASTH_INLINE ASTH_AVX2 void fused_tile(const asth_quant_matmul *m, int64_t row0, int n_rows,
                                      int64_t block0, int n_blocks, int64_t col0, int nc,
                                      asth_block_sums sums, bool accumulate) {
    const asth_block_q8a *x[COL_TILE];
    activation_rows(m, col0, nc, block0, x);
    __m256 acc[COL_TILE];
    load_tile(m, row0, n_rows, col0, nc, accumulate, acc);
    row_offsets offsets = make_offsets(m, n_rows);
    for (int b = 0; b < n_blocks; b++) {
        asth_prefetch_next_panel(m, row0, 8, block0, n_blocks, b);
        const char *block = panel_block_at(m, row0, block0 + b);
        panel_block p;
        if (m->type == ASTH_TYPE_Q8_0) {
            load_q8(block, &offsets, &p);
            dot_q8(&p, NULL, x, b, nc, acc);
        } else {
            load_q4(m, block, &offsets, &p);
            dot_q4(m, &p, x, b, nc, sums, acc);
        }
    }
    store_tile(m, row0, n_rows, col0, nc, acc);
}

/* Specialise on the column count, so accumulators stay in registers. */
static ASTH_AVX2 void compute(const asth_quant_matmul *m, const void *scratch, int64_t row0,
                              int n_rows, int64_t block0, int n_blocks, int64_t col0,
                              int n_cols, asth_block_sums sums, bool accumulate) {
    switch (n_cols) {
#define TILE(n)                                                                            \
    case n:                                                                                \
        compute_tile(m, scratch, row0, n_rows, block0, n_blocks, col0, n, sums, accumulate); \
        break;
        TILE(1) TILE(2) TILE(3) TILE(4)
#undef TILE
    }
}

static ASTH_AVX2 void fused(const asth_quant_matmul *m, int64_t row0, int n_rows,
                            int64_t block0, int n_blocks, int64_t col0, int n_cols,
                            asth_block_sums sums, bool accumulate) {
    switch (n_cols) {
#define TILE(n)                                                                            \
    case n: fused_tile(m, row0, n_rows, block0, n_blocks, col0, n, sums, accumulate); break;
        TILE(1) TILE(2)
#undef TILE
    }
}

static const asth_quant_kernels q4_0_kernels = {
    .panel_rows = 8, .col_tile = COL_TILE, .needs_sums = true,
    .repack = repack, .compute = compute, .fused_cols = 2, .fused = fused,
};
static const asth_quant_kernels q4_1_kernels = {
    .panel_rows = 8, .col_tile = COL_TILE, .needs_sums = false,
    .repack = repack, .compute = compute, .fused_cols = 2, .fused = fused,
};
static const asth_quant_kernels q8_0_kernels = {
    .panel_rows = 8, .col_tile = COL_TILE, .needs_sums = false,
    .repack = repack, .compute = compute, .fused_cols = 2, .fused = fused,
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
