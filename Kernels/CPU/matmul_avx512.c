/*
 * AVX-512 VNNI matmul for quantized weights; float weights take the
 * AVX-512 tile in matmul_float.c.
 *
 * As in the AVX2 variant, a panel puts one weight row in each 32-bit lane
 * (16 rows here) and step j pairs it with activation dword j broadcast to
 * every lane, so _mm512_dpbusd_epi32 (unsigned weight × signed activation,
 * summed in int32) leaves each lane with the row's exact integer block
 * sum. The broadcast comes straight from memory. dpbusd has no signed ×
 * signed form, so Q8_0 weights are stored offset by 128 (unsigned) and
 * Q4_0 nibbles keep their +8; both come back as offset·Σq_x.
 */
#include "kernels_internal.h"

#if defined(__x86_64__)

#include "simd_x86.h"

/* Batch rows compute keeps in registers; the fused path takes fewer. */
#define COL_TILE 8
#define FUSED_COLS 4

/* Batch rows up to which Q8_0 goes to the AVX2 kernels (see below). */
#define Q8_NARROW_COLS 2

/* Panel bytes per block in scratch: 8 q vectors, d, m. */
#define PANEL_BYTES (10 * 64)

/* One block of a 16-row panel in registers: q[j] lane r holds row r's 4
 * unsigned quants that meet activation dword j. */
typedef struct {
    __m512i q[8];
    __m512 d;
    __m512 m;
} panel_block;

/* Byte offsets of a panel's 16 rows from its first; short panels repeat
 * their last row. */
typedef struct {
    __m512i vector;
    int32_t list[16];
} row_offsets;

ASTH_INLINE ASTH_AVX512 row_offsets make_offsets(const asth_quant_matmul *m, int n_rows) {
    row_offsets offsets;
    for (int r = 0; r < 16; r++) {
        offsets.list[r] = (int32_t)((r < n_rows ? r : n_rows - 1) * m->row_bytes);
    }
    offsets.vector = _mm512_loadu_si512(offsets.list);
    return offsets;
}

/* Four 16-byte loads as the four lanes of one vector. */
ASTH_INLINE ASTH_AVX512 __m512i load_quad(const char *p, const int32_t *o, int i) {
    __m512i v = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(p + o[i])));
    v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(p + o[i + 4])), 1);
    v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(p + o[i + 8])), 2);
    return _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(p + o[i + 12])), 3);
}

/* 16 bytes at p + offset of each row -> v[k], lane r = dword k of row r:
 * lane quarter l holds rows 4l..4l+3 after a 4×4 transpose per quarter. */
ASTH_INLINE ASTH_AVX512 void transpose_rows(const char *p, const int32_t *offsets, __m512i *v) {
    __m512i z0 = load_quad(p, offsets, 0);
    __m512i z1 = load_quad(p, offsets, 1);
    __m512i z2 = load_quad(p, offsets, 2);
    __m512i z3 = load_quad(p, offsets, 3);
    __m512i t0 = _mm512_unpacklo_epi32(z0, z1);
    __m512i t1 = _mm512_unpackhi_epi32(z0, z1);
    __m512i t2 = _mm512_unpacklo_epi32(z2, z3);
    __m512i t3 = _mm512_unpackhi_epi32(z2, z3);
    v[0] = _mm512_unpacklo_epi64(t0, t2);
    v[1] = _mm512_unpackhi_epi64(t0, t2);
    v[2] = _mm512_unpacklo_epi64(t1, t3);
    v[3] = _mm512_unpackhi_epi64(t1, t3);
}

/* The fp16 pair at the start of each row's block: d, and m, as floats. */
ASTH_INLINE ASTH_AVX512 void load_scales(const char *block, const row_offsets *offsets,
                                         bool has_min, panel_block *p) {
    __m512i head = _mm512_i32gather_epi32(offsets->vector, block, 1);
    p->d = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(head));
    if (has_min) p->m = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(head, 16)));
}

ASTH_INLINE ASTH_AVX512 void load_panel(const asth_quant_matmul *m, const char *block,
                                        const row_offsets *offsets, panel_block *p) {
    if (m->type == ASTH_TYPE_Q8_0) {
        /* Signed bytes + 128 = unsigned bytes: flip the top bit. */
        transpose_rows(block + 2, offsets->list, p->q);
        transpose_rows(block + 18, offsets->list, p->q + 4);
        for (int j = 0; j < 8; j++) p->q[j] = _mm512_xor_si512(p->q[j], _mm512_set1_epi8(-128));
    } else {
        __m512i v[4];
        transpose_rows(block + (m->type == ASTH_TYPE_Q4_1 ? 4 : 2), offsets->list, v);
        const __m512i low_nibbles = _mm512_set1_epi8(0x0f);
        for (int k = 0; k < 4; k++) {
            p->q[k] = _mm512_and_si512(v[k], low_nibbles);
            p->q[4 + k] = _mm512_and_si512(_mm512_srli_epi16(v[k], 4), low_nibbles);
        }
    }
    load_scales(block, offsets, m->type == ASTH_TYPE_Q4_1, p);
}

ASTH_INLINE const char *panel_block_at(const asth_quant_matmul *m, int64_t row0, int64_t b) {
    return m->w + row0 * m->row_bytes + b * m->block_bytes;
}

/* ---- Block dot products -------------------------------------------------- */

ASTH_INLINE ASTH_AVX512 __m512i broadcast_dword(const asth_block_q8a *x, int j) {
    return _mm512_set1_epi32(asth_load_i32(x->qs + 4 * j));
}

/* acc[c] += d_w·d_x·(Σ q_w·q_x − offset·Σq_x) (+ m_w·s_x) for nc batch rows; two
 * dpbusd chains per block keep the adder busy when nc is 1. */
ASTH_INLINE ASTH_AVX512 void dot_block(const asth_quant_matmul *m, const panel_block *p,
                                       const asth_block_q8a *const *x, int64_t b, int nc,
                                       asth_block_sums sums, __m512 *acc) {
    bool has_min = m->type == ASTH_TYPE_Q4_1;
    for (int c = 0; c < nc; c++) {
        const asth_block_q8a *xb = &x[c][b];
        __m512i even = _mm512_dpbusd_epi32(_mm512_setzero_si512(), p->q[0], broadcast_dword(xb, 0));
        __m512i odd = _mm512_dpbusd_epi32(_mm512_setzero_si512(), p->q[1], broadcast_dword(xb, 1));
        for (int j = 2; j < 8; j += 2) {
            even = _mm512_dpbusd_epi32(even, p->q[j], broadcast_dword(xb, j));
            odd = _mm512_dpbusd_epi32(odd, p->q[j + 1], broadcast_dword(xb, j + 1));
        }
        __m512i isum = _mm512_add_epi32(even, odd);
        if (!has_min) {
            int32_t offset = m->type == ASTH_TYPE_Q8_0 ? 128 : 8;
            int32_t offset_sum = offset * sums[c * ASTH_CHUNK_BLOCKS_MAX + b];
            isum = _mm512_sub_epi32(isum, _mm512_set1_epi32(offset_sum));
        }
        __m512 dd = _mm512_mul_ps(p->d, _mm512_set1_ps(xb->d));
        acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), dd, acc[c]);
        if (has_min) acc[c] = _mm512_fmadd_ps(p->m, _mm512_set1_ps(xb->s), acc[c]);
    }
}

/* ---- Tiles --------------------------------------------------------------- */

ASTH_INLINE ASTH_AVX512 void load_tile(const asth_quant_matmul *m, int64_t row0, int n_rows,
                                       int64_t col0, int nc, bool accumulate, __m512 *acc) {
    __mmask16 mask = (__mmask16)((1u << n_rows) - 1);
    for (int c = 0; c < nc; c++) {
        float *out = m->out + (col0 + c) * m->out_stride + row0;
        acc[c] = accumulate ? _mm512_maskz_loadu_ps(mask, out) : _mm512_setzero_ps();
    }
}

ASTH_INLINE ASTH_AVX512 void store_tile(const asth_quant_matmul *m, int64_t row0, int n_rows,
                                        int64_t col0, int nc, const __m512 *acc) {
    __mmask16 mask = (__mmask16)((1u << n_rows) - 1);
    for (int c = 0; c < nc; c++) {
        _mm512_mask_storeu_ps(m->out + (col0 + c) * m->out_stride + row0, mask, acc[c]);
    }
}

ASTH_INLINE void activation_rows(const asth_quant_matmul *m, int64_t col0, int nc,
                                 int64_t block0, const asth_block_q8a **x) {
    for (int c = 0; c < nc; c++) {
        x[c] = (const asth_block_q8a *)(m->x + (col0 + c) * m->x_stride_bytes) + block0;
    }
}

static ASTH_AVX512 void repack(const asth_quant_matmul *m, int64_t row0, int n_rows,
                               int64_t block0, int n_blocks, void *scratch) {
    row_offsets offsets = make_offsets(m, n_rows);
    for (int b = 0; b < n_blocks; b++) {
        asth_prefetch_next_panel(m, row0, 16, block0, n_blocks, b);
        __m512i *out = (__m512i *)((char *)scratch + b * PANEL_BYTES);
        panel_block p;
        load_panel(m, panel_block_at(m, row0, block0 + b), &offsets, &p);
        for (int j = 0; j < 8; j++) _mm512_store_si512(out + j, p.q[j]);
        _mm512_store_ps(out + 8, p.d);
        if (m->type == ASTH_TYPE_Q4_1) _mm512_store_ps(out + 9, p.m);
    }
}

ASTH_INLINE ASTH_AVX512 void compute_tile(const asth_quant_matmul *m, const void *scratch,
                                          int64_t row0, int n_rows, int64_t block0,
                                          int n_blocks, int64_t col0, int nc,
                                          asth_block_sums sums, bool accumulate) {
    const asth_block_q8a *x[COL_TILE];
    activation_rows(m, col0, nc, block0, x);
    __m512 acc[COL_TILE];
    load_tile(m, row0, n_rows, col0, nc, accumulate, acc);
    for (int b = 0; b < n_blocks; b++) {
        const __m512i *in = (const __m512i *)((const char *)scratch + b * PANEL_BYTES);
        panel_block p;
        for (int j = 0; j < 8; j++) p.q[j] = _mm512_load_si512(in + j);
        p.d = _mm512_load_ps(in + 8);
        p.m = m->type == ASTH_TYPE_Q4_1 ? _mm512_load_ps(in + 9) : p.d;
        dot_block(m, &p, x, b, nc, sums, acc);
    }
    store_tile(m, row0, n_rows, col0, nc, acc);
}

ASTH_INLINE ASTH_AVX512 void fused_tile(const asth_quant_matmul *m, int64_t row0, int n_rows,
                                        int64_t block0, int n_blocks, int64_t col0, int nc,
                                        asth_block_sums sums, bool accumulate) {
    const asth_block_q8a *x[FUSED_COLS];
    activation_rows(m, col0, nc, block0, x);
    __m512 acc[FUSED_COLS];
    load_tile(m, row0, n_rows, col0, nc, accumulate, acc);
    row_offsets offsets = make_offsets(m, n_rows);
    for (int b = 0; b < n_blocks; b++) {
        asth_prefetch_next_panel(m, row0, 16, block0, n_blocks, b);
        panel_block p;
        load_panel(m, panel_block_at(m, row0, block0 + b), &offsets, &p);
        dot_block(m, &p, x, b, nc, sums, acc);
    }
    store_tile(m, row0, n_rows, col0, nc, acc);
}

/* Specialise on the column count, so accumulators stay in registers. */
static ASTH_AVX512 void compute(const asth_quant_matmul *m, const void *scratch, int64_t row0,
                                int n_rows, int64_t block0, int n_blocks, int64_t col0,
                                int n_cols, asth_block_sums sums, bool accumulate) {
    switch (n_cols) {
#define TILE(n)                                                                            \
    case n:                                                                                \
        compute_tile(m, scratch, row0, n_rows, block0, n_blocks, col0, n, sums, accumulate); \
        break;
        TILE(1) TILE(2) TILE(3) TILE(4) TILE(5) TILE(6) TILE(7) TILE(8)
#undef TILE
    }
}

static ASTH_AVX512 void fused(const asth_quant_matmul *m, int64_t row0, int n_rows,
                              int64_t block0, int n_blocks, int64_t col0, int n_cols,
                              asth_block_sums sums, bool accumulate) {
    switch (n_cols) {
#define TILE(n)                                                                            \
    case n: fused_tile(m, row0, n_rows, block0, n_blocks, col0, n, sums, accumulate); break;
        TILE(1) TILE(2) TILE(3) TILE(4)
#undef TILE
    }
}

static const asth_quant_kernels q4_0_kernels = {
    .panel_rows = 16, .col_tile = COL_TILE, .needs_sums = true, .repack = repack,
    .compute = compute, .fused_cols = FUSED_COLS, .fused = fused,
};
static const asth_quant_kernels q4_1_kernels = {
    .panel_rows = 16, .col_tile = COL_TILE, .needs_sums = false, .repack = repack,
    .compute = compute, .fused_cols = FUSED_COLS, .fused = fused,
};
static const asth_quant_kernels q8_0_kernels = {
    .panel_rows = 16, .col_tile = COL_TILE, .needs_sums = true, .repack = repack,
    .compute = compute, .fused_cols = FUSED_COLS, .fused = fused,
};

ASTH_AVX512 void asth_avx512_matmul(asth_type type, const void *w, int64_t n_in,
                                    int64_t row_begin, int64_t row_end, const void *x,
                                    int64_t x_stride_bytes, int64_t n_batch, float *out,
                                    int64_t out_stride) {
    asth_quant_matmul m;
    if (!asth_quant_matmul_init(&m, type, w, n_in, x, x_stride_bytes, out, out_stride)) {
        asth_avx512_matmul_float(type, w, n_in, row_begin, row_end, x, x_stride_bytes,
                                 n_batch, out, out_stride);
        return;
    }
    /* Streaming a large Q8_0 matrix (the output head) for one or two batch
     * rows, 16-row panels reach ~13 GB/s here against ~21 GB/s for the
     * AVX2 8-row panels, so those take it. */
    if (type == ASTH_TYPE_Q8_0 && n_batch <= Q8_NARROW_COLS) {
        asth_avx2_matmul(type, w, n_in, row_begin, row_end, x, x_stride_bytes, n_batch, out,
                         out_stride);
        return;
    }
    const asth_quant_kernels *k = type == ASTH_TYPE_Q4_0   ? &q4_0_kernels
                                  : type == ASTH_TYPE_Q4_1 ? &q4_1_kernels
                                                           : &q8_0_kernels;
    asth_quant_matmul_run(k, &m, row_begin, row_end, n_batch);
}

#endif /* __x86_64__ */
