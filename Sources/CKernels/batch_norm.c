#include "CKernels.h"

// The per-plane loops of training BatchNorm (TensorEngine/Tensor+BatchNorm.swift,
// `BatchNormKernels`) and of BatchNorm + ReLU + activation fake quantization in one op
// (Tensor+BatchNormQuant.swift, `BatchNormQuantKernels`), on AVX2 and, where the processor has it,
// AVX-512 vectors.
//
// Results are bit for bit those of the Swift loops: every element goes through the same IEEE
// operations (no fused multiply-adds, exact division), and every sum keeps the Swift order. That
// order is 8 float lanes, lane j adding elements j, j+8, j+16, ... of the plane in turn, then the
// lanes added in lane order (SIMD8.sum()), then the tail (the last s % 8 elements) one by one; the
// fused backward's quantizer sums are flushed to double every 1024 elements. A 16-float AVX-512
// step adds its low half and then its high half to the same 8 lanes, which is exactly two 8-float
// steps: AVX-512 halves the element-wise work, not the chain of additions. The element-wise
// AVX-512 kernels do whole 16-lane blocks only and return where they stopped; the AVX2 loop and
// the scalar tail of the same function finish the plane.
//
// Rounding is `_mm*_round_ps` to nearest even (the unfused fake-quantization kernels of
// fake_quant.c use it too); the Swift vector loop rounds with the 1.5·2^23 trick below 2^22 in
// magnitude and keeps larger values, which differs only for codes of 2^22 and more.

#pragma STDC FP_CONTRACT OFF

#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>

#define CK_BN256 __attribute__((target("avx2")))
#define CK_BN512 __attribute__((target("avx2,avx512f,avx512vl,avx512dq")))


// Sum of the eight lanes in lane order, as Swift's SIMD8.sum().
CK_BN256
static inline float ck_bn_lanes(__m256 v) {
    float l[8];
    _mm256_storeu_ps(l, v);
    return ((((((l[0] + l[1]) + l[2]) + l[3]) + l[4]) + l[5]) + l[6]) + l[7];
}

// acc += low half of v, then acc += high half (two 8-float steps in order).
CK_BN512
static inline __m256 ck_bn_add2(__m256 acc, __m512 v) {
    acc = _mm256_add_ps(acc, _mm512_castps512_ps256(v));
    return _mm256_add_ps(acc, _mm512_extractf32x8_ps(v, 1));
}

// MARK: - Statistics

CK_BN256
float ck_bn_sum(const float *p, long s) {
    __m256 a = _mm256_setzero_ps();
    long j = 0;
    for (; j + 8 <= s; j += 8) a = _mm256_add_ps(a, _mm256_loadu_ps(p + j));
    float total = ck_bn_lanes(a);
    for (; j < s; j++) total += p[j];
    return total;
}

CK_BN256
float ck_bn_squared_deviations(const float *p, long s, float mu) {
    const __m256 vm = _mm256_set1_ps(mu);
    __m256 a = _mm256_setzero_ps();
    long j = 0;
    for (; j + 8 <= s; j += 8) {
        __m256 d = _mm256_sub_ps(_mm256_loadu_ps(p + j), vm);
        a = _mm256_add_ps(a, _mm256_mul_ps(d, d));
    }
    float total = ck_bn_lanes(a);
    for (; j < s; j++) {
        float d = p[j] - mu;
        total += d * d;
    }
    return total;
}

// MARK: - BatchNorm (optionally with ReLU)

CK_BN512
static long ck_bn_affine512(const float *src, float *dst, long s, float scale, float shift, int relu) {
    const __m512 vs = _mm512_set1_ps(scale), vt = _mm512_set1_ps(shift), zero = _mm512_setzero_ps();
    long j = 0;
    for (; j + 16 <= s; j += 16) {
        __m512 y = _mm512_add_ps(_mm512_mul_ps(_mm512_loadu_ps(src + j), vs), vt);
        if (relu) y = _mm512_mask_mov_ps(y, _mm512_cmp_ps_mask(y, zero, _CMP_LE_OQ), zero);
        _mm512_storeu_ps(dst + j, y);
    }
    return j;
}

CK_BN256
void ck_bn_affine(const float *src, float *dst, long s, float scale, float shift, int relu) {
    const __m256 vs = _mm256_set1_ps(scale), vt = _mm256_set1_ps(shift), zero = _mm256_setzero_ps();
    long j = ck_has_avx512() ? ck_bn_affine512(src, dst, s, scale, shift, relu) : 0;  // 16-lane blocks there
    for (; j + 8 <= s; j += 8) {
        __m256 y = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(src + j), vs), vt);
        if (relu) y = _mm256_andnot_ps(_mm256_cmp_ps(y, zero, _CMP_LE_OQ), y);  // NaN stays NaN
        _mm256_storeu_ps(dst + j, y);
    }
    for (; j < s; j++) {
        float y = src[j] * scale + shift;
        dst[j] = !relu || y > 0 || isnan(y) ? y : 0;
    }
}

CK_BN512
static void ck_bn_gradient_sums512(const float *g, const float *x, const float *y, long s, float mu, float *sum_g,
                                   float *sum_gx) {
    const __m512 vm = _mm512_set1_ps(mu), zero = _mm512_setzero_ps();
    __m256 a = _mm256_setzero_ps(), b = _mm256_setzero_ps();
    long j = 0;
    for (; j + 16 <= s; j += 16) {
        __m512 gv = _mm512_loadu_ps(g + j);
        if (y) gv = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(_mm512_loadu_ps(y + j), zero, _CMP_GT_OQ), gv);
        a = ck_bn_add2(a, gv);
        b = ck_bn_add2(b, _mm512_mul_ps(gv, _mm512_sub_ps(_mm512_loadu_ps(x + j), vm)));
    }
    if (j + 8 <= s) {
        __m256 gv = _mm256_loadu_ps(g + j);
        if (y) gv = _mm256_and_ps(_mm256_cmp_ps(_mm256_loadu_ps(y + j), _mm256_setzero_ps(), _CMP_GT_OQ), gv);
        a = _mm256_add_ps(a, gv);
        b = _mm256_add_ps(b, _mm256_mul_ps(gv, _mm256_sub_ps(_mm256_loadu_ps(x + j), _mm512_castps512_ps256(vm))));
        j += 8;
    }
    float sa = ck_bn_lanes(a), sb = ck_bn_lanes(b);
    for (; j < s; j++) {
        float gv = !y || y[j] > 0 ? g[j] : 0;
        sa += gv;
        sb += gv * (x[j] - mu);
    }
    *sum_g = sa;
    *sum_gx = sb;
}

CK_BN256
void ck_bn_gradient_sums(const float *g, const float *x, const float *y, long s, float mu, float *sum_g, float *sum_gx) {
    if (ck_has_avx512()) {
        ck_bn_gradient_sums512(g, x, y, s, mu, sum_g, sum_gx);
        return;
    }
    const __m256 vm = _mm256_set1_ps(mu), zero = _mm256_setzero_ps();
    __m256 a = zero, b = zero;
    long j = 0;
    for (; j + 8 <= s; j += 8) {
        __m256 gv = _mm256_loadu_ps(g + j);
        if (y) gv = _mm256_and_ps(_mm256_cmp_ps(_mm256_loadu_ps(y + j), zero, _CMP_GT_OQ), gv);
        a = _mm256_add_ps(a, gv);
        b = _mm256_add_ps(b, _mm256_mul_ps(gv, _mm256_sub_ps(_mm256_loadu_ps(x + j), vm)));
    }
    float sa = ck_bn_lanes(a), sb = ck_bn_lanes(b);
    for (; j < s; j++) {
        float gv = !y || y[j] > 0 ? g[j] : 0;
        sa += gv;
        sb += gv * (x[j] - mu);
    }
    *sum_g = sa;
    *sum_gx = sb;
}

CK_BN512
static long ck_bn_input_gradient512(const float *g, const float *x, const float *y, float *gx, long s, float mu, float inv,
                                    float k, float mean_g, float mean_gx) {
    const __m512 vm = _mm512_set1_ps(mu), vi = _mm512_set1_ps(inv), vk = _mm512_set1_ps(k);
    const __m512 vg = _mm512_set1_ps(mean_g), vgx = _mm512_set1_ps(mean_gx), zero = _mm512_setzero_ps();
    long j = 0;
    for (; j + 16 <= s; j += 16) {
        __m512 gv = _mm512_loadu_ps(g + j);
        if (y) gv = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(_mm512_loadu_ps(y + j), zero, _CMP_GT_OQ), gv);
        __m512 xhat = _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(x + j), vm), vi);
        _mm512_storeu_ps(gx + j, _mm512_mul_ps(vk, _mm512_sub_ps(_mm512_sub_ps(gv, vg), _mm512_mul_ps(xhat, vgx))));
    }
    return j;
}

CK_BN256
void ck_bn_input_gradient(const float *g, const float *x, const float *y, float *gx, long s, float mu, float inv, float k,
                          float mean_g, float mean_gx) {
    const __m256 vm = _mm256_set1_ps(mu), vi = _mm256_set1_ps(inv), vk = _mm256_set1_ps(k);
    const __m256 vg = _mm256_set1_ps(mean_g), vgx = _mm256_set1_ps(mean_gx), zero = _mm256_setzero_ps();
    // The AVX-512 kernel does the 16-lane blocks; the rest runs below.
    long j = ck_has_avx512() ? ck_bn_input_gradient512(g, x, y, gx, s, mu, inv, k, mean_g, mean_gx) : 0;
    for (; j + 8 <= s; j += 8) {
        __m256 gv = _mm256_loadu_ps(g + j);
        if (y) gv = _mm256_and_ps(_mm256_cmp_ps(_mm256_loadu_ps(y + j), zero, _CMP_GT_OQ), gv);
        __m256 xhat = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + j), vm), vi);
        _mm256_storeu_ps(gx + j, _mm256_mul_ps(vk, _mm256_sub_ps(_mm256_sub_ps(gv, vg), _mm256_mul_ps(xhat, vgx))));
    }
    for (; j < s; j++) {
        float gv = !y || y[j] > 0 ? g[j] : 0;
        float xhat = (x[j] - mu) * inv;
        gx[j] = k * ((gv - mean_g) - xhat * mean_gx);
    }
}

// MARK: - BatchNorm + ReLU + fake quantization

// The quantizer of one element, as `BatchNormQuantKernels.quantize(_: Float, _:)`: v = max(a, 0)/s
// (a/s without `relu`), its clamped code q, whether the code clipped and whether the ReLU cut
// (`!(a > 0)`; never without `relu`).
static inline float ck_bnq_scalar(float a, int relu, float qs, float qz, float lo, float hi, float *v, int *clipped,
                                  int *dead) {
    float xr = relu && a < 0 ? 0 : a;
    *v = xr / qs;
    float rq = rintf(*v + qz);
    *clipped = rq > hi || rq < lo;
    *dead = relu && !(a > 0);
    return rq > hi ? hi : (rq < lo ? lo : rq);
}

// 8 lanes: v, the clamped code (returned), the clipped lanes and the lanes where the ReLU cut
// (`a <= 0`, false for NaN as in the Swift vector loop; none without `relu`, which also keeps a).
CK_BN256
static inline __m256 ck_bnq8(__m256 a, int relu, __m256 vs, __m256 vz, __m256 vlo, __m256 vhi, __m256 *v,
                             __m256 *clipped, __m256 *dead) {
    const __m256 zero = _mm256_setzero_ps();
    *dead = relu ? _mm256_cmp_ps(a, zero, _CMP_LE_OQ) : zero;
    __m256 xr = relu ? _mm256_andnot_ps(_mm256_cmp_ps(a, zero, _CMP_LT_OQ), a) : a;
    *v = _mm256_div_ps(xr, vs);
    __m256 r = _mm256_round_ps(_mm256_add_ps(*v, vz), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 over = _mm256_cmp_ps(r, vhi, _CMP_GT_OQ), under = _mm256_cmp_ps(r, vlo, _CMP_LT_OQ);
    *clipped = _mm256_or_ps(over, under);
    return _mm256_blendv_ps(_mm256_blendv_ps(r, vhi, over), vlo, under);
}

// One 8-element step of the BatchNorm + quantizer gradient sums: the quantizer's scale and
// clipped sums (fs, fz) and the BatchNorm's Σ g' and Σ g'·(x − mu) (a, b), g' = g where the
// quantizer passes the gradient (neither clipped nor below a ReLU).
CK_BN256
static inline void ck_bnq_sums8(const float *g, const float *x, int relu, __m256 vsc, __m256 vt, __m256 vm, __m256 vs,
                                __m256 vz, __m256 vlo, __m256 vhi, __m256 *fs, __m256 *fz, __m256 *a, __m256 *b) {
    __m256 xv = _mm256_loadu_ps(x), gv = _mm256_loadu_ps(g);
    __m256 v, clipped, dead;
    __m256 q = ck_bnq8(_mm256_add_ps(_mm256_mul_ps(xv, vsc), vt), relu, vs, vz, vlo, vhi, &v, &clipped, &dead);
    __m256 vv = _mm256_andnot_ps(clipped, v);
    *fs = _mm256_add_ps(*fs, _mm256_mul_ps(gv, _mm256_sub_ps(_mm256_sub_ps(q, vz), vv)));
    *fz = _mm256_add_ps(*fz, _mm256_and_ps(clipped, gv));
    __m256 gp = _mm256_andnot_ps(_mm256_or_ps(clipped, dead), gv);
    *a = _mm256_add_ps(*a, gp);
    *b = _mm256_add_ps(*b, _mm256_mul_ps(gp, _mm256_sub_ps(xv, vm)));
}

CK_BN512
static inline __m512 ck_bnq16(__m512 a, int relu, __m512 vs, __m512 vz, __m512 vlo, __m512 vhi, __m512 *v,
                              __mmask16 *clipped, __mmask16 *dead) {
    const __m512 zero = _mm512_setzero_ps();
    *dead = relu ? _mm512_cmp_ps_mask(a, zero, _CMP_LE_OQ) : 0;
    __m512 xr = relu ? _mm512_mask_mov_ps(a, _mm512_cmp_ps_mask(a, zero, _CMP_LT_OQ), zero) : a;
    *v = _mm512_div_ps(xr, vs);
    __m512 r = _mm512_roundscale_ps(_mm512_add_ps(*v, vz), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __mmask16 over = _mm512_cmp_ps_mask(r, vhi, _CMP_GT_OQ), under = _mm512_cmp_ps_mask(r, vlo, _CMP_LT_OQ);
    *clipped = over | under;
    return _mm512_mask_mov_ps(_mm512_mask_mov_ps(r, over, vhi), under, vlo);
}

CK_BN512
static long ck_bnq_forward512(const float *x, float *y, long s, float scale, float shift, int relu, float qs, float qz, float lo,
                              float hi) {
    const __m512 vsc = _mm512_set1_ps(scale), vt = _mm512_set1_ps(shift);
    const __m512 vs = _mm512_set1_ps(qs), vz = _mm512_set1_ps(qz), vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
    long j = 0;
    for (; j + 16 <= s; j += 16) {
        __m512 v;
        __mmask16 clipped, dead;
        __m512 q = ck_bnq16(_mm512_add_ps(_mm512_mul_ps(_mm512_loadu_ps(x + j), vsc), vt), relu, vs, vz, vlo, vhi, &v, &clipped,
                            &dead);
        _mm512_storeu_ps(y + j, _mm512_mul_ps(_mm512_sub_ps(q, vz), vs));
    }
    return j;
}

CK_BN256
void ck_bnq_forward(const float *x, float *y, long s, float scale, float shift, int relu, float qs, float qz, float lo, float hi) {
    const __m256 vsc = _mm256_set1_ps(scale), vt = _mm256_set1_ps(shift);
    const __m256 vs = _mm256_set1_ps(qs), vz = _mm256_set1_ps(qz), vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
    long j = ck_has_avx512() ? ck_bnq_forward512(x, y, s, scale, shift, relu, qs, qz, lo, hi) : 0;  // 16-lane blocks there
    for (; j + 8 <= s; j += 8) {
        __m256 v, clipped, dead;
        __m256 q = ck_bnq8(_mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(x + j), vsc), vt), relu, vs, vz, vlo, vhi, &v, &clipped,
                           &dead);
        _mm256_storeu_ps(y + j, _mm256_mul_ps(_mm256_sub_ps(q, vz), vs));
    }
    for (; j < s; j++) {
        float v;
        int clipped, dead;
        float q = ck_bnq_scalar(x[j] * scale + shift, relu, qs, qz, lo, hi, &v, &clipped, &dead);
        y[j] = (q - qz) * qs;
    }
}

// The scalar tail of the gradient sums (elements j..<s), added to the running sums in order.
static inline void ck_bnq_sums_tail(const float *g, const float *x, long j, long s, float scale, float shift, int relu, float mu,
                                    float qs, float qz, float lo, float hi, float *sa, float *sb, double *as, double *az) {
    for (; j < s; j++) {
        float gi = g[j], v;
        int clipped, dead;
        float q = ck_bnq_scalar(x[j] * scale + shift, relu, qs, qz, lo, hi, &v, &clipped, &dead);
        *as += (double)(clipped ? gi * (q - qz) : gi * ((q - qz) - v));
        *az += clipped ? (double)gi : 0;
        float gp = clipped || dead ? 0 : gi;
        *sa += gp;
        *sb += gp * (x[j] - mu);
    }
}

// One 16-lane step of the gradient sums over `lanes` (all 16, or the low 8 with the others zero):
// the scale and zero-point terms, the masked gradient g' and g'·(x − mu).
CK_BN512
static inline void ck_bnq_sums_step(const float *g, const float *x, __mmask16 lanes, int relu, __m512 vsc, __m512 vt, __m512 vm,
                                    __m512 vs, __m512 vz, __m512 vlo, __m512 vhi, __m512 *ts, __m512 *tz, __m512 *gp,
                                    __m512 *tb) {
    __m512 xv = _mm512_maskz_loadu_ps(lanes, x), gv = _mm512_maskz_loadu_ps(lanes, g), v;
    __mmask16 clipped, dead;
    __m512 q = ck_bnq16(_mm512_add_ps(_mm512_mul_ps(xv, vsc), vt), relu, vs, vz, vlo, vhi, &v, &clipped, &dead);
    __m512 vv = _mm512_mask_mov_ps(v, clipped, _mm512_setzero_ps());
    *ts = _mm512_mul_ps(gv, _mm512_sub_ps(_mm512_sub_ps(q, vz), vv));
    *tz = _mm512_maskz_mov_ps(clipped, gv);
    *gp = _mm512_maskz_mov_ps((__mmask16)~(clipped | dead), gv);
    *tb = _mm512_mul_ps(*gp, _mm512_sub_ps(xv, vm));
}

CK_BN512
static void ck_bnq_gradient_sums512(const float *g, const float *x, long s, float scale, float shift, int relu, float mu, float qs,
                                    float qz, float lo, float hi, float *sums, double *quant_sums) {
    const __m512 vsc = _mm512_set1_ps(scale), vt = _mm512_set1_ps(shift), vm = _mm512_set1_ps(mu);
    const __m512 vs = _mm512_set1_ps(qs), vz = _mm512_set1_ps(qz), vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
    __m256 a = _mm256_setzero_ps(), b = _mm256_setzero_ps();
    double as = 0, az = 0;
    long j = 0;
    while (j + 8 <= s) {
        long chunk_end = j + 1024 < s ? j + 1024 : s;
        __m256 fs = _mm256_setzero_ps(), fz = _mm256_setzero_ps();
        __m512 ts, tz, gp, tb;
        for (; j + 16 <= chunk_end; j += 16) {
            ck_bnq_sums_step(g + j, x + j, 0xffff, relu, vsc, vt, vm, vs, vz, vlo, vhi, &ts, &tz, &gp, &tb);
            fs = ck_bn_add2(fs, ts);
            fz = ck_bn_add2(fz, tz);
            a = ck_bn_add2(a, gp);
            b = ck_bn_add2(b, tb);
        }
        if (j + 8 <= chunk_end) {  // the last 8 of a chunk: one 8-lane step
            ck_bnq_sums_step(g + j, x + j, 0x00ff, relu, vsc, vt, vm, vs, vz, vlo, vhi, &ts, &tz, &gp, &tb);
            fs = _mm256_add_ps(fs, _mm512_castps512_ps256(ts));
            fz = _mm256_add_ps(fz, _mm512_castps512_ps256(tz));
            a = _mm256_add_ps(a, _mm512_castps512_ps256(gp));
            b = _mm256_add_ps(b, _mm512_castps512_ps256(tb));
            j += 8;
        }
        as += (double)ck_bn_lanes(fs);
        az += (double)ck_bn_lanes(fz);
    }
    float sa = ck_bn_lanes(a), sb = ck_bn_lanes(b);
    ck_bnq_sums_tail(g, x, j, s, scale, shift, relu, mu, qs, qz, lo, hi, &sa, &sb, &as, &az);
    sums[0] = sa;
    sums[1] = sb;
    quant_sums[0] = as;
    quant_sums[1] = az;
}

CK_BN256
void ck_bnq_gradient_sums(const float *g, const float *x, long s, float scale, float shift, int relu, float mu, float qs, float qz,
                          float lo, float hi, float *sums, double *quant_sums) {
    if (ck_has_avx512()) {
        ck_bnq_gradient_sums512(g, x, s, scale, shift, relu, mu, qs, qz, lo, hi, sums, quant_sums);
        return;
    }
    const __m256 vsc = _mm256_set1_ps(scale), vt = _mm256_set1_ps(shift), vm = _mm256_set1_ps(mu);
    const __m256 vs = _mm256_set1_ps(qs), vz = _mm256_set1_ps(qz), vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
    __m256 a = _mm256_setzero_ps(), b = _mm256_setzero_ps();
    double as = 0, az = 0;
    long j = 0;
    while (j + 8 <= s) {
        long chunk_end = j + 1024 < s ? j + 1024 : s;
        __m256 fs = _mm256_setzero_ps(), fz = _mm256_setzero_ps();
        for (; j + 8 <= chunk_end; j += 8) {
            ck_bnq_sums8(g + j, x + j, relu, vsc, vt, vm, vs, vz, vlo, vhi, &fs, &fz, &a, &b);
        }
        as += (double)ck_bn_lanes(fs);
        az += (double)ck_bn_lanes(fz);
    }
    float sa = ck_bn_lanes(a), sb = ck_bn_lanes(b);
    ck_bnq_sums_tail(g, x, j, s, scale, shift, relu, mu, qs, qz, lo, hi, &sa, &sb, &as, &az);
    sums[0] = sa;
    sums[1] = sb;
    quant_sums[0] = as;
    quant_sums[1] = az;
}

// The scalar tail of the input gradient (elements j..<s).
static inline void ck_bnq_input_tail(const float *g, const float *x, float *gx, long j, long s, float scale, float shift,
                                     int relu, float qs, float qz, float lo, float hi, float mu, float inv, float k, float mean_g,
                                     float mean_gx) {
    for (; j < s; j++) {
        float v;
        int clipped, dead;
        (void)ck_bnq_scalar(x[j] * scale + shift, relu, qs, qz, lo, hi, &v, &clipped, &dead);
        float gp = clipped || dead ? 0 : g[j];
        float xhat = (x[j] - mu) * inv;
        gx[j] = k * ((gp - mean_g) - xhat * mean_gx);
    }
}

CK_BN512
static long ck_bnq_input_gradient512(const float *g, const float *x, float *gx, long s, float scale, float shift, int relu, float qs,
                                     float qz, float lo, float hi, float mu, float inv, float k, float mean_g,
                                     float mean_gx) {
    const __m512 vsc = _mm512_set1_ps(scale), vt = _mm512_set1_ps(shift);
    const __m512 vs = _mm512_set1_ps(qs), vz = _mm512_set1_ps(qz), vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
    const __m512 vm = _mm512_set1_ps(mu), vi = _mm512_set1_ps(inv), vk = _mm512_set1_ps(k);
    const __m512 vg = _mm512_set1_ps(mean_g), vgx = _mm512_set1_ps(mean_gx);
    long j = 0;
    for (; j + 16 <= s; j += 16) {
        __m512 xv = _mm512_loadu_ps(x + j), v;
        __mmask16 clipped, dead;
        (void)ck_bnq16(_mm512_add_ps(_mm512_mul_ps(xv, vsc), vt), relu, vs, vz, vlo, vhi, &v, &clipped, &dead);
        __m512 gp = _mm512_maskz_mov_ps((__mmask16)~(clipped | dead), _mm512_loadu_ps(g + j));
        __m512 xhat = _mm512_mul_ps(_mm512_sub_ps(xv, vm), vi);
        _mm512_storeu_ps(gx + j, _mm512_mul_ps(vk, _mm512_sub_ps(_mm512_sub_ps(gp, vg), _mm512_mul_ps(xhat, vgx))));
    }
    return j;
}

CK_BN256
void ck_bnq_input_gradient(const float *g, const float *x, float *gx, long s, float scale, float shift, int relu, float qs, float qz,
                           float lo, float hi, float mu, float inv, float k, float mean_g, float mean_gx) {
    const __m256 vsc = _mm256_set1_ps(scale), vt = _mm256_set1_ps(shift);
    const __m256 vs = _mm256_set1_ps(qs), vz = _mm256_set1_ps(qz), vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
    const __m256 vm = _mm256_set1_ps(mu), vi = _mm256_set1_ps(inv), vk = _mm256_set1_ps(k);
    const __m256 vg = _mm256_set1_ps(mean_g), vgx = _mm256_set1_ps(mean_gx);
    // The AVX-512 kernel does the 16-lane blocks; the rest runs below.
    long j = ck_has_avx512()
        ? ck_bnq_input_gradient512(g, x, gx, s, scale, shift, relu, qs, qz, lo, hi, mu, inv, k, mean_g, mean_gx)
        : 0;
    for (; j + 8 <= s; j += 8) {
        __m256 xv = _mm256_loadu_ps(x + j), v, clipped, dead;
        (void)ck_bnq8(_mm256_add_ps(_mm256_mul_ps(xv, vsc), vt), relu, vs, vz, vlo, vhi, &v, &clipped, &dead);
        __m256 gp = _mm256_andnot_ps(_mm256_or_ps(clipped, dead), _mm256_loadu_ps(g + j));
        __m256 xhat = _mm256_mul_ps(_mm256_sub_ps(xv, vm), vi);
        _mm256_storeu_ps(gx + j, _mm256_mul_ps(vk, _mm256_sub_ps(_mm256_sub_ps(gp, vg), _mm256_mul_ps(xhat, vgx))));
    }
    ck_bnq_input_tail(g, x, gx, j, s, scale, shift, relu, qs, qz, lo, hi, mu, inv, k, mean_g, mean_gx);
}

// One piece (a multiple of 8 elements, inside one plane) of the gradient sums in FakeQuantize's
// order: `acc` holds four 8-lane accumulators, the quantizer's scale and clipped sums of the
// current 1024-element chunk (acc[0..7], acc[8..15]) and the plane's Σ g' and Σ g'·(x − mu)
// (acc[16..23], acc[24..31]); each element is added to all four as in ck_bnq_gradient_sums.
// The same on 16-lane steps (each added to the 8-lane accumulators as two 8-lane steps), and a
// last 8-lane step where `count` is an odd multiple of 8.
CK_BN512
static void ck_bnq_flat_sums512(const float *g, const float *x, long count, float scale, float shift, int relu, float mu,
                                float qs, float qz, float lo, float hi, float *acc) {
    const __m512 vsc = _mm512_set1_ps(scale), vt = _mm512_set1_ps(shift), vm = _mm512_set1_ps(mu);
    const __m512 vs = _mm512_set1_ps(qs), vz = _mm512_set1_ps(qz), vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
    __m256 fs = _mm256_loadu_ps(acc), fz = _mm256_loadu_ps(acc + 8);
    __m256 a = _mm256_loadu_ps(acc + 16), b = _mm256_loadu_ps(acc + 24);
    __m512 ts, tz, gp, tb;
    long j = 0;
    for (; j + 16 <= count; j += 16) {
        ck_bnq_sums_step(g + j, x + j, 0xffff, relu, vsc, vt, vm, vs, vz, vlo, vhi, &ts, &tz, &gp, &tb);
        fs = ck_bn_add2(fs, ts);
        fz = ck_bn_add2(fz, tz);
        a = ck_bn_add2(a, gp);
        b = ck_bn_add2(b, tb);
    }
    if (j + 8 <= count) {
        ck_bnq_sums_step(g + j, x + j, 0x00ff, relu, vsc, vt, vm, vs, vz, vlo, vhi, &ts, &tz, &gp, &tb);
        fs = _mm256_add_ps(fs, _mm512_castps512_ps256(ts));
        fz = _mm256_add_ps(fz, _mm512_castps512_ps256(tz));
        a = _mm256_add_ps(a, _mm512_castps512_ps256(gp));
        b = _mm256_add_ps(b, _mm512_castps512_ps256(tb));
    }
    _mm256_storeu_ps(acc, fs);
    _mm256_storeu_ps(acc + 8, fz);
    _mm256_storeu_ps(acc + 16, a);
    _mm256_storeu_ps(acc + 24, b);
}

CK_BN256
void ck_bnq_flat_sums(const float *g, const float *x, long count, float scale, float shift, int relu, float mu, float qs,
                      float qz, float lo, float hi, float *acc) {
    if (ck_has_avx512()) {
        ck_bnq_flat_sums512(g, x, count, scale, shift, relu, mu, qs, qz, lo, hi, acc);
        return;
    }
    const __m256 vsc = _mm256_set1_ps(scale), vt = _mm256_set1_ps(shift), vm = _mm256_set1_ps(mu);
    const __m256 vs = _mm256_set1_ps(qs), vz = _mm256_set1_ps(qz), vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
    __m256 fs = _mm256_loadu_ps(acc), fz = _mm256_loadu_ps(acc + 8);
    __m256 a = _mm256_loadu_ps(acc + 16), b = _mm256_loadu_ps(acc + 24);
    for (long j = 0; j + 8 <= count; j += 8) {
        ck_bnq_sums8(g + j, x + j, relu, vsc, vt, vm, vs, vz, vlo, vhi, &fs, &fz, &a, &b);
    }
    _mm256_storeu_ps(acc, fs);
    _mm256_storeu_ps(acc + 8, fz);
    _mm256_storeu_ps(acc + 16, a);
    _mm256_storeu_ps(acc + 24, b);
}

// Sum of the eight lanes of acc[0..7] in lane order (SIMD8.sum()).
CK_BN256
float ck_bnq_lanes(const float *acc) { return ck_bn_lanes(_mm256_loadu_ps(acc)); }

#endif
