/*
 * Variant selection and the public entry points.
 *
 * Each variant is a table of functions; the public functions call the
 * current table. The choice is made once, on first use, from ASTH_KERNELS
 * and what the processor reports, and asth_variant_set may change it
 * later (between runs, not during one).
 */
#include "kernels_internal.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static const asth_kernel_table scalar_table = {
    .variant = ASTH_VARIANT_SCALAR,
    .quantize_row_q8a = asth_scalar_quantize_row_q8a,
    .matmul = asth_scalar_matmul,
    .rmsnorm = asth_scalar_rmsnorm,
    .add = asth_scalar_add,
    .silu_mul = asth_scalar_silu_mul,
    .softmax = asth_scalar_softmax,
    .rope_norm = asth_scalar_rope_norm,
    .attention_head = asth_scalar_attention_head,
    .f32_to_f16_row = asth_scalar_f32_to_f16_row,
    .attention_head_batched = asth_scalar_attention_head_batched,
    .attention_group = asth_scalar_attention_group,
};

#if defined(__x86_64__)
/* Every op a variant overrides computes the scalar reference's bits
 * (NUMERICS.md). The others are the reference itself: rmsnorm sums its
 * squares in double in index order, one dependent add after another, so a
 * vector form gains nothing; rope spends its time in libm's cosf and
 * sinf, which it must call; add is one pass the compiler vectorises. */
static const asth_kernel_table avx2_table = {
    .variant = ASTH_VARIANT_AVX2,
    .quantize_row_q8a = asth_avx2_quantize_row_q8a,
    .matmul = asth_avx2_matmul,
    .rmsnorm = asth_scalar_rmsnorm,
    .add = asth_scalar_add,
    .silu_mul = asth_avx2_silu_mul,
    .softmax = asth_avx2_softmax,
    .rope_norm = asth_scalar_rope_norm,
    .attention_head = asth_avx2_attention_head,
    .f32_to_f16_row = asth_avx2_f32_to_f16_row,
    .attention_head_batched = asth_avx2_attention_head_batched,
    .attention_group = asth_avx2_attention_group,
};

/* AVX-512 changes the matmul (VNNI integer sums, wider float tiles) and
 * attention (32 registers hold wider passes); the other ops are
 * memory-bound at these widths and keep their AVX2 form. */
static const asth_kernel_table avx512_table = {
    .variant = ASTH_VARIANT_AVX512,
    .quantize_row_q8a = asth_avx2_quantize_row_q8a,
    .matmul = asth_avx512_matmul,
    .rmsnorm = asth_scalar_rmsnorm,
    .add = asth_scalar_add,
    .silu_mul = asth_avx2_silu_mul,
    .softmax = asth_avx2_softmax,
    .rope_norm = asth_scalar_rope_norm,
    .attention_head = asth_avx512_attention_head,
    .f32_to_f16_row = asth_avx2_f32_to_f16_row,
    .attention_head_batched = asth_avx512_attention_head_batched,
    .attention_group = asth_avx512_attention_group,
};

static bool has_avx2(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
           __builtin_cpu_supports("f16c");
}

static bool has_avx512(void) {
    return has_avx2() && __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512vnni");
}
#endif

/* ---- Variant selection ------------------------------------------------- */

const asth_kernel_table *asth_kernels_for(asth_variant variant) {
    switch (variant) {
    case ASTH_VARIANT_SCALAR: return &scalar_table;
#if defined(__x86_64__)
    case ASTH_VARIANT_AVX2: return has_avx2() ? &avx2_table : NULL;
    case ASTH_VARIANT_AVX512: return has_avx512() ? &avx512_table : NULL;
#endif
    default: return NULL;
    }
}

asth_variant asth_variant_best(void) {
    if (asth_kernels_for(ASTH_VARIANT_AVX512) != NULL) return ASTH_VARIANT_AVX512;
    if (asth_kernels_for(ASTH_VARIANT_AVX2) != NULL) return ASTH_VARIANT_AVX2;
    return ASTH_VARIANT_SCALAR;
}

const char *asth_variant_name(asth_variant variant) {
    switch (variant) {
    case ASTH_VARIANT_SCALAR: return "scalar";
    case ASTH_VARIANT_AVX2: return "avx2";
    case ASTH_VARIANT_AVX512: return "avx512";
    }
    return "unknown";
}

/* The variant used when ASTH_KERNELS does not name one: the fastest that
 * reproduces llama.cpp bit for bit (NUMERICS.md). Every variant does, so
 * that is the fastest this processor runs. */
asth_variant asth_variant_default(void) { return asth_variant_best(); }

asth_variant asth_variant_select(const char *name) {
    static const asth_variant all[] = {
        ASTH_VARIANT_SCALAR, ASTH_VARIANT_AVX2, ASTH_VARIANT_AVX512};
    for (size_t i = 0; name != NULL && i < sizeof all / sizeof all[0]; i++) {
        if (strcmp(name, asth_variant_name(all[i])) != 0) continue;
        if (asth_kernels_for(all[i]) != NULL) return all[i];
    }
    return asth_variant_default();
}

/* The table in use; NULL until the first call chooses one. */
static _Atomic(const asth_kernel_table *) current_table_pointer = NULL;

static const asth_kernel_table *current_table(void) {
    const asth_kernel_table *table =
        atomic_load_explicit(&current_table_pointer, memory_order_acquire);
    if (table != NULL) return table;

    /* Racing first calls all pick the same table, so either store wins. */
    table = asth_kernels_for(asth_variant_select(getenv("ASTH_KERNELS")));
    atomic_store_explicit(&current_table_pointer, table, memory_order_release);
    return table;
}

/* Only the AVX-512 variant reads panels: its integer products take 16
 * rows per vector (matmul_avx512.c). */
int asth_variant_packs_weights(asth_variant variant) {
    return variant == ASTH_VARIANT_AVX512;
}

asth_variant asth_variant_current(void) { return current_table()->variant; }

int asth_variant_set(asth_variant variant) {
    const asth_kernel_table *table = asth_kernels_for(variant);
    if (table == NULL) return -1;
    atomic_store_explicit(&current_table_pointer, table, memory_order_release);
    return 0;
}

/* ---- Public entry points ------------------------------------------------ */

void asth_quantize_row_q8a(const float *x, asth_block_q8a *y, int64_t n) {
    current_table()->quantize_row_q8a(x, y, n);
}

void asth_matmul(asth_type type, const void *w, int64_t n_in, int64_t row_begin,
                 int64_t row_end, const void *x, int64_t x_stride_bytes, int64_t n_batch,
                 float *out, int64_t out_stride) {
    current_table()->matmul(type, w, n_in, row_begin, row_end, x, x_stride_bytes, n_batch,
                            out, out_stride);
}

void asth_rmsnorm(const float *x, const float *w, float *out, int64_t n, float eps) {
    current_table()->rmsnorm(x, w, out, n, eps);
}

void asth_add(float *x, const float *y, int64_t n) { current_table()->add(x, y, n); }

void asth_silu_mul(const float *g, const float *u, float *out, int64_t n) {
    current_table()->silu_mul(g, u, out, n);
}

void asth_softmax(float *x, int64_t n) { current_table()->softmax(x, n); }

void asth_rope_norm(float *x, int64_t n_heads, int64_t head_dim, int64_t rope_dims,
                    int64_t pos, float freq_base) {
    current_table()->rope_norm(x, n_heads, head_dim, rope_dims, pos, freq_base);
}

void asth_attention_head(const float *q, const asth_f16 *k, const asth_f16 *v,
                         int64_t kv_stride, int64_t n_pos, int64_t head_dim, float scale,
                         float *scratch, float *out) {
    current_table()->attention_head(q, k, v, kv_stride, n_pos, head_dim, scale, scratch, out);
}

void asth_attention_head_batched(const float *q, const asth_f16 *k, const asth_f16 *v,
                                 int64_t kv_stride, int64_t n_pos, int64_t head_dim,
                                 float scale, float *scratch, float *out) {
    const asth_kernel_table *table = current_table();
    if (table->attention_head_batched == NULL) table = &scalar_table;
    table->attention_head_batched(q, k, v, kv_stride, n_pos, head_dim, scale, scratch, out);
}

void asth_attention_group(const float *q, int64_t n_group, const asth_f16 *k,
                          const asth_f16 *v, int64_t kv_stride, int64_t n_pos,
                          int64_t head_dim, float scale, int batched, float *scratch,
                          float *out) {
    const asth_kernel_table *table = current_table();
    if (table->attention_group == NULL) table = &scalar_table;
    table->attention_group(q, n_group, k, v, kv_stride, n_pos, head_dim, scale, batched,
                           scratch, out);
}

void asth_f32_to_f16_row(const float *x, asth_f16 *y, int64_t n) {
    current_table()->f32_to_f16_row(x, y, n);
}
