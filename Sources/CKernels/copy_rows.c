#include "CKernels.h"

// Copies of short rows between strided planes (padding a plane, packing images side by side,
// the Winograd kernels' padded rows). A row of a small feature map is 8 to 64 floats, where a
// memmove call costs more than the copy itself; here a row is a few 8-float vector moves.

#if defined(__x86_64__)
#include <immintrin.h>

static const int ck_rows_tail[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

__attribute__((target("avx2"))) static void copy_rows_avx2(const float *src, long src_stride, float *dst,
                                                             long dst_stride, long rows, long w, long zero_left,
                                                             long zero_right) {
    long full = w & ~7L, r = w - full;
    __m256i m = _mm256_loadu_si256((const __m256i *)(ck_rows_tail + 8 - r));
    for (long y = 0; y < rows; y++, src += src_stride, dst += dst_stride) {
        for (long i = 1; i <= zero_left; i++) dst[-i] = 0;
        for (long i = 0; i < full; i += 8) _mm256_storeu_ps(dst + i, _mm256_loadu_ps(src + i));
        if (r) _mm256_maskstore_ps(dst + full, m, _mm256_maskload_ps(src + full, m));
        for (long i = 0; i < zero_right; i++) dst[w + i] = 0;
    }
}
#endif

void ck_copy_rows(const float *src, long src_stride, float *dst, long dst_stride, long rows, long w, long zero_left,
                  long zero_right) {
#if defined(__x86_64__)
    if (ck_has_avx2()) {
        copy_rows_avx2(src, src_stride, dst, dst_stride, rows, w, zero_left, zero_right);
        return;
    }
#endif
    for (long y = 0; y < rows; y++, src += src_stride, dst += dst_stride) {
        for (long i = 1; i <= zero_left; i++) dst[-i] = 0;
        for (long i = 0; i < w; i++) dst[i] = src[i];
        for (long i = 0; i < zero_right; i++) dst[w + i] = 0;
    }
}
