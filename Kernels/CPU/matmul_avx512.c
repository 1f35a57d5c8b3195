/*
 * AVX-512 VNNI matmul: quantized weights through quant_tile_x86.h with
 * vpdpbusd integer sums (256 bits wide, AVX-512VL), float weights through
 * matmul_float.c.
 *
 * vpdpbusd takes unsigned × signed bytes and sums each 4 into an int32
 * lane, the lane NUMERICS.md gives them. Q4 nibbles are unsigned already;
 * Q8_0 weights are shifted by 128 (their top bit flipped). Q4_0's −8 and
 * Q8_0's −128 come back as −offset·Σ of each lane's 4 activation quants,
 * which starts the lane's accumulator. The 32 vector registers of AVX-512
 * hold larger tiles than AVX2's 16. Weights packed at load into panels of
 * 16 rows (asth_kernels.h), and the file's rows for three batch rows or
 * more, take the panels below, which share each integer product between
 * 16 rows.
 */
#include "kernels_internal.h"

#if defined(__x86_64__)

#define QT_TARGET ASTH_AVX512
#define QT_VNNI 1

#define QT_ROWS 4
#define QT_COLS 3
#define QT_ROWS_FEW(n) 4
#define QT_ROWS_MAX 8
#define QT_COLS_MAX 3

#include "quant_tile_x86.h"

/* ---- Panels ------------------------------------------------------------- */

/*
 * A panel holds 16 weight rows, one row per 32-bit lane (asth_kernels.h):
 * lane r of quant vector j holds the 4 quants of row r that meet
 * activation dword j, so one vpdpbusd against that dword broadcast gives
 * lane j's integer sum for 16 rows at once. Each (row, batch row) output
 * still keeps its own 8 lanes, now as 8 vectors of 16 rows; the tree runs
 * across the vectors. Arithmetic as in the tiles: Q4 high nibbles stay in
 * place (16 times their value, divided out at the end), Q8_0 is stored
 * shifted by 128, the offsets start each lane's sum.
 *
 * Weights packed at load (the panel types) are read as they are, for any
 * batch. The file's rows are packed here, a panel at a time, when three
 * batch rows or more share the packing.
 */

/* File rows: batch rows from which packing a panel on the fly beats the
 * tiles. */
#define PANEL_COLS_MIN 3

/* File rows: blocks a panel packed on the fly may hold (rows of up to
 * 2048 elements, 34 KiB of stack); longer rows take the tiles. */
#define PANEL_BLOCKS_MAX 64

/* Batch rows computed together against a panel: 2 × 9 accumulators. */
#define PANEL_COL_TILE 2

/* __builtin_prefetch's locality for prefetcht2: into L2, not L1. */
#define PREFETCH_L2 1

/* One product over panels. */
typedef struct {
    asth_panel_shape shape;
    const char *panels;     /* panel 0 */
    const char *x;          /* batch row 0: n_blocks asth_block_q8a */
    int64_t x_stride_bytes; /* between batch rows */
    float *out;             /* out[c * out_stride + r] */
    int64_t out_stride;
} panel_call;

/* −offset·Σ of each activation dword of a block (Q4_0's high dwords 16
 * times, as its panel holds them), the start of each lane's sum. */
ASTH_INLINE ASTH_AVX512 void panel_offsets(asth_type type, const asth_block_q8a *x,
                                           int32_t offsets[8]) {
    __m256i q = _mm256_loadu_si256((const __m256i *)x->qs);
    __m256i weights = type == ASTH_TYPE_Q8_0
                          ? _mm256_set1_epi8((char)QT_Q8_0_OFFSET)
                          : _mm256_setr_m128i(_mm_set1_epi8(QT_Q4_0_OFFSET),
                                              _mm_set1_epi8((char)(16 * QT_Q4_0_OFFSET)));
    __m256i sums = _mm256_dpbusd_epi32(_mm256_setzero_si256(), weights, q);
    _mm256_storeu_si256((__m256i *)offsets, _mm256_sub_epi32(_mm256_setzero_si256(), sums));
}

/* Block b's 8 quant vectors: Q8_0's as stored, a 4-bit block's 4 vectors
 * masked into low nibbles (lanes 0..3) and high nibbles in place (4..7). */
ASTH_INLINE ASTH_AVX512 void panel_quants(asth_type type, const char *quants, __m512i q[8]) {
    if (type == ASTH_TYPE_Q8_0) {
        for (int j = 0; j < 8; j++) q[j] = _mm512_loadu_si512(quants + 64 * j);
        return;
    }
    for (int k = 0; k < 4; k++) {
        __m512i v = _mm512_loadu_si512(quants + 64 * k);
        q[k] = _mm512_and_si512(v, _mm512_set1_epi8(0x0f));
        q[4 + k] = _mm512_and_si512(v, _mm512_set1_epi8((char)0xf0));
    }
}

/* The panel at `panel` (rows row0..row0 + 15) against batch rows [col0,
 * col0 + nc), nc <= PANEL_COL_TILE; writes the rows set in `rows`.
 * `next`, unless NULL, is the panel to prefetch meanwhile. */
ASTH_INLINE ASTH_AVX512 void panel_tile(const panel_call *m, asth_type type, const char *panel,
                                        const char *next, int64_t row0, __mmask16 rows,
                                        int64_t col0, int nc) {
    __m512 acc[PANEL_COL_TILE][8];
    __m512 sum_m[PANEL_COL_TILE];
    const asth_block_q8a *x[PANEL_COL_TILE];
    for (int c = 0; c < nc; c++) {
        for (int j = 0; j < 8; j++) acc[c][j] = _mm512_setzero_ps();
        sum_m[c] = _mm512_setzero_ps();
        x[c] = (const asth_block_q8a *)(m->x + (col0 + c) * m->x_stride_bytes);
    }

    size_t quant_bytes = type == ASTH_TYPE_Q8_0 ? 512 : 256;
    size_t scale_bytes = type == ASTH_TYPE_Q4_1 ? 64 : 32;
    const char *scales = panel + m->shape.n_blocks * quant_bytes;
    for (int64_t b = 0; b < m->shape.n_blocks; b++) {
        /* The next panel's block b, quants and scales, into L2: the panels
         * of a large matrix stream from memory faster than the hardware
         * prefetchers fetch them alone. */
        if (next != NULL) {
            for (size_t offset = 0; offset < quant_bytes; offset += 64) {
                __builtin_prefetch(next + b * quant_bytes + offset, 0, PREFETCH_L2);
            }
            __builtin_prefetch(next + (scales - panel) + b * scale_bytes, 0, PREFETCH_L2);
        }

        /* d_w·d_x for each batch row; Q4_1's m_w·s_x, or the offsets. */
        const char *block_scales = scales + b * scale_bytes;
        __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)block_scales));
        __m512 dd[PANEL_COL_TILE];
        int32_t offsets[PANEL_COL_TILE][8] = {{0}};
        for (int c = 0; c < nc; c++) {
            dd[c] = _mm512_mul_ps(d, _mm512_set1_ps(x[c][b].d));
            if (type == ASTH_TYPE_Q4_1) {
                __m512 m_w = _mm512_cvtph_ps(
                    _mm256_loadu_si256((const __m256i *)(block_scales + 32)));
                sum_m[c] = _mm512_fmadd_ps(m_w, _mm512_set1_ps(x[c][b].s), sum_m[c]);
            } else {
                panel_offsets(type, &x[c][b], offsets[c]);
            }
        }

        /* Lane j of 16 rows per vpdpbusd. */
        __m512i q[8];
        panel_quants(type, panel + b * quant_bytes, q);
        for (int j = 0; j < 8; j++) {
            for (int c = 0; c < nc; c++) {
                __m512i start = _mm512_set1_epi32(offsets[c][j]);
                __m512i xj = _mm512_set1_epi32(asth_load_i32(x[c][b].qs + 4 * j));
                __m512 lanes = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(start, q[j], xj));
                acc[c][j] = _mm512_fmadd_ps(lanes, dd[c], acc[c][j]);
            }
        }
    }

    /* The tree of 8 across the vectors, then Q4_1's m_w·s_x. */
    for (int c = 0; c < nc; c++) {
        if (type != ASTH_TYPE_Q8_0) {
            __m512 unscale = _mm512_set1_ps(0.0625f);
            for (int j = 4; j < 8; j++) acc[c][j] = _mm512_mul_ps(acc[c][j], unscale);
        }
        __m512 h[4];
        for (int i = 0; i < 4; i++) h[i] = _mm512_add_ps(acc[c][i + 4], acc[c][i]);
        __m512 sum = _mm512_add_ps(_mm512_add_ps(h[0], h[2]), _mm512_add_ps(h[1], h[3]));
        if (type == ASTH_TYPE_Q4_1) sum = _mm512_add_ps(sum, sum_m[c]);
        _mm512_mask_storeu_ps(m->out + (col0 + c) * m->out_stride + row0, rows, sum);
    }
}

/* One panel against batch rows [col0, col_end), PANEL_COL_TILE at a time;
 * the first tile prefetches `next` (or not, when NULL). */
ASTH_INLINE ASTH_AVX512 void panel_cols(const panel_call *m, asth_type type, const char *panel,
                                        const char *next, int64_t row0, __mmask16 rows,
                                        int64_t col0, int64_t col_end) {
    int64_t c = col0;
    for (; c + PANEL_COL_TILE <= col_end; c += PANEL_COL_TILE) {
        panel_tile(m, type, panel, next, row0, rows, c, PANEL_COL_TILE);
        next = NULL;
    }
    for (; c < col_end; c++) {
        panel_tile(m, type, panel, next, row0, rows, c, 1);
        next = NULL;
    }
}

/* The lanes of the panel at row0 that fall in [row_begin, row_end). */
ASTH_INLINE __mmask16 panel_mask(int64_t row0, int64_t row_begin, int64_t row_end) {
    int64_t low = row_begin > row0 ? row_begin - row0 : 0;
    int64_t high = row_end < row0 + ASTH_PANEL_ROWS ? row_end - row0 : ASTH_PANEL_ROWS;
    return (__mmask16)(((1u << high) - 1) & ~((1u << low) - 1));
}

/* Packed weights: rows [row_begin, row_end) in passes of QT_COLS_PER_PASS
 * batch rows over the panels that hold them. */
ASTH_INLINE ASTH_AVX512 void panel_run(const panel_call *m, asth_type type, int64_t row_begin,
                                       int64_t row_end, int64_t n_batch) {
    int64_t first = row_begin - row_begin % ASTH_PANEL_ROWS;
    for (int64_t col0 = 0; col0 < n_batch; col0 += QT_COLS_PER_PASS) {
        int64_t col_end = col0 + QT_COLS_PER_PASS < n_batch ? col0 + QT_COLS_PER_PASS : n_batch;
        for (int64_t row0 = first; row0 < row_end; row0 += ASTH_PANEL_ROWS) {
            const char *panel = m->panels + (row0 / ASTH_PANEL_ROWS) * m->shape.stride;
            const char *next = row0 + ASTH_PANEL_ROWS < row_end ? panel + m->shape.stride : NULL;
            __mmask16 rows = panel_mask(row0, row_begin, row_end);
            panel_cols(m, type, panel, next, row0, rows, col0, col_end);
        }
    }
}

/* ---- Packing the file's rows on the fly ---------------------------------- */

/* 16 bytes at p + offsets[r] for each row r -> v[k], lane r = dword k of
 * row r: four rows per 128-bit lane, then a 4 × 4 transpose per lane. */
ASTH_INLINE ASTH_AVX512 void panel_transpose(const char *p, const int32_t *offsets, __m512i *v) {
    __m512i z[4];
    for (int i = 0; i < 4; i++) {
        __m512i t = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(p + offsets[i])));
        t = _mm512_inserti32x4(t, _mm_loadu_si128((const __m128i *)(p + offsets[i + 4])), 1);
        t = _mm512_inserti32x4(t, _mm_loadu_si128((const __m128i *)(p + offsets[i + 8])), 2);
        z[i] = _mm512_inserti32x4(t, _mm_loadu_si128((const __m128i *)(p + offsets[i + 12])), 3);
    }
    __m512i t0 = _mm512_unpacklo_epi32(z[0], z[1]);
    __m512i t1 = _mm512_unpackhi_epi32(z[0], z[1]);
    __m512i t2 = _mm512_unpacklo_epi32(z[2], z[3]);
    __m512i t3 = _mm512_unpackhi_epi32(z[2], z[3]);
    v[0] = _mm512_unpacklo_epi64(t0, t2);
    v[1] = _mm512_unpackhi_epi64(t0, t2);
    v[2] = _mm512_unpacklo_epi64(t1, t3);
    v[3] = _mm512_unpackhi_epi64(t1, t3);
}

/* File rows [row0, row0 + n_rows) into one panel in asth_panel_pack's
 * layout (a short panel repeats its last row instead of zeros: those
 * lanes are never stored). */
ASTH_INLINE ASTH_AVX512 void panel_pack_file(const qt_call *f, asth_type type, int64_t row0,
                                             int n_rows, char *panel) {
    int32_t offsets[ASTH_PANEL_ROWS];
    for (int r = 0; r < ASTH_PANEL_ROWS; r++) {
        offsets[r] = (int32_t)((r < n_rows ? r : n_rows - 1) * f->row_bytes);
    }
    __m512i offset_vector = _mm512_loadu_si512(offsets);

    /* The next panel's rows, one share per block, as the tiles prefetch. */
    const char *next = f->w + (row0 + ASTH_PANEL_ROWS) * f->row_bytes;
    size_t share = ASTH_PANEL_ROWS * f->block_bytes;
    size_t quant_bytes = type == ASTH_TYPE_Q8_0 ? 512 : 256;
    size_t scale_bytes = type == ASTH_TYPE_Q4_1 ? 64 : 32;
    char *scales = panel + f->n_blocks * quant_bytes;
    for (int64_t b = 0; b < f->n_blocks; b++) {
        for (size_t offset = 0; offset < share; offset += 64) {
            __builtin_prefetch(next + b * share + offset);
        }
        const char *block = f->w + row0 * f->row_bytes + b * f->block_bytes;
        char *quants = panel + b * quant_bytes;
        __m512i v[8];
        if (type == ASTH_TYPE_Q8_0) {
            panel_transpose(block + 2, offsets, v);
            panel_transpose(block + 18, offsets, v + 4);
            for (int j = 0; j < 8; j++) {
                __m512i flipped = _mm512_xor_si512(v[j], _mm512_set1_epi8((char)0x80));
                _mm512_storeu_si512(quants + 64 * j, flipped);
            }
        } else {
            panel_transpose(block + (type == ASTH_TYPE_Q4_1 ? 4 : 2), offsets, v);
            for (int k = 0; k < 4; k++) _mm512_storeu_si512(quants + 64 * k, v[k]);
        }

        /* d (and m) from the 4 bytes at each row's block start. */
        __m512i head = _mm512_i32gather_epi32(offset_vector, block, 1);
        char *block_scales = scales + b * scale_bytes;
        _mm256_storeu_si256((__m256i *)block_scales, _mm512_cvtepi32_epi16(head));
        if (type == ASTH_TYPE_Q4_1) {
            _mm256_storeu_si256((__m256i *)(block_scales + 32),
                                _mm512_cvtepi32_epi16(_mm512_srli_epi32(head, 16)));
        }
    }
}

/* The file's rows in panels packed here, one at a time, for each pass of
 * QT_COLS_PER_PASS batch rows. */
ASTH_INLINE ASTH_AVX512 void panel_run_file(const qt_call *f, asth_type type,
                                            int64_t row_begin, int64_t row_end,
                                            int64_t n_batch) {
    _Alignas(ASTH_PANEL_ALIGN) char panel[PANEL_BLOCKS_MAX * ASTH_PANEL_ROWS *
                                          sizeof(asth_block_q8_0)];
    panel_call m = {.panels = panel, .x = f->x, .x_stride_bytes = f->x_stride_bytes,
                    .out = f->out, .out_stride = f->out_stride};
    asth_panel_shape_of(asth_panel_type(type), f->n_blocks * ASTH_QK, &m.shape);
    for (int64_t col0 = 0; col0 < n_batch; col0 += QT_COLS_PER_PASS) {
        int64_t col_end = col0 + QT_COLS_PER_PASS < n_batch ? col0 + QT_COLS_PER_PASS : n_batch;
        for (int64_t row0 = row_begin; row0 < row_end; row0 += ASTH_PANEL_ROWS) {
            int n_rows = row_end - row0 < ASTH_PANEL_ROWS ? (int)(row_end - row0)
                                                          : ASTH_PANEL_ROWS;
            panel_pack_file(f, type, row0, n_rows, panel);
            __mmask16 rows = (__mmask16)((1u << n_rows) - 1);
            panel_cols(&m, type, panel, NULL, row0, rows, col0, col_end);
        }
    }
}

/* ---- Entry points per type ------------------------------------------------ */

/* The file's rows: panels packed on the fly when the batch is wide enough
 * and a panel fits, else the tiles. */
ASTH_INLINE bool use_panels(const qt_call *m, int64_t n_batch) {
    return n_batch >= PANEL_COLS_MIN && m->n_blocks <= PANEL_BLOCKS_MAX;
}

static ASTH_AVX512 void run_q4_0(const qt_call *m, int64_t row_begin, int64_t row_end,
                                 int64_t n_batch) {
    if (use_panels(m, n_batch)) {
        panel_run_file(m, ASTH_TYPE_Q4_0, row_begin, row_end, n_batch);
    } else {
        qt_run(m, ASTH_TYPE_Q4_0, row_begin, row_end, n_batch);
    }
}

static ASTH_AVX512 void run_q4_1(const qt_call *m, int64_t row_begin, int64_t row_end,
                                 int64_t n_batch) {
    if (use_panels(m, n_batch)) {
        panel_run_file(m, ASTH_TYPE_Q4_1, row_begin, row_end, n_batch);
    } else {
        qt_run(m, ASTH_TYPE_Q4_1, row_begin, row_end, n_batch);
    }
}

static ASTH_AVX512 void run_q8_0(const qt_call *m, int64_t row_begin, int64_t row_end,
                                 int64_t n_batch) {
    if (use_panels(m, n_batch)) {
        panel_run_file(m, ASTH_TYPE_Q8_0, row_begin, row_end, n_batch);
    } else {
        qt_run(m, ASTH_TYPE_Q8_0, row_begin, row_end, n_batch);
    }
}

/* Packed weights, one copy of panel_run per type. */
static ASTH_AVX512 void run_panels(const panel_call *m, int64_t row_begin, int64_t row_end,
                                   int64_t n_batch) {
    switch (m->shape.file_type) {
    case ASTH_TYPE_Q4_0: panel_run(m, ASTH_TYPE_Q4_0, row_begin, row_end, n_batch); break;
    case ASTH_TYPE_Q4_1: panel_run(m, ASTH_TYPE_Q4_1, row_begin, row_end, n_batch); break;
    default: panel_run(m, ASTH_TYPE_Q8_0, row_begin, row_end, n_batch); break;
    }
}

void asth_avx512_matmul(asth_type type, const void *w, int64_t n_in, int64_t row_begin,
                        int64_t row_end, const void *x, int64_t x_stride_bytes,
                        int64_t n_batch, float *out, int64_t out_stride) {
    panel_call p = {.panels = w, .x = x, .x_stride_bytes = x_stride_bytes, .out = out,
                    .out_stride = out_stride};
    if (asth_panel_shape_of(type, n_in, &p.shape)) {
        run_panels(&p, row_begin, row_end, n_batch);
        return;
    }
    qt_call m;
    if (!qt_init(&m, type, w, n_in, x, x_stride_bytes, out, out_stride)) {
        asth_avx512_matmul_float(type, w, n_in, row_begin, row_end, x, x_stride_bytes,
                                 n_batch, out, out_stride);
        return;
    }
    switch (type) {
    case ASTH_TYPE_Q4_0: run_q4_0(&m, row_begin, row_end, n_batch); break;
    case ASTH_TYPE_Q4_1: run_q4_1(&m, row_begin, row_end, n_batch); break;
    default: run_q8_0(&m, row_begin, row_end, n_batch); break;
    }
}

#endif /* __x86_64__ */
