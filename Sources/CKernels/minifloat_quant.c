#include "CKernels.h"

// No contraction of a*b+c into fused multiply-adds: results must equal the Swift loops bit for bit.
#pragma STDC FP_CONTRACT OFF

#if defined(__x86_64__)
#include <immintrin.h>

// The minifloat grid of eight unscaled values `y` (QuantCore/MinifloatQuantize.swift):
//   v = |y| + 2^-126, k = max(exponent(v) - m, min_k), step = 2^k (normal bits, or one
//   subnormal mantissa bit below 2^-126), q = round_half_even(y / step) * step, NaN for a
//   non-finite y. `free_k` gets the lanes where k is not held at min_k; `v_out` gets v.
__attribute__((target("avx2")))
static inline __m256 ck_mf_grid(__m256 y, __m256i vm, __m256i vmink, __m256 *v_out, __m256i *free_k) {
    const __m256i exp_mask = _mm256_set1_epi32(0x7F800000), abs_mask = _mm256_set1_epi32(0x7FFFFFFF);
    const __m256 tiny = _mm256_castsi256_ps(_mm256_set1_epi32(0x00800000));
    const __m256 qnan = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FC00000));
    __m256i yb = _mm256_castps_si256(y);
    __m256i non_finite = _mm256_cmpeq_epi32(_mm256_and_si256(yb, exp_mask), exp_mask);
    __m256 v = _mm256_add_ps(_mm256_castsi256_ps(_mm256_and_si256(yb, abs_mask)), tiny);
    __m256i e = _mm256_sub_epi32(_mm256_srli_epi32(_mm256_castps_si256(v), 23), _mm256_set1_epi32(127));
    __m256i raw = _mm256_sub_epi32(e, vm);
    __m256i k = _mm256_max_epi32(raw, vmink);
    __m256i normal = _mm256_slli_epi32(_mm256_add_epi32(k, _mm256_set1_epi32(127)), 23);
    __m256i sub = _mm256_sllv_epi32(_mm256_set1_epi32(1), _mm256_add_epi32(k, _mm256_set1_epi32(149)));
    __m256i is_sub = _mm256_cmpgt_epi32(_mm256_set1_epi32(-126), k);
    __m256 step = _mm256_castsi256_ps(_mm256_blendv_epi8(normal, sub, is_sub));
    __m256 r = _mm256_round_ps(_mm256_div_ps(y, step), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 q = _mm256_mul_ps(r, step);
    *v_out = v;
    *free_k = _mm256_cmpeq_epi32(raw, k);
    return _mm256_blendv_ps(q, qnan, _mm256_castsi256_ps(non_finite));
}

long ck_mf_forward_avx2(const float *x, const float *s, long s_stride, float *y, long n,
                        int m, int min_k, float max_v, float over, float under) __attribute__((target("avx2")));

long ck_mf_forward_avx2(const float *x, const float *s, long s_stride, float *y, long n,
                        int m, int min_k, float max_v, float over, float under) {
    if (n < 8) return 0;
    const __m256i vm = _mm256_set1_epi32(m), vmink = _mm256_set1_epi32(min_k);
    const __m256 vmax = _mm256_set1_ps(max_v), vmin = _mm256_set1_ps(-max_v);
    const __m256 vover = _mm256_set1_ps(over), vunder = _mm256_set1_ps(under);
    __m256 vs = _mm256_set1_ps(s[0]);
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        if (s_stride) vs = _mm256_loadu_ps(s + i);
        __m256 v;
        __m256i free_k;
        __m256 q = ck_mf_grid(_mm256_div_ps(_mm256_loadu_ps(x + i), vs), vm, vmink, &v, &free_k);
        q = _mm256_blendv_ps(q, vover, _mm256_cmp_ps(q, vmax, _CMP_GT_OQ));
        q = _mm256_blendv_ps(q, vunder, _mm256_cmp_ps(q, vmin, _CMP_LT_OQ));
        _mm256_storeu_ps(y + i, _mm256_mul_ps(q, vs));
    }
    return i;
}

long ck_mf_backward_avx2(const float *x, const float *s, long s_stride, const float *g, float *gx, float *gs,
                         double *acc_s, long n, int m, int min_k, float max_v) __attribute__((target("avx2")));

long ck_mf_backward_avx2(const float *x, const float *s, long s_stride, const float *g, float *gx, float *gs,
                         double *acc_s, long n, int m, int min_k, float max_v) {
    if (n < 8) return 0;
    const __m256i vm = _mm256_set1_epi32(m), vmink = _mm256_set1_epi32(min_k);
    const __m256 vmax = _mm256_set1_ps(max_v), vmin = _mm256_set1_ps(-max_v), zero = _mm256_setzero_ps();
    const __m256 sign = _mm256_castsi256_ps(_mm256_set1_epi32((int)0x80000000u));
    __m256 vs = _mm256_set1_ps(s[0]);
    double acc = acc_s ? *acc_s : 0;
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        if (s_stride) vs = _mm256_loadu_ps(s + i);
        __m256 xv = _mm256_loadu_ps(x + i), gv = _mm256_loadu_ps(g + i);
        __m256 yv = _mm256_div_ps(xv, vs);
        __m256 v;
        __m256i free_k;
        __m256 q = ck_mf_grid(yv, vm, vmink, &v, &free_k);
        // In range: the straight-through round, plus the exponent term where k is free and y != 0:
        // gy = gq + sign(y)·gq·(q − y)/v.
        __m256 gq = _mm256_mul_ps(gv, vs);
        __m256 ga = _mm256_mul_ps(gq, _mm256_sub_ps(q, yv));
        __m256 pos = _mm256_cmp_ps(yv, zero, _CMP_GT_OQ);
        __m256 signed_ga = _mm256_blendv_ps(_mm256_xor_ps(ga, sign), ga, pos);
        __m256 use_exp = _mm256_and_ps(_mm256_castsi256_ps(free_k), _mm256_cmp_ps(yv, zero, _CMP_NEQ_UQ));
        __m256 gy = _mm256_blendv_ps(gq, _mm256_add_ps(gq, _mm256_div_ps(signed_ga, v)), use_exp);
        __m256 gxv = _mm256_div_ps(gy, vs);
        __m256 gsv = _mm256_sub_ps(_mm256_mul_ps(gv, q), _mm256_div_ps(_mm256_mul_ps(gy, xv), _mm256_mul_ps(vs, vs)));
        // Clamped: no gradient to x, the constant ±M to the scale; NaN propagates.
        __m256 hi = _mm256_cmp_ps(q, vmax, _CMP_GT_OQ), lo = _mm256_cmp_ps(q, vmin, _CMP_LT_OQ);
        gxv = _mm256_andnot_ps(_mm256_or_ps(hi, lo), gxv);
        gsv = _mm256_blendv_ps(gsv, _mm256_mul_ps(gv, vmax), hi);
        gsv = _mm256_blendv_ps(gsv, _mm256_mul_ps(gv, vmin), lo);
        __m256 nan = _mm256_cmp_ps(q, q, _CMP_UNORD_Q);
        __m256 gnan = _mm256_mul_ps(gv, q);
        gxv = _mm256_blendv_ps(gxv, gnan, nan);
        gsv = _mm256_blendv_ps(gsv, gnan, nan);
        if (gx) _mm256_storeu_ps(gx + i, gxv);
        if (gs) _mm256_storeu_ps(gs + i, gsv);
        if (acc_s) {
            // In element order, in double: the same sum as the scalar loop.
            float l[8];
            _mm256_storeu_ps(l, gsv);
            for (int j = 0; j < 8; j++) acc += (double)l[j];
        }
    }
    if (acc_s) *acc_s = acc;
    return i;
}

#endif
