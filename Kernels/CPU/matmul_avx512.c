#include "kernels_internal.h"

#if defined(__x86_64__)
#include "simd_x86.h"
ASTH_AVX512 void asth_avx512_matmul(asth_type type, const void *w, int64_t n_in, int64_t row_begin,
                        int64_t row_end, const void *x, int64_t x_stride_bytes,
                        int64_t n_batch, float *out, int64_t out_stride) {
    asth_avx2_matmul(type, w, n_in, row_begin, row_end, x, x_stride_bytes, n_batch, out, out_stride);
}
#endif
