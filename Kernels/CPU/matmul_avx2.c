/*
 * AVX2+FMA matmul: quantized weights through quant_tile_x86.h with
 * maddubs + madd integer sums, float weights through matmul_float.c.
 *
 * _mm256_maddubs_epi16 takes unsigned × signed bytes: Q4 nibbles are
 * unsigned already (Q4_0's −8 comes back as −8·Σ of each lane's 4
 * activation quants); Q8_0 multiplies |w| by x carrying w's sign, as ggml
 * does on AVX2. Pair sums fit int16: 2 × 15 × 127 and 2 × 128 × 127.
 */
#include "kernels_internal.h"

#if defined(__x86_64__)

#define QT_TARGET ASTH_AVX2
#define QT_VNNI 0

/* Tiles: 16 ymm registers hold a tile's lanes, its Q4_1 sums and the
 * vectors of one block. Many batch rows take one weight row against 4
 * batch rows (Q4_1 576x1536 x 512: 4.3 cycles per row-block, 2 x 2 tiles
 * 5.1-5.4). */
#define QT_ROWS 1
#define QT_COLS 4
#define QT_ROWS_FEW(n) ((n) == 1 ? 4 : 2)
#define QT_ROWS_MAX 4
#define QT_COLS_MAX 4

#include "quant_tile_x86.h"

static ASTH_AVX2 void run_q4_0(const qt_call *m, int64_t row_begin, int64_t row_end,
                               int64_t n_batch) {
    qt_run(m, ASTH_TYPE_Q4_0, row_begin, row_end, n_batch);
}

static ASTH_AVX2 void run_q4_1(const qt_call *m, int64_t row_begin, int64_t row_end,
                               int64_t n_batch) {
    qt_run(m, ASTH_TYPE_Q4_1, row_begin, row_end, n_batch);
}

static ASTH_AVX2 void run_q8_0(const qt_call *m, int64_t row_begin, int64_t row_end,
                               int64_t n_batch) {
    qt_run(m, ASTH_TYPE_Q8_0, row_begin, row_end, n_batch);
}

void asth_avx2_matmul(asth_type type, const void *w, int64_t n_in, int64_t row_begin,
                      int64_t row_end, const void *x, int64_t x_stride_bytes, int64_t n_batch,
                      float *out, int64_t out_stride) {
    /* Panels are the AVX-512 variant's layout; here the reference reads them. */
    if (type & ASTH_PANEL_TYPE_BIT) {
        asth_scalar_matmul(type, w, n_in, row_begin, row_end, x, x_stride_bytes, n_batch, out,
                           out_stride);
        return;
    }
    qt_call m;
    if (!qt_init(&m, type, w, n_in, x, x_stride_bytes, out, out_stride)) {
        asth_avx2_matmul_float(type, w, n_in, row_begin, row_end, x, x_stride_bytes, n_batch,
                               out, out_stride);
        return;
    }
    switch (type) {
    case ASTH_TYPE_Q4_0: run_q4_0(&m, row_begin, row_end, n_batch); break;
    case ASTH_TYPE_Q4_1: run_q4_1(&m, row_begin, row_end, n_batch); break;
    default: run_q8_0(&m, row_begin, row_end, n_batch); break;
    }
}

#endif /* __x86_64__ */
