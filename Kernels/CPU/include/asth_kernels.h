/*
 * CPU kernels for the transformer pipeline.
 *
 * Every op has a scalar reference that compiles on any architecture; SIMD
 * variants (AVX2+FMA, AVX-512 with VNNI) are chosen once at run time from
 * what the processor reports, and each gives the reference's bits.
 * Set ASTH_KERNELS=scalar|avx2|avx512 to pin a variant.
 *
 * Numerics follow ggml where it matters for reproducing llama.cpp: weights
 * keep ggml's block layouts, activations are quantized to 8-bit blocks the
 * way ggml quantizes them (Q8_0 for Q4_0/Q8_0 weights, Q8_1 for Q4_1), and
 * attention rounds through fp16 where ggml's non-flash path does.
 */
#ifndef ASTH_KERNELS_H
#define ASTH_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Elements per quant block for every block type below. */
#define ASTH_QK 32

/* IEEE half precision, stored as its bits. */
typedef uint16_t asth_f16;

/* ggml Q4_0, 18 bytes: w[j] = (q[j] - 8) * d; element j < 16 is the low
 * nibble of qs[j], element j >= 16 the high nibble of qs[j - 16]. */
typedef struct {
    asth_f16 d;
    uint8_t qs[ASTH_QK / 2];
} asth_block_q4_0;

/* ggml Q4_1, 20 bytes: w[j] = q[j] * d + m; nibbles as in Q4_0. */
typedef struct {
    asth_f16 d;
    asth_f16 m;
    uint8_t qs[ASTH_QK / 2];
} asth_block_q4_1;

/* ggml Q8_0, 34 bytes: w[j] = q[j] * d. */
typedef struct {
    asth_f16 d;
    int8_t qs[ASTH_QK];
} asth_block_q8_0;

/* Activations quantized for integer dot products, 40 bytes: x[j] ~ q[j] * d,
 * s = d * sum(q). d and s hold values rounded through fp16, exactly as ggml's
 * Q8_0/Q8_1 blocks store them, but kept as float so kernels skip the
 * conversion. */
typedef struct {
    float d;
    float s;
    int8_t qs[ASTH_QK];
} asth_block_q8a;

/* Tensor types, numbered as ggml numbers them; the panel layouts (below)
 * are ours: ASTH_PANEL_TYPE_BIT on the file type whose blocks they hold. */
typedef enum {
    ASTH_TYPE_F32 = 0,
    ASTH_TYPE_F16 = 1,
    ASTH_TYPE_Q4_0 = 2,
    ASTH_TYPE_Q4_1 = 3,
    ASTH_TYPE_Q8_0 = 8,
    ASTH_TYPE_Q4_0_PANELS = 0x102,
    ASTH_TYPE_Q4_1_PANELS = 0x103,
    ASTH_TYPE_Q8_0_PANELS = 0x108,
} asth_type;

/* The bit that marks a panel layout in an asth_type. */
#define ASTH_PANEL_TYPE_BIT 0x100

/* Kernel variants, slowest first. */
typedef enum {
    ASTH_VARIANT_SCALAR = 0,
    ASTH_VARIANT_AVX2 = 1,
    ASTH_VARIANT_AVX512 = 2,
} asth_variant;

/* ---- Variant selection ------------------------------------------------- */

/* The fastest variant this processor supports. */
asth_variant asth_variant_best(void);

/* The variant in use: ASTH_KERNELS if set and supported, else the default:
 * the fastest variant that reproduces llama.cpp bit for bit (NUMERICS.md). */
asth_variant asth_variant_current(void);

/* Pins a variant; returns 0, or -1 when the processor lacks it. */
int asth_variant_set(asth_variant variant);

/* "scalar", "avx2" or "avx512". */
const char *asth_variant_name(asth_variant variant);

/* The variant a value of ASTH_KERNELS selects: the named variant when this
 * processor supports it, else the default (also for NULL or an unknown name).
 * asth_variant_current applies it to getenv("ASTH_KERNELS") on first use. */
asth_variant asth_variant_select(const char *name);

/* The variant used when ASTH_KERNELS names none: the fastest this
 * processor supports, since every variant reproduces llama.cpp bit for bit. */
asth_variant asth_variant_default(void);

/* ---- Conversions and quantization -------------------------------------- */

float asth_f16_to_f32(asth_f16 h);
asth_f16 asth_f32_to_f16(float f);

/* Bytes of one row of n elements; 0 when n is not a whole number of blocks
 * or the type is unknown. */
size_t asth_row_bytes(asth_type type, int64_t n);

/* Expands one row of n elements of any supported type to float. */
void asth_dequantize_row(asth_type type, const void *src, float *dst, int64_t n);

/* Quantizes n floats (a multiple of ASTH_QK) into n / ASTH_QK blocks. */
void asth_quantize_row_q8a(const float *x, asth_block_q8a *y, int64_t n);

/* ---- Matrix products --------------------------------------------------- */

/*
 * out[b * out_stride + r] = dot(row r of w, x_b)
 *   for r in [row_begin, row_end) and b in [0, n_batch).
 *
 * w: the weight matrix, rows of n_in elements of `type`, row-major.
 * x_b = (const char *)x + b * x_stride_bytes: for Q4_0, Q4_1 and Q8_0
 * weights, n_in / ASTH_QK asth_block_q8a blocks; for F32 and F16 weights,
 * n_in floats.
 */
void asth_matmul(asth_type type, const void *w, int64_t n_in, int64_t row_begin,
                 int64_t row_end, const void *x, int64_t x_stride_bytes, int64_t n_batch,
                 float *out, int64_t out_stride);

/* ---- Panels: quantized weights interleaved by 16 rows -------------------
 *
 * A variant that reads panels (asth_variant_packs_weights) takes Q4_0, Q4_1
 * and Q8_0 matrices fastest when they are repacked once, at load, into
 * panels of ASTH_PANEL_ROWS rows: panel p holds rows 16p..16p+15 (rows
 * past the matrix are zero), ASTH_PANEL_ALIGN-aligned, panel p at
 * p · asth_panel_stride. A panel holds every byte its rows hold in the
 * file, transposed so that one 32-bit lane is one row:
 *
 *   quants, for each block b (n_in / 32 of them), in vectors of 64 bytes:
 *     Q4_0, Q4_1: 4 vectors; bytes 4r..4r+3 of vector k are bytes
 *       qs[4k..4k+3] of row r's block b, nibbles still packed;
 *     Q8_0: 8 vectors; bytes 4r..4r+3 of vector j are qs[4j..4j+3] of row
 *       r's block b with their top bit flipped (q + 128, unsigned);
 *   then scales, for each block b: the 16 rows' d (fp16, row order), and
 *     for Q4_1 the 16 rows' m after them.
 *
 * So a panel is 16 × the file's row bytes, padded to ASTH_PANEL_ALIGN.
 * asth_matmul takes a panel type for w, with these rules: every variant
 * gives the bits it gives on the file's rows (the variants that do not
 * read panels fall back to the scalar reference for them).
 */

/* Weight rows per panel. */
#define ASTH_PANEL_ROWS 16

/* Alignment of panels, and of the buffer asth_panel_pack writes. */
#define ASTH_PANEL_ALIGN 64

/* The panel type of a Q4_0, Q4_1 or Q8_0 type; 0 (F32) for any other. */
asth_type asth_panel_type(asth_type type);

/* Bytes from one panel to the next for rows of n_in elements of a panel
 * type; 0 when n_in is not a whole number of blocks or the type is none. */
size_t asth_panel_stride(asth_type panel_type, int64_t n_in);

/* Bytes of the panels of a matrix of n_rows rows: ceil(n_rows / 16)
 * panels. */
size_t asth_panel_bytes(asth_type panel_type, int64_t n_in, int64_t n_rows);

/* Writes panels [panel_begin, panel_end) of the n_rows × n_in matrix w (a
 * Q4_0, Q4_1 or Q8_0 type, the file's layout) into `panels`, the start of
 * the whole matrix's panel buffer: slices may be packed in any order. */
void asth_panel_pack(asth_type type, const void *w, int64_t n_in, int64_t n_rows,
                     int64_t panel_begin, int64_t panel_end, void *panels);

/* The inverse: the n_rows rows of `panels` (a panel type) back in the
 * file's layout, n_rows × asth_row_bytes of the file type at w. */
void asth_panel_unpack(asth_type panel_type, const void *panels, int64_t n_in, int64_t n_rows,
                       void *w);

/* 1 when `variant` reads quantized weights fastest as panels, so a loader
 * should pack them (and drop the file's copy); 0 when it reads the file's
 * rows. */
int asth_variant_packs_weights(asth_variant variant);

/* ---- Element-wise and normalisation ------------------------------------ */

/* out = x / sqrt(mean(x^2) + eps) * w, over n elements. out may alias x. */
void asth_rmsnorm(const float *x, const float *w, float *out, int64_t n, float eps);

/* x += y over n elements. */
void asth_add(float *x, const float *y, int64_t n);

/* out = silu(g) * u over n elements; out may alias g or u. */
void asth_silu_mul(const float *g, const float *u, float *out, int64_t n);

/* In-place softmax over n elements. */
void asth_softmax(float *x, int64_t n);

/*
 * Rotary position embedding, ggml's "normal" mode (llama): within each head
 * the pairs (x[2i], x[2i+1]) rotate by pos * freq_base^(-2i / rope_dims).
 * x holds n_heads heads of head_dim floats; the first rope_dims of each head
 * rotate, the rest stay.
 */
void asth_rope_norm(float *x, int64_t n_heads, int64_t head_dim, int64_t rope_dims,
                    int64_t pos, float freq_base);

/*
 * asth_rope_norm in two steps, so that one position's angles serve every
 * layer of a dispatch: cos_sin[i] = cos theta_{i/2}, cos_sin[i + 1] =
 * sin theta_{i/2} for even i < rope_dims, computed as asth_rope_norm does;
 * then asth_rope_turn rotates x by them. Together they give asth_rope_norm's
 * numbers bit for bit.
 */
void asth_rope_angles(int64_t rope_dims, int64_t pos, float freq_base, float *cos_sin);
void asth_rope_turn(float *x, int64_t n_heads, int64_t head_dim, int64_t rope_dims,
                    const float *cos_sin);

/*
 * Attention of one query head over positions [0, n_pos) of an fp16 KV cache.
 * k and v point at the first position's row for this head's KV head; rows
 * are kv_stride elements apart. As in ggml's non-flash path, q is rounded to
 * fp16 before q.k, scores are scaled by `scale`, softmaxed in float, and the
 * probabilities rounded to fp16 before weighting v; sums are float.
 * scratch holds n_pos floats; out holds head_dim floats.
 *
 * The products follow the order llama.cpp takes for a ubatch of one token
 * (ggml_vec_dot_f16); asth_attention_head_batched follows the order it
 * takes for two tokens or more (llamafile's tinyBLAS). Results differ in
 * the last bits only; see Kernels/CPU/NUMERICS.md.
 */
void asth_attention_head(const float *q, const asth_f16 *k, const asth_f16 *v,
                         int64_t kv_stride, int64_t n_pos, int64_t head_dim, float scale,
                         float *scratch, float *out);

/* asth_attention_head in llama.cpp's order for a ubatch of several tokens:
 * use it for every row of a dispatch that carries two rows or more. */
void asth_attention_head_batched(const float *q, const asth_f16 *k, const asth_f16 *v,
                                 int64_t kv_stride, int64_t n_pos, int64_t head_dim,
                                 float scale, float *scratch, float *out);

/* Attention of n_group query heads that share one KV head (grouped-query
 * attention): q and out hold the heads head_dim apart, scratch holds
 * n_group × n_pos floats; batched picks the order of several tokens. Each
 * head's numbers are asth_attention_head's (or _batched's); the heads read
 * each key and value once between them. */
void asth_attention_group(const float *q, int64_t n_group, const asth_f16 *k,
                          const asth_f16 *v, int64_t kv_stride, int64_t n_pos,
                          int64_t head_dim, float scale, int batched, float *scratch,
                          float *out);

/* Converts n floats to fp16 (for writing the KV cache). */
void asth_f32_to_f16_row(const float *x, asth_f16 *y, int64_t n);

/* ---- Thread pool ------------------------------------------------------- */

typedef struct asth_pool asth_pool;

/* A task run on every thread of the pool: thread_index in [0, thread_count). */
typedef void (*asth_task)(void *context, int thread_index, int thread_count);

/* A persistent pool of n_threads (the caller counts as one; n_threads >= 1).
 * NULL when n_threads < 1 or threads cannot be created. */
asth_pool *asth_pool_create(int n_threads);
void asth_pool_destroy(asth_pool *pool);
int asth_pool_size(const asth_pool *pool);

/* Runs task once for every index in [0, thread_count), on whichever
 * threads are free (the caller's included; a thread may run several
 * indices one after another), and returns when all have finished. Workers
 * spin briefly between runs, then sleep. Not reentrant: one run at a time
 * per pool. */
void asth_pool_run(asth_pool *pool, asth_task task, void *context);

/* asth_matmul over all rows [0, n_out), split by rows across the pool. */
void asth_pool_matmul(asth_pool *pool, asth_type type, const void *w, int64_t n_in,
                      int64_t n_out, const void *x, int64_t x_stride_bytes, int64_t n_batch,
                      float *out, int64_t out_stride);

/* One matmul of a pool run: asth_pool_matmul's arguments. */
typedef struct {
    asth_type type;
    const void *w;
    int64_t n_in;
    int64_t n_out;
    const void *x;
    int64_t x_stride_bytes;
    int64_t n_batch;
    float *out;
    int64_t out_stride;
} asth_matmul_job;

/* Independent matmuls (say Q, K and V of one input) in one pool run, their
 * rows split across the pool together: one wait instead of n_jobs. */
void asth_pool_matmuls(asth_pool *pool, const asth_matmul_job *jobs, int n_jobs);

/* gate and up (equal n_out, n_batch and out_stride), then for each batch
 * row b: out[b·out_stride + i] = silu(gate)·up (asth_silu_mul's numbers),
 * in one pool run. out may alias gate's or up's output. */
void asth_pool_swiglu(asth_pool *pool, const asth_matmul_job *gate, const asth_matmul_job *up,
                      float *out);

/* One row of a pool attention run: a token's query heads over its
 * sequence's cache. */
typedef struct {
    const float *q;     /* n_heads query heads, head_dim apart */
    const asth_f16 *k;  /* the layer's keys: position 0, KV head 0 */
    const asth_f16 *v;  /* the layer's values, likewise */
    int64_t n_pos;      /* positions attended: the token's position + 1 */
    int batched;        /* the order of several tokens (asth_attention_head_batched) */
    float *out;         /* n_heads × head_dim */
} asth_attention_row;

/*
 * Attention of every row's heads (n_heads per row, n_kv_heads sharing
 * keys and values in equal groups, kv_stride elements between positions)
 * in one pool run, one KV head's group of a row at a time; the numbers are
 * asth_attention_group's. scratch holds pool size × scratch_per_thread
 * floats, scratch_per_thread at least (n_heads / n_kv_heads) × the largest
 * n_pos.
 */
void asth_pool_attention(asth_pool *pool, const asth_attention_row *rows, int64_t n_rows,
                         int64_t n_heads, int64_t n_kv_heads, int64_t head_dim,
                         int64_t kv_stride, float scale, float *scratch,
                         int64_t scratch_per_thread);

/* ---- Per-variant entry points -------------------------------------------- */

/* The hot ops of one variant, with the signatures of the functions above.
 * The functions above call the current variant's table; tests and
 * benchmarks call a table directly to compare variants side by side. */
typedef struct {
    asth_variant variant;
    void (*quantize_row_q8a)(const float *x, asth_block_q8a *y, int64_t n);
    void (*matmul)(asth_type type, const void *w, int64_t n_in, int64_t row_begin,
                   int64_t row_end, const void *x, int64_t x_stride_bytes, int64_t n_batch,
                   float *out, int64_t out_stride);
    void (*rmsnorm)(const float *x, const float *w, float *out, int64_t n, float eps);
    void (*add)(float *x, const float *y, int64_t n);
    void (*silu_mul)(const float *g, const float *u, float *out, int64_t n);
    void (*softmax)(float *x, int64_t n);
    void (*rope_norm)(float *x, int64_t n_heads, int64_t head_dim, int64_t rope_dims,
                      int64_t pos, float freq_base);
    void (*attention_head)(const float *q, const asth_f16 *k, const asth_f16 *v,
                           int64_t kv_stride, int64_t n_pos, int64_t head_dim, float scale,
                           float *scratch, float *out);
    void (*f32_to_f16_row)(const float *x, asth_f16 *y, int64_t n);
    /* May be NULL: the scalar reference stands in. */
    void (*attention_head_batched)(const float *q, const asth_f16 *k, const asth_f16 *v,
                                   int64_t kv_stride, int64_t n_pos, int64_t head_dim,
                                   float scale, float *scratch, float *out);
    /* May be NULL: the scalar reference stands in. */
    void (*attention_group)(const float *q, int64_t n_group, const asth_f16 *k,
                            const asth_f16 *v, int64_t kv_stride, int64_t n_pos,
                            int64_t head_dim, float scale, int batched, float *scratch,
                            float *out);
} asth_kernel_table;

/* The table of a variant, or NULL when this processor lacks it. */
const asth_kernel_table *asth_kernels_for(asth_variant variant);

#ifdef __cplusplus
}
#endif

#endif /* ASTH_KERNELS_H */
