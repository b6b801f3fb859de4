#include "CKernels.h"

// No contraction of a*b+c into fused multiply-adds: results must equal the composed tensor
// operations (QuantCore/GroupwiseScaling.swift, FakeQuantize.swift) bit for bit.
#pragma STDC FP_CONTRACT OFF

#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>

// The first index of the largest |x_j| of a group, as `Tensor.max(dim:)` of `abs()` finds it:
// the first maximum, or the first NaN (which then is the statistic). Writes the statistic to `*m`.
__attribute__((target("avx2")))
static inline long ck_mx_absmax(const float *x, long n, float *m) {
    const __m256 mag = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 vmax = _mm256_setzero_ps(), vnan = _mm256_setzero_ps();
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 a = _mm256_and_ps(_mm256_loadu_ps(x + i), mag);
        vnan = _mm256_or_ps(vnan, _mm256_cmp_ps(a, a, _CMP_UNORD_Q));
        vmax = _mm256_max_ps(vmax, a);
    }
    float l[8];
    _mm256_storeu_ps(l, vmax);
    float best = 0;
    for (int k = 0; k < 8; k++) best = l[k] > best ? l[k] : best;
    int nan = _mm256_movemask_ps(vnan) != 0;
    for (long j = i; j < n; j++) {
        float a = fabsf(x[j]);
        if (a != a) nan = 1;
        else if (a > best) best = a;
    }
    if (nan) {
        for (long j = 0; j < n; j++) {
            float a = fabsf(x[j]);
            if (a != a) { *m = a; return j; }
        }
    }
    *m = best;
    const __m256 vb = _mm256_set1_ps(best);
    for (i = 0; i + 8 <= n; i += 8) {
        __m256 a = _mm256_and_ps(_mm256_loadu_ps(x + i), mag);
        int hit = _mm256_movemask_ps(_mm256_cmp_ps(a, vb, _CMP_EQ_OQ));
        if (hit) return i + __builtin_ctz((unsigned)hit);
    }
    for (; i < n; i++)
        if (fabsf(x[i]) == best) return i;
    return 0;  // unreachable: `best` is one of the |x_j| (or 0 for an empty tail, n > 0)
}

// Brevitas's minimum scale (`signedClampMin`, QuantCore/Restrict.swift) on the statistic m >= 0
// (or NaN): sign(m) · max(|m|, min_val) with sign = m >= 0 ? 1 : -1; m itself when min_val is 0.
static inline float ck_mx_clamp_min(float m, float min_val) {
    if (min_val == 0) return m;
    float sign = m >= 0 ? 1.0f : -1.0f;
    float a = fabsf(m);
    float c = a != a ? a : (min_val >= a ? min_val : a);
    return sign * c;
}

// The gradient reaching the statistic m = |x_j| from the gradient `gs` of the scale
// s = p / t, p = 2^floor(log2 c), c = ck_mx_clamp_min(m) (straight-through floor and clamp):
// the backward of each composed operation (div, exp2, floor_ste, log2, then for a minimum the
// product with the sign and abs_binary_sign_grad), in the graph's order and with its formulas.
static inline float ck_mx_stat_grad(float gs, float t, float ln2, float min_val, float m, float p) {
    float g1 = gs / t;
    float g2 = g1 * (p * ln2);
    float c = ck_mx_clamp_min(m, min_val);
    float g3 = g2 * (1 / (c * ln2));
    if (min_val == 0) return g3;
    float g4 = g3 * (m >= 0 ? 1.0f : -1.0f);
    float lt = m < 0 ? 1.0f : 0.0f;
    float g5 = (g4 * lt) * -2.0f;
    return g5 + g4;
}

__attribute__((target("avx2")))
void ck_mx_int_forward_avx2(const float *x, float *y, long groups, long group_size, float t, float min_val, float lo,
                            float hi, float *scale, float *stat, float *pow2, int *index) {
    for (long k = 0; k < groups; k++) {
        const float *xg = x + k * group_size;
        float m;
        long j = ck_mx_absmax(xg, group_size, &m);
        float c = ck_mx_clamp_min(m, min_val);
        float p = exp2f(floorf(log2f(c)));
        float s = p / t;
        ck_fq_forward_avx2(xg, y + k * group_size, group_size, s, 0, lo, hi, 0, 0);
        scale[k] = s;
        stat[k] = m;
        pow2[k] = p;
        index[k] = (int)j;
    }
}

void ck_mx_scale_grad(const float *x, const float *gs, float *gx, long groups, long group_size, float t, float ln2,
                      float min_val, const float *stat, const float *pow2, const int *index) {
    for (long k = 0; k < groups; k++) {
        float *gxg = gx + k * group_size;
        const float *xg = x + k * group_size;
        float g3 = ck_mx_stat_grad(gs[k], t, ln2, min_val, stat[k], pow2[k]);
        long j = index[k];
        for (long i = 0; i < group_size; i++) {
            // `abs` backward of the max's scatter: ±g at the maximum, a signed zero elsewhere.
            float c = i == j ? g3 : 0.0f;
            float xi = xg[i];
            gxg[i] = xi > 0 ? c : (xi < 0 ? -c : 0.0f);
        }
    }
}

__attribute__((target("avx2")))
void ck_mx_int_backward_avx2(const float *x, const float *g, float *gx, long groups, long group_size, float t,
                             float ln2, float min_val, float lo, float hi, int select_clamp, const float *scale,
                             const float *stat, const float *pow2, const int *index) {
    const __m256 zero = _mm256_setzero_ps(), negzero = _mm256_set1_ps(-0.0f);
    for (long k = 0; k < groups; k++) {
        const long o = k * group_size;
        double acc_s = 0, acc_z = 0;
        ck_fq_backward_avx2(x + o, g + o, gx + o, group_size, scale[k], 0, lo, hi, select_clamp, 0, 0, &acc_s, &acc_z);
        // FakeQuantize's per-channel reduction: a double sum from 0, then a float.
        double sum = 0;
        sum += acc_s;
        float g3 = ck_mx_stat_grad((float)sum, t, ln2, min_val, stat[k], pow2[k]);
        // The statistic's gradient is added to the quantizer's: a signed zero (-0 where x < 0,
        // +0 elsewhere) except at the maximum, where it is ±g3 (0 where x is 0 or NaN).
        const long j = index[k];
        const float at_j = gx[o + j];
        long i = 0;
        for (; i + 8 <= group_size; i += 8) {
            __m256 neg = _mm256_cmp_ps(_mm256_loadu_ps(x + o + i), zero, _CMP_LT_OQ);
            __m256 c = _mm256_and_ps(neg, negzero);
            _mm256_storeu_ps(gx + o + i, _mm256_add_ps(_mm256_loadu_ps(gx + o + i), c));
        }
        for (; i < group_size; i++) gx[o + i] = gx[o + i] + (x[o + i] < 0 ? -0.0f : 0.0f);
        const float xj = x[o + j];
        gx[o + j] = at_j + (xj > 0 ? g3 : (xj < 0 ? -g3 : 0.0f));
    }
}

#endif
