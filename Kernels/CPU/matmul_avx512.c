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
 * hold larger tiles than AVX2's 16.
 */
#include "kernels_internal.h"

#if defined(__x86_64__)

#define QT_TARGET ASTH_AVX512
#define QT_VNNI 1

#define QT_ROWS 4
#define QT_COLS 3
#define QT_ROWS_FEW(n) ((n) == 1 ? 4 : 4)
#define QT_ROWS_MAX 8
#define QT_COLS_MAX 3

#include "quant_tile_x86.h"

static ASTH_AVX512 void run_q4_0(const qt_call *m, int64_t row_begin, int64_t row_end,
                                 int64_t n_batch) {
    qt_run(m, ASTH_TYPE_Q4_0, row_begin, row_end, n_batch);
}

static ASTH_AVX512 void run_q4_1(const qt_call *m, int64_t row_begin, int64_t row_end,
                                 int64_t n_batch) {
    qt_run(m, ASTH_TYPE_Q4_1, row_begin, row_end, n_batch);
}

static ASTH_AVX512 void run_q8_0(const qt_call *m, int64_t row_begin, int64_t row_end,
                                 int64_t n_batch) {
    qt_run(m, ASTH_TYPE_Q8_0, row_begin, row_end, n_batch);
}

void asth_avx512_matmul(asth_type type, const void *w, int64_t n_in, int64_t row_begin,
                        int64_t row_end, const void *x, int64_t x_stride_bytes,
                        int64_t n_batch, float *out, int64_t out_stride) {
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
