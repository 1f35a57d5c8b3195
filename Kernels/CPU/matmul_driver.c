/*
 * The loop nest shared by the SIMD quantized matmuls.
 *
 * A variant supplies two kernels: `repack` turns a panel of weight rows
 * (8 or 16) over a run of blocks into a lane-per-row layout in scratch,
 * and `compute` multiplies that panel with a few batch rows held in
 * registers. The driver orders the work so each panel is repacked once per
 * column chunk and reused by every batch row in it, and so the scratch
 * and the activations it touches stay in L1/L2.
 *
 * Every output lane accumulates its blocks in the same order whatever the
 * chunking, so results do not depend on row ranges or batch size.
 */
#include "kernels_internal.h"

/* Activation rows per column chunk: bounds the bias table below. */
#define DRIVER_COLS_MAX 64

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* bias[c][b] = offset · Σ q_x over block b of batch row c, in [0, n_cols). */
static void fill_bias(const asth_quant_matmul *m, int32_t offset, int64_t col0,
                      int n_cols, int64_t block0, int n_blocks, int32_t *bias) {
    for (int c = 0; c < n_cols; c++) {
        const asth_block_q8a *x =
            (const asth_block_q8a *)(m->x + (col0 + c) * m->x_stride_bytes) + block0;
        for (int b = 0; b < n_blocks; b++) {
            int32_t sum = 0;
            for (int j = 0; j < ASTH_QK; j++) sum += x[b].qs[j];
            bias[c * ASTH_DRIVER_BLOCKS_MAX + b] = offset * sum;
        }
    }
}

void asth_quant_matmul_run(const asth_quant_kernels *k, const asth_quant_matmul *m,
                           int64_t row_begin, int64_t row_end, int64_t n_batch) {
    _Alignas(64) unsigned char scratch[ASTH_DRIVER_BLOCKS_MAX * ASTH_PANEL_BYTES_MAX];
    int32_t bias[DRIVER_COLS_MAX * ASTH_DRIVER_BLOCKS_MAX];

    for (int64_t col0 = 0; col0 < n_batch; col0 += DRIVER_COLS_MAX) {
        int n_cols = (int)min64(DRIVER_COLS_MAX, n_batch - col0);
        for (int64_t block0 = 0; block0 < m->n_blocks; block0 += ASTH_DRIVER_BLOCKS_MAX) {
            int n_blocks = (int)min64(ASTH_DRIVER_BLOCKS_MAX, m->n_blocks - block0);
            bool accumulate = block0 > 0;

            /* Integer corrections for weights stored with an offset. */
            if (k->bias_offset != 0) fill_bias(m, k->bias_offset, col0, n_cols, block0,
                                               n_blocks, bias);

            /* Each panel: repack once, then sweep the batch rows. */
            for (int64_t row0 = row_begin; row0 < row_end; row0 += k->panel_rows) {
                int n_rows = (int)min64(k->panel_rows, row_end - row0);
                k->repack(m, row0, n_rows, block0, n_blocks, scratch);
                for (int c = 0; c < n_cols; c += k->col_tile) {
                    int n_tile = n_cols - c < k->col_tile ? n_cols - c : k->col_tile;
                    k->compute(m, scratch, row0, n_rows, block0, n_blocks, col0 + c, n_tile,
                               bias + c * ASTH_DRIVER_BLOCKS_MAX, accumulate);
                }
            }
        }
    }
}
