#include "CKernels.h"

#if defined(__x86_64__)
// __builtin_cpu_supports also checks that the operating system saves the wider registers
// (XGETBV), so a "yes" means the instructions can run here.
int ck_vector_level(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512bw")
        && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        return 2;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
    return 0;
}

int ck_has_avx512(void) {
    static int level = -1;
    int l = __atomic_load_n(&level, __ATOMIC_RELAXED);
    if (l < 0) {
        l = ck_vector_level() == 2;
        __atomic_store_n(&level, l, __ATOMIC_RELAXED);
    }
    return l;
}
#endif
