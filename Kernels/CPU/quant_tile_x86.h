/*
 * The quantized matmul of the x86 variants, written once and compiled
 * twice: matmul_avx2.c includes it with QT_VNNI 0 (integer sums by
 * maddubs + madd), matmul_avx512.c with QT_VNNI 1 (vpdpbusd). Each file
 * gets its own static copy. Define before including it: QT_TARGET (the
 * target attribute), QT_VNNI, the tile of a batch of many rows (QT_ROWS
 * weight rows × QT_COLS batch rows), the weight rows of a tile for a batch
 * of n = 1..3 rows (QT_ROWS_FEW(n)), and bounds on all of them
 * (QT_ROWS_MAX, QT_COLS_MAX).
 *
 * The layout is ggml's: one 256-bit vector holds one block of one weight
 * row in element order (low nibbles are elements 0..15, high nibbles
 * 16..31), so 32-bit lane l of the integer product holds the exact sum of
 * elements 4l..4l+3, the lane NUMERICS.md gives them. Each (row, batch
 * row) output keeps its own 8 float lanes, lane += d_w·d_x · sum by FMA,
 * block after block over the whole row, then the 8 lanes are summed in
 * asth_sum_tree8's tree; Q4_1's m_w·s_x terms go to a float sum of their
 * own, added last. That is the scalar reference's arithmetic exactly, so a
 * tile of several weight rows and batch rows changes no output's bits.
 */
#include "kernels_internal.h"
#include "simd_x86.h"

/* The unsigned × signed byte products take unsigned weights: Q4_0 keeps
 * its nibbles (0..15) and Q8_0 under VNNI is shifted by 128 (0..255); each
 * comes back by subtracting offset·Σ of the 4 activation quants of the lane. */
#define QT_Q4_0_OFFSET 8
#define QT_Q8_0_OFFSET 128

/* Tiles of up to this many batch rows prefetch the next tile's weights;
 * wider tiles reuse their weights enough to hide the misses. */
#define QT_PREFETCH_COLS_MAX 3

/* Batch rows one pass over a weight row tile takes before the next tile:
 * bounds the activations a pass reads, so they stay in L2. */
#define QT_COLS_PER_PASS 64

/* One quantized matmul: the arguments of asth_matmul, resolved. */
typedef struct {
    asth_type type;
    const char *w;          /* weight row 0 */
    size_t row_bytes;       /* between weight rows */
    size_t block_bytes;     /* between blocks of a row */
    int64_t n_blocks;       /* blocks per row */
    const char *x;          /* batch row 0: n_blocks asth_block_q8a */
    int64_t x_stride_bytes; /* between batch rows */
    float *out;             /* out[c * out_stride + r] */
    int64_t out_stride;
} qt_call;

/* One activation block as the integer products take it. */
typedef struct {
    __m256i q;      /* the 32 quants */
    __m256i offset; /* −offset·Σ of each lane's 4 quants (Q4_0; Q8_0 under VNNI) */
    __m128 ds;      /* [d_x, s_x, 0, 0] */
} qt_x;

/* One block of one weight row. */
typedef struct {
    __m256i q;  /* unsigned quants in element order (|q| for Q8_0 without VNNI) */
    __m256i qs; /* Q8_0 without VNNI: the signed quants, whose signs go to x */
    __m128 dm;  /* [d_w, m_w, 0, 0]; m_w is 0 but for Q4_1 */
} qt_w;

ASTH_INLINE QT_TARGET qt_x qt_load_x(asth_type type, const asth_block_q8a *block) {
    qt_x x;
    x.q = _mm256_loadu_si256((const __m256i *)block->qs);
    x.ds = _mm_castpd_ps(_mm_load_sd((const double *)(const void *)&block->d));
    x.offset = _mm256_setzero_si256();
#if QT_VNNI
    /* Q4_0's high lanes carry 16 times their value (qt_load_w), so their
     * offset does too. */
    if (type == ASTH_TYPE_Q4_0 || type == ASTH_TYPE_Q8_0) {
        __m256i offsets = type == ASTH_TYPE_Q8_0
                              ? _mm256_set1_epi8((char)QT_Q8_0_OFFSET)
                              : _mm256_setr_m128i(_mm_set1_epi8(QT_Q4_0_OFFSET),
                                                  _mm_set1_epi8((char)(16 * QT_Q4_0_OFFSET)));
        __m256i sums = _mm256_dpbusd_epi32(x.offset, offsets, x.q);
        x.offset = _mm256_sub_epi32(x.offset, sums);
    }
#else
    if (type == ASTH_TYPE_Q4_0) {
        __m256i pairs = _mm256_maddubs_epi16(_mm256_set1_epi8(QT_Q4_0_OFFSET), x.q);
        x.offset = _mm256_madd_epi16(pairs, _mm256_set1_epi16(-1));
    }
#endif
    return x;
}

/* The 16 bytes of a 4-bit block as 32 nibbles in element order. */
ASTH_INLINE QT_TARGET __m256i qt_unpack_nibbles(const uint8_t *qs) {
    __m128i packed = _mm_loadu_si128((const __m128i *)qs);
    __m256i both = _mm256_inserti128_si256(_mm256_castsi128_si256(packed),
                                           _mm_srli_epi16(packed, 4), 1);
    return _mm256_and_si256(both, _mm256_set1_epi8(0x0f));
}

/*
 * Under VNNI a 4-bit block is not unpacked: both halves of the vector get
 * the 16 bytes, the low half keeps q & 0x0F (elements 0..15), the high half
 * q & 0xF0, 16 times elements 16..31. Lanes 4..7 then carry 16 times their
 * value through the whole row: a power of two, and every nonzero value is a
 * multiple of 2^-71 (d_w and d_x are fp16 values), far from the subnormals,
 * so each FMA rounds 16·v exactly where it would round v. qt_tile divides
 * it out before the tree.
 */
#define QT_HIGH_LANES_SCALED (QT_VNNI)

ASTH_INLINE QT_TARGET qt_w qt_load_w(asth_type type, const char *block) {
    qt_w w;
    /* [d_w, m_w, ...]: the lanes past m_w (Q4_1) or d_w are never used. */
    w.dm = _mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)block));
    w.qs = _mm256_setzero_si256();
    if (type == ASTH_TYPE_Q8_0) {
        __m256i q = _mm256_loadu_si256((const __m256i *)(block + 2));
#if QT_VNNI
        w.q = _mm256_xor_si256(q, _mm256_set1_epi8((char)0x80));
#else
        w.q = _mm256_abs_epi8(q);
        w.qs = q;
#endif
    } else {
        const uint8_t *qs = (const uint8_t *)block + (type == ASTH_TYPE_Q4_1 ? 4 : 2);
#if QT_HIGH_LANES_SCALED
        __m256i both = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qs));
        w.q = _mm256_and_si256(both, _mm256_setr_m128i(_mm_set1_epi8(0x0f),
                                                       _mm_set1_epi8((char)0xf0)));
#else
        w.q = qt_unpack_nibbles(qs);
#endif
    }
    return w;
}

/* Lane l: the exact Σ q_w·q_x over elements 4l..4l+3 of the block. */
ASTH_INLINE QT_TARGET __m256i qt_dot(asth_type type, const qt_w *w, const qt_x *x) {
#if QT_VNNI
    return _mm256_dpbusd_epi32(x->offset, w->q, x->q);
#else
    __m256i xq = type == ASTH_TYPE_Q8_0 ? _mm256_sign_epi8(x->q, w->qs) : x->q;
    __m256i sums = _mm256_madd_epi16(_mm256_maddubs_epi16(w->q, xq), _mm256_set1_epi16(1));
    return type == ASTH_TYPE_Q4_0 ? _mm256_add_epi32(sums, x->offset) : sums;
#endif
}

/*
 * Rows [row0, row0 + n_rows) × batch rows [col0, col0 + n_cols) over the
 * whole row of blocks, n_rows <= QT_ROWS_MAX and n_cols <= QT_COLS_MAX.
 * Callers pass constants, so every loop below unrolls into registers.
 */
ASTH_INLINE QT_TARGET void qt_tile(const qt_call *m, asth_type type, int64_t row0, int n_rows,
                                   int64_t col0, int n_cols) {
    __m256 acc[QT_ROWS_MAX][QT_COLS_MAX];
    __m128 sum_m[QT_ROWS_MAX][QT_COLS_MAX];
    const char *w_rows[QT_ROWS_MAX];
    const asth_block_q8a *x_rows[QT_COLS_MAX];
    for (int r = 0; r < n_rows; r++) {
        w_rows[r] = m->w + (row0 + r) * m->row_bytes;
        for (int c = 0; c < n_cols; c++) {
            acc[r][c] = _mm256_setzero_ps();
            sum_m[r][c] = _mm_setzero_ps();
        }
    }
    for (int c = 0; c < n_cols; c++) {
        x_rows[c] = (const asth_block_q8a *)(m->x + (col0 + c) * m->x_stride_bytes);
    }

    /* The next tile's rows, one share per block: a tile reads its rows as
     * n_rows interleaved streams, more than the hardware prefetcher keeps up
     * with from memory; this keeps one tile of weights in flight. */
    const char *next = m->w + (row0 + n_rows) * m->row_bytes;
    size_t share = (size_t)n_rows * m->block_bytes;

    for (int64_t b = 0; b < m->n_blocks; b++) {
        if (n_cols <= QT_PREFETCH_COLS_MAX) {
            for (size_t offset = 0; offset < share; offset += 64) {
                __builtin_prefetch(next + b * share + offset);
            }
        }
        qt_x x[QT_COLS_MAX];
        for (int c = 0; c < n_cols; c++) x[c] = qt_load_x(type, x_rows[c] + b);
        for (int r = 0; r < n_rows; r++) {
            qt_w w = qt_load_w(type, w_rows[r] + b * m->block_bytes);
            for (int c = 0; c < n_cols; c++) {
                /* [d_w·d_x, m_w·s_x]: the block's scale, and Q4_1's term. */
                __m128 scales = _mm_mul_ps(w.dm, x[c].ds);
                if (type == ASTH_TYPE_Q4_1) sum_m[r][c] = _mm_add_ps(sum_m[r][c], scales);
                __m256 lanes = _mm256_cvtepi32_ps(qt_dot(type, &w, &x[c]));
                acc[r][c] = _mm256_fmadd_ps(lanes, _mm256_broadcastss_ps(scales), acc[r][c]);
            }
        }
    }

    /* The 8 lanes in their tree, then Q4_1's sum of m_w·s_x (lane 1). */
    bool scaled = QT_HIGH_LANES_SCALED && type != ASTH_TYPE_Q8_0;
    const __m256 unscale = _mm256_setr_ps(1, 1, 1, 1, 0.0625f, 0.0625f, 0.0625f, 0.0625f);
    for (int c = 0; c < n_cols; c++) {
        float *out = m->out + (col0 + c) * m->out_stride + row0;
        for (int r = 0; r < n_rows; r++) {
            __m256 lanes = scaled ? _mm256_mul_ps(acc[r][c], unscale) : acc[r][c];
            float sum = asth_hsum8(lanes);
            if (type == ASTH_TYPE_Q4_1) sum += _mm_cvtss_f32(_mm_movehdup_ps(sum_m[r][c]));
            out[r] = sum;
        }
    }
}

/* Rows [row_begin, row_end) for batch rows [col0, col0 + n_cols), in
 * tiles of n_rows_tile rows, then single rows for the remainder. */
ASTH_INLINE QT_TARGET void qt_rows(const qt_call *m, asth_type type, int64_t row_begin,
                                   int64_t row_end, int n_rows_tile, int64_t col0,
                                   int n_cols) {
    int64_t row = row_begin;
    for (; row + n_rows_tile <= row_end; row += n_rows_tile) {
        qt_tile(m, type, row, n_rows_tile, col0, n_cols);
    }
    for (; row < row_end; row++) qt_tile(m, type, row, 1, col0, n_cols);
}

/* n_rows rows at row for batch rows [col0, col_end), in tiles of QT_COLS
 * batch rows, then single batch rows for the remainder. */
ASTH_INLINE QT_TARGET void qt_cols(const qt_call *m, asth_type type, int64_t row,
                                   int n_rows, int64_t col0, int64_t col_end) {
    int64_t col = col0;
    for (; col + QT_COLS <= col_end; col += QT_COLS) {
        qt_tile(m, type, row, n_rows, col, QT_COLS);
    }
    for (; col < col_end; col++) qt_tile(m, type, row, n_rows, col, 1);
}

/*
 * The whole product for one weight type. A few batch rows (decode steps)
 * take tall tiles of QT_ROWS_FEW(n) rows, which read each weight once;
 * more take QT_ROWS × QT_COLS tiles, row tile by row tile over passes of
 * QT_COLS_PER_PASS batch rows, so a tile's weights stay in L1 while the
 * pass's activations stay in L2.
 */
ASTH_INLINE QT_TARGET void qt_run(const qt_call *m, asth_type type, int64_t row_begin,
                                  int64_t row_end, int64_t n_batch) {
    switch (n_batch) {
    case 1: qt_rows(m, type, row_begin, row_end, QT_ROWS_FEW(1), 0, 1); return;
    case 2: qt_rows(m, type, row_begin, row_end, QT_ROWS_FEW(2), 0, 2); return;
    case 3: qt_rows(m, type, row_begin, row_end, QT_ROWS_FEW(3), 0, 3); return;
    default: break;
    }
    for (int64_t col0 = 0; col0 < n_batch; col0 += QT_COLS_PER_PASS) {
        int64_t col_end = col0 + QT_COLS_PER_PASS < n_batch ? col0 + QT_COLS_PER_PASS : n_batch;
        int64_t row = row_begin;
        for (; row + QT_ROWS <= row_end; row += QT_ROWS) {
            qt_cols(m, type, row, QT_ROWS, col0, col_end);
        }
        for (; row < row_end; row++) qt_cols(m, type, row, 1, col0, col_end);
    }
}

/* Fills m for a quantized type; false for float types. */
ASTH_INLINE bool qt_init(qt_call *m, asth_type type, const void *w, int64_t n_in,
                         const void *x, int64_t x_stride_bytes, float *out,
                         int64_t out_stride) {
    if (type != ASTH_TYPE_Q4_0 && type != ASTH_TYPE_Q4_1 && type != ASTH_TYPE_Q8_0) {
        return false;
    }
    m->type = type;
    m->w = w;
    m->row_bytes = asth_row_bytes(type, n_in);
    m->n_blocks = n_in / ASTH_QK;
    m->block_bytes = m->n_blocks > 0 ? m->row_bytes / (size_t)m->n_blocks : 0;
    m->x = x;
    m->x_stride_bytes = x_stride_bytes;
    m->out = out;
    m->out_stride = out_stride;
    return true;
}
