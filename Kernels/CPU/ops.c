/*
 * Scalar reference for the element-wise and normalisation ops.
 *
 * Each follows, float operation by float operation, the ggml CPU op that
 * llama.cpp runs for it (ggml-cpu/ops.cpp, vec.cpp, vec.h, as built by GCC
 * for AVX-512); NUMERICS.md gives the order of every op.
 */
#include "kernels_internal.h"

#pragma STDC FP_CONTRACT OFF

/*
 * ggml_compute_forward_rms_norm_f32 then the separate MUL by the weight:
 * squares rounded to float and summed in double in index order, the mean
 * rounded to float, scale = 1 / sqrtf(mean + eps), then (x·scale)·w.
 */
void asth_scalar_rmsnorm(const float *x, const float *w, float *out, int64_t n, float eps) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)(x[i] * x[i]);
    float mean = (float)(sum / (double)n);
    float scale = 1.0f / sqrtf(mean + eps);
    for (int64_t i = 0; i < n; i++) out[i] = (x[i] * scale) * w[i];
}

void asth_scalar_add(float *x, const float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] += y[i];
}

/*
 * ggml_vec_swiglu_f32 over one row: whole groups of 16 take the vector
 * silu (asth_ggml_silu), the tail takes libm's expf, as ggml's scalar
 * tail does. Callers pass one row at a time: the groups start at the row.
 */
void asth_scalar_silu_mul(const float *g, const float *u, float *out, int64_t n) {
    int64_t n_vector = n - n % ASTH_LANES_16;
    for (int64_t i = 0; i < n_vector; i++) out[i] = asth_ggml_silu(g[i]) * u[i];
    for (int64_t i = n_vector; i < n; i++) {
        float silu = g[i] / (1.0f + expf(-g[i]));
        out[i] = silu * u[i];
    }
}

/*
 * ggml_vec_soft_max_f32: e^(x − max) for whole groups of 16 with the
 * vector exp, each group's values summed in the 16-lane tree and added to
 * a double; the tail with libm's expf, added to the double one by one.
 * Returns the double sum. When pad_tail is set the tail is taken as one
 * more group whose missing lanes are zero: that is what ggml computes
 * over a row padded with −inf (attention over a padded KV cache).
 */
double asth_scalar_softmax_exp(float *x, int64_t n, float max, int pad_tail) {
    double sum = 0.0;
    int64_t i = 0;
    for (; i + ASTH_LANES_16 <= n || (pad_tail && i < n); i += ASTH_LANES_16) {
        float lanes[ASTH_LANES_16] = {0};
        for (int64_t l = 0; l < ASTH_LANES_16 && i + l < n; l++) {
            lanes[l] = asth_ggml_expf(x[i + l] - max);
            x[i + l] = lanes[l];
        }
        sum += (double)asth_sum_tree16(lanes);
    }
    for (; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += (double)x[i];
    }
    return sum;
}

/* ggml_compute_forward_soft_max_f32 without scale or mask: the inverse of
 * the double sum is rounded to float, then multiplies every value. */
void asth_scalar_softmax(float *x, int64_t n) {
    float max = -INFINITY;
    for (int64_t i = 0; i < n; i++) max = fmaxf(max, x[i]);

    double sum = asth_scalar_softmax_exp(x, n, max, 0);

    float inverse = (float)(1.0 / sum);
    for (int64_t i = 0; i < n; i++) x[i] *= inverse;
}

/*
 * ggml_compute_forward_rope_f32, normal mode, freq_scale 1, no YaRN:
 * theta_i = pos · base^(−2i/rope_dims), built by repeated float
 * multiplication as ggml's rope cache does, libm cosf and sinf, and the
 * rotation as GCC contracts it: x0·cos − x1·sin becomes
 * fma(x0, cos, −(x1·sin)) and x0·sin + x1·cos becomes fma(x0, sin, x1·cos).
 */
void asth_scalar_rope_norm(float *x, int64_t n_heads, int64_t head_dim, int64_t rope_dims,
                           int64_t pos, float freq_base) {
    float theta_scale = powf(freq_base, -2.0f / (float)rope_dims);
    float theta = (float)pos;
    for (int64_t i = 0; i < rope_dims; i += 2) {
        float cos_theta = cosf(theta);
        float sin_theta = sinf(theta);

        /* The same pair (i, i + 1) of every head turns by theta. */
        for (int64_t h = 0; h < n_heads; h++) {
            float *pair = x + h * head_dim + i;
            float x0 = pair[0];
            float x1 = pair[1];
            pair[0] = fmaf(x0, cos_theta, -(x1 * sin_theta));
            pair[1] = fmaf(x0, sin_theta, x1 * cos_theta);
        }
        theta *= theta_scale;
    }
}

/* The angles of asth_scalar_rope_norm, in its order, once per position. */
void asth_rope_angles(int64_t rope_dims, int64_t pos, float freq_base, float *cos_sin) {
    float theta_scale = powf(freq_base, -2.0f / (float)rope_dims);
    float theta = (float)pos;
    for (int64_t i = 0; i < rope_dims; i += 2) {
        cos_sin[i] = cosf(theta);
        cos_sin[i + 1] = sinf(theta);
        theta *= theta_scale;
    }
}

/* The rotation of asth_scalar_rope_norm with angles made beforehand. */
void asth_rope_turn(float *x, int64_t n_heads, int64_t head_dim, int64_t rope_dims,
                    const float *cos_sin) {
    for (int64_t h = 0; h < n_heads; h++) {
        float *head = x + h * head_dim;
        for (int64_t i = 0; i < rope_dims; i += 2) {
            float x0 = head[i];
            float x1 = head[i + 1];
            head[i] = fmaf(x0, cos_sin[i], -(x1 * cos_sin[i + 1]));
            head[i + 1] = fmaf(x0, cos_sin[i + 1], x1 * cos_sin[i]);
        }
    }
}
