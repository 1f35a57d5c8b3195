/*
 * The loop nest shared by the SIMD quantized matmuls.
 *
 * A variant supplies kernels: `repack` turns a panel of weight rows (8 or
 * 16) over a run of blocks into a lane-per-row layout in scratch, and
 * `compute` multiplies that panel with a few batch rows held in registers;
 * `fused` does both block by block for the few batch rows of a decode
 * step, where a panel would be used once. The driver orders the work so
 * each panel is repacked once per column chunk and reused by every batch
 * row in it, and so scratch and the activations it touches stay in L1/L2.
 *
 * Every output lane accumulates its blocks in the same order whatever the
 * chunking, so results do not depend on row ranges or batch size.
 */
#include "kernels_internal.h"

/* Activation rows per column chunk: bounds the Σq table below. */
#define DRIVER_COLS_MAX 32

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* Σ q_x of each block in [block0, block0 + n_blocks) of batch rows
 * [col0, col0 + n_cols); at most 32 · 127, so int16 holds it. */
static void fill_sums(const asth_quant_matmul *m, int64_t col0, int n_cols, int64_t block0,
                      int n_blocks, int16_t *sums) {
    for (int c = 0; c < n_cols; c++) {
        const asth_block_q8a *x =
            (const asth_block_q8a *)(m->x + (col0 + c) * m->x_stride_bytes) + block0;
        for (int b = 0; b < n_blocks; b++) {
            int32_t sum = 0;
            for (int j = 0; j < ASTH_QK; j++) sum += x[b].qs[j];
            sums[c * ASTH_CHUNK_BLOCKS_MAX + b] = (int16_t)sum;
        }
    }
}

/* One chunk of blocks for batch rows [col0, col0 + n_cols). */
static void run_chunk(const asth_quant_kernels *k, const asth_quant_matmul *m,
                      int64_t row_begin, int64_t col0, int n_cols, int64_t block0,
                      int n_blocks, const int16_t *sums, void *scratch) {
    bool accumulate = block0 > 0;
    for (int64_t row0 = row_begin; row0 < m->row_end; row0 += k->panel_rows) {
        int n_rows = (int)min64(k->panel_rows, m->row_end - row0);

        /* A few batch rows: straight from registers. */
        if (n_cols <= k->fused_cols) {
            k->fused(m, row0, n_rows, block0, n_blocks, col0, n_cols, sums, accumulate);
            continue;
        }

        /* Otherwise repack once, then sweep the batch rows. */
        k->repack(m, row0, n_rows, block0, n_blocks, scratch);
        for (int c = 0; c < n_cols; c += k->col_tile) {
            int n_tile = n_cols - c < k->col_tile ? n_cols - c : k->col_tile;
            k->compute(m, scratch, row0, n_rows, block0, n_blocks, col0 + c, n_tile,
                       sums + c * ASTH_CHUNK_BLOCKS_MAX, accumulate);
        }
    }
}

void asth_quant_matmul_run(const asth_quant_kernels *k, asth_quant_matmul *m,
                           int64_t row_begin, int64_t row_end, int64_t n_batch) {
    _Alignas(64) unsigned char scratch[ASTH_SCRATCH_BLOCKS_MAX * ASTH_PANEL_BYTES_MAX];
    int16_t sums[DRIVER_COLS_MAX * ASTH_CHUNK_BLOCKS_MAX];
    m->row_end = row_end;
    int64_t chunk_max = n_batch <= k->fused_cols ? ASTH_CHUNK_BLOCKS_MAX : ASTH_SCRATCH_BLOCKS_MAX;

    for (int64_t col0 = 0; col0 < n_batch; col0 += DRIVER_COLS_MAX) {
        int n_cols = (int)min64(DRIVER_COLS_MAX, n_batch - col0);
        for (int64_t block0 = 0; block0 < m->n_blocks; block0 += chunk_max) {
            int n_blocks = (int)min64(chunk_max, m->n_blocks - block0);
            if (k->needs_sums) fill_sums(m, col0, n_cols, block0, n_blocks, sums);
            run_chunk(k, m, row_begin, col0, n_cols, block0, n_blocks, sums, scratch);
        }
    }
}
