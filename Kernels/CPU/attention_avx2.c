/*
 * AVX2+FMA attention over an fp16 KV cache: attention_x86.h with AVX2's
 * 16 registers (16 output dimensions per head per pass).
 */
#include "kernels_internal.h"

#if defined(__x86_64__)

#define AT_TARGET ASTH_AVX2
#define AT_NAME(name) asth_avx2_##name
#define AT_OUT_DIMS 16

#include "attention_x86.h"

#endif /* __x86_64__ */
