#include "CKernels.h"

// No contraction of a*b+c into fused multiply-adds: results must equal the Swift loops bit for bit.
#pragma STDC FP_CONTRACT OFF

#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>

int ck_has_avx2(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2");
}

// Scalar round-half-to-even under the default rounding mode.
static inline float ck_round(float u) { return rintf(u); }


__attribute__((target("avx2")))
void ck_fq_forward_avx2(const float *x, float *y, long n, float s, float z, float lo, float hi, int relu, int stream) {
    if (ck_has_avx512()) {
        ck_fq_forward_avx512(x, y, n, s, z, lo, hi, relu, stream);
        return;
    }
    const __m256 vs = _mm256_set1_ps(s), vz = _mm256_set1_ps(z);
    const __m256 vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi), zero = _mm256_setzero_ps();
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        if (relu) v = _mm256_blendv_ps(v, zero, _mm256_cmp_ps(v, zero, _CMP_LT_OQ));
        __m256 u = _mm256_add_ps(_mm256_div_ps(v, vs), vz);
        __m256 q = _mm256_round_ps(u, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        q = _mm256_blendv_ps(q, vhi, _mm256_cmp_ps(q, vhi, _CMP_GT_OQ));
        q = _mm256_blendv_ps(q, vlo, _mm256_cmp_ps(q, vlo, _CMP_LT_OQ));
        _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_sub_ps(q, vz), vs));
    }
    for (; i < n; i++) {
        float xi = relu && x[i] < 0 ? 0 : x[i];
        float q = ck_round(xi / s + z);
        q = q > hi ? hi : q;
        q = q < lo ? lo : q;
        y[i] = (q - z) * s;
    }
}

// Sum of the eight lanes in lane order, as Swift's SIMD8.sum().
__attribute__((target("avx2")))
static inline float ck_lane_sum(__m256 v) {
    float l[8];
    _mm256_storeu_ps(l, v);
    return ((((((l[0] + l[1]) + l[2]) + l[3]) + l[4]) + l[5]) + l[6]) + l[7];
}

__attribute__((target("avx2")))
void ck_fq_backward_avx2(const float *x, const float *g, float *gx, long n, float s, float z, float lo, float hi,
                         int select_clamp, int relu, int stream, double *acc_s, double *acc_z) {
    if (ck_has_avx512()) {
        ck_fq_backward_avx512(x, g, gx, n, s, z, lo, hi, select_clamp, relu, stream, acc_s, acc_z);
        return;
    }
    const __m256 vs = _mm256_set1_ps(s), vz = _mm256_set1_ps(z);
    const __m256 vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi), zero = _mm256_setzero_ps();
    const __m256 sel = select_clamp ? _mm256_castsi256_ps(_mm256_set1_epi32(-1)) : zero;
    double as = 0, az = 0;
    long i = 0;
    while (i + 8 <= n) {
        long chunk_end = i + 1024 < n ? i + 1024 : n;
        __m256 fs = zero, fz = zero;
        for (; i + 8 <= chunk_end; i += 8) {
            __m256 v = _mm256_loadu_ps(x + i);
            __m256 gv = _mm256_loadu_ps(g + i);
            __m256 dead = _mm256_cmp_ps(v, zero, _CMP_LE_OQ);
            if (relu) v = _mm256_blendv_ps(v, zero, _mm256_cmp_ps(v, zero, _CMP_LT_OQ));
            __m256 w = _mm256_div_ps(v, vs);
            __m256 u = _mm256_add_ps(w, vz);
            __m256 r = _mm256_round_ps(u, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            __m256 over = _mm256_cmp_ps(r, vhi, _CMP_GT_OQ), under = _mm256_cmp_ps(r, vlo, _CMP_LT_OQ);
            __m256 q = _mm256_blendv_ps(_mm256_blendv_ps(r, vhi, over), vlo, under);
            __m256 clipped = _mm256_and_ps(_mm256_or_ps(over, under), sel);
            __m256 ww = _mm256_andnot_ps(clipped, w);
            fs = _mm256_add_ps(fs, _mm256_mul_ps(gv, _mm256_sub_ps(_mm256_sub_ps(q, vz), ww)));
            fz = _mm256_add_ps(fz, _mm256_and_ps(clipped, gv));
            if (gx) {
                __m256 kill = relu ? _mm256_or_ps(clipped, dead) : clipped;
                _mm256_storeu_ps(gx + i, _mm256_andnot_ps(kill, gv));
            }
        }
        as += (double)ck_lane_sum(fs);
        az += (double)ck_lane_sum(fz);
    }
    for (; i < n; i++) {
        float gi = g[i];
        float xi = relu && x[i] < 0 ? 0 : x[i];
        float v = xi / s;
        float rq = ck_round(v + z);
        int clipped = select_clamp && (rq > hi || rq < lo);
        float q = rq > hi ? hi : (rq < lo ? lo : rq);
        if (gx) gx[i] = clipped || (relu && !(x[i] > 0)) ? 0 : gi;
        as += (double)(clipped ? gi * (q - z) : gi * ((q - z) - v));
        az += clipped ? (double)gi : 0;
    }
    *acc_s += as;
    *acc_z += az;
}

#endif
