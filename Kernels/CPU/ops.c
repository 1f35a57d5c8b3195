/*
 * Scalar reference for the element-wise and normalisation ops.
 *
 * Each follows the ggml CPU op llama.cpp runs for it (ggml-cpu/ops.cpp,
 * vec.h): rms_norm sums squares in double then multiplies by the norm
 * weight as a separate step; soft_max sums exponentials in double; rope
 * builds its angles by repeated multiplication, as ggml's rope cache does.
 */
#include "kernels_internal.h"

#include <math.h>

#pragma STDC FP_CONTRACT OFF

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

void asth_scalar_silu_mul(const float *g, const float *u, float *out, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float silu = g[i] / (1.0f + expf(-g[i]));
        out[i] = silu * u[i];
    }
}

void asth_scalar_softmax(float *x, int64_t n) {
    float max = -INFINITY;
    for (int64_t i = 0; i < n; i++) max = fmaxf(max, x[i]);

    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += (double)x[i];
    }

    float inverse = (float)(1.0 / sum);
    for (int64_t i = 0; i < n; i++) x[i] *= inverse;
}

void asth_scalar_rope_norm(float *x, int64_t n_heads, int64_t head_dim, int64_t rope_dims,
                           int64_t pos, float freq_base) {
    /* theta_i = pos · base^(−2i/rope_dims), by repeated multiplication. */
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
            pair[0] = x0 * cos_theta - x1 * sin_theta;
            pair[1] = x0 * sin_theta + x1 * cos_theta;
        }
        theta *= theta_scale;
    }
}
