/*
 * Panels: Q4_0, Q4_1 and Q8_0 matrices repacked 16 rows at a time, one row
 * per 32-bit lane (asth_kernels.h gives the layout). Packing runs once per
 * matrix at load, so it is plain portable C; the AVX-512 matmul reads the
 * result, and the scalar reference reads it back block by block.
 */
#include "kernels_internal.h"

#include <string.h>

/* Bytes of a block's quants one lane (row) takes from one vector. */
#define LANE_BYTES 4

/* Vectors of 64 bytes, one lane per panel row. */
#define VECTOR_BYTES (ASTH_PANEL_ROWS * LANE_BYTES)

/* Q8_0 quants are stored with this bit flipped: q + 128, unsigned. */
#define Q8_0_FLIP 0x80

asth_type asth_panel_type(asth_type type) {
    switch (type) {
    case ASTH_TYPE_Q4_0: return ASTH_TYPE_Q4_0_PANELS;
    case ASTH_TYPE_Q4_1: return ASTH_TYPE_Q4_1_PANELS;
    case ASTH_TYPE_Q8_0: return ASTH_TYPE_Q8_0_PANELS;
    default: return ASTH_TYPE_F32;
    }
}

size_t asth_panel_stride(asth_type panel_type, int64_t n_in) {
    asth_panel_shape shape;
    return asth_panel_shape_of(panel_type, n_in, &shape) ? shape.stride : 0;
}

size_t asth_panel_bytes(asth_type panel_type, int64_t n_in, int64_t n_rows) {
    if (n_rows < 0) return 0;
    int64_t n_panels = (n_rows + ASTH_PANEL_ROWS - 1) / ASTH_PANEL_ROWS;
    return (size_t)n_panels * asth_panel_stride(panel_type, n_in);
}

/* Offset of a block's quants in the file: after d (and m for Q4_1). */
static size_t quants_offset(asth_type file_type) {
    return file_type == ASTH_TYPE_Q4_1 ? 2 * sizeof(asth_f16) : sizeof(asth_f16);
}

/* Byte `byte` of the file's quants as a panel stores it, and back: Q8_0's
 * top bit is flipped both ways. */
static inline char flip(asth_type file_type, char byte) {
    return file_type == ASTH_TYPE_Q8_0 ? (char)(byte ^ Q8_0_FLIP) : byte;
}

/* Byte offsets in a panel of lane r's quants of block b (the first of
 * each vector's 4), and of its d (m follows ASTH_PANEL_ROWS d later). */
static size_t quant_at(const asth_panel_shape *shape, int r, int64_t b) {
    return (size_t)b * shape->quant_bytes + (size_t)r * LANE_BYTES;
}

static size_t scale_at(const asth_panel_shape *shape, int r, int64_t b) {
    return (size_t)shape->n_blocks * shape->quant_bytes + (size_t)b * shape->scale_bytes +
           (size_t)r * sizeof(asth_f16);
}

/* Scales per block: d, and m for Q4_1. */
static int scale_count(asth_type file_type) { return file_type == ASTH_TYPE_Q4_1 ? 2 : 1; }

/* One file block into lane r, block b of a panel. */
static void store_block(const asth_panel_shape *shape, char *panel, int r, int64_t b,
                        const char *block) {
    asth_type type = shape->file_type;
    const char *file_quants = block + quants_offset(type);
    char *quants = panel + quant_at(shape, r, b);
    for (size_t k = 0; k < shape->quant_bytes / VECTOR_BYTES; k++) {
        for (int i = 0; i < LANE_BYTES; i++) {
            quants[k * VECTOR_BYTES + i] = flip(type, file_quants[k * LANE_BYTES + i]);
        }
    }
    char *scales = panel + scale_at(shape, r, b);
    for (int s = 0; s < scale_count(type); s++) {
        memcpy(scales + (size_t)s * ASTH_PANEL_ROWS * sizeof(asth_f16),
               block + (size_t)s * sizeof(asth_f16), sizeof(asth_f16));
    }
}

/* Lane r, block b of a panel back into a file block. */
static void load_block(const asth_panel_shape *shape, const char *panel, int r, int64_t b,
                       char *block) {
    asth_type type = shape->file_type;
    char *file_quants = block + quants_offset(type);
    const char *quants = panel + quant_at(shape, r, b);
    for (size_t k = 0; k < shape->quant_bytes / VECTOR_BYTES; k++) {
        for (int i = 0; i < LANE_BYTES; i++) {
            file_quants[k * LANE_BYTES + i] = flip(type, quants[k * VECTOR_BYTES + i]);
        }
    }
    const char *scales = panel + scale_at(shape, r, b);
    for (int s = 0; s < scale_count(type); s++) {
        memcpy(block + (size_t)s * sizeof(asth_f16),
               scales + (size_t)s * ASTH_PANEL_ROWS * sizeof(asth_f16), sizeof(asth_f16));
    }
}

void asth_panel_pack(asth_type type, const void *w, int64_t n_in, int64_t n_rows,
                     int64_t panel_begin, int64_t panel_end, void *panels) {
    asth_panel_shape shape;
    if (!asth_panel_shape_of(asth_panel_type(type), n_in, &shape)) return;
    size_t row_bytes = (size_t)shape.n_blocks * shape.block_bytes;
    for (int64_t p = panel_begin; p < panel_end; p++) {
        char *panel = (char *)panels + (size_t)p * shape.stride;
        memset(panel, 0, shape.stride);
        for (int r = 0; r < ASTH_PANEL_ROWS && p * ASTH_PANEL_ROWS + r < n_rows; r++) {
            const char *row = (const char *)w + (size_t)(p * ASTH_PANEL_ROWS + r) * row_bytes;
            for (int64_t b = 0; b < shape.n_blocks; b++) {
                store_block(&shape, panel, r, b, row + (size_t)b * shape.block_bytes);
            }
        }
    }
}

void asth_panel_unpack(asth_type panel_type, const void *panels, int64_t n_in, int64_t n_rows,
                       void *w) {
    asth_panel_shape shape;
    if (!asth_panel_shape_of(panel_type, n_in, &shape)) return;
    size_t row_bytes = (size_t)shape.n_blocks * shape.block_bytes;
    for (int64_t row = 0; row < n_rows; row++) {
        for (int64_t b = 0; b < shape.n_blocks; b++) {
            char *block = (char *)w + (size_t)row * row_bytes + (size_t)b * shape.block_bytes;
            asth_panel_block(&shape, panels, row, b, block);
        }
    }
}

void asth_panel_block(const asth_panel_shape *shape, const void *panels, int64_t row,
                      int64_t b, void *block) {
    const char *panel = (const char *)panels + (size_t)(row / ASTH_PANEL_ROWS) * shape->stride;
    load_block(shape, panel, (int)(row % ASTH_PANEL_ROWS), b, block);
}
