// The Winograd F(2x2, 3x3) transforms of winograd.c built for AVX-512VL (32 vector registers):
// winograd.c's AVX2 entry points call these where the processor has it. Same source, same
// instructions, identical results.
#if defined(__x86_64__)
#define CK_WINO_VARIANT 1
#define CK_WINO_TARGET __attribute__((target("avx2,avx512f,avx512vl")))
#define CK_WINO_NAME(f) f##_avx512
#include "winograd.c"
#endif
