/*
 * AVX-512 attention over an fp16 KV cache: attention_x86.h compiled for
 * AVX-512VL, whose 32 vector registers hold 32 output dimensions per head
 * per pass (the vectors stay 256 bits wide; the numbers are the AVX2
 * variant's and the scalar reference's).
 */
#include "kernels_internal.h"

#if defined(__x86_64__)

#define AT_TARGET ASTH_AVX512
#define AT_NAME(name) asth_avx512_##name
#define AT_OUT_DIMS 32

#include "attention_x86.h"

#endif /* __x86_64__ */
