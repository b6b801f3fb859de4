#include "CKernels.h"

// The block loops of a quantized residual tail in one op (TensorEngine/Tensor+QuantAddReLU.swift,
// `QuantAddReLUKernels`): y = FakeQuant_out(max(a + FakeQuant_in(x), 0)) and its backward, on AVX2
// vectors, or AVX-512 ones where the processor has them: a 16-lane step adds its low half and then
// its high half to the same 8-lane sums, exactly two 8-lane steps.
//
// Results are bit for bit those of the Swift loops, and so of QuantCore's `FakeQuantize` kernels
// applied one by one: the same IEEE operations per element (no fused multiply-adds, exact
// division, `_mm256_round_ps` to nearest even), and the scale and zero-point sums in FakeQuantize's
// order: 8 float lanes flushed to double (lanes added in lane order) every 1024 elements, then the
// tail (the last n % 8 elements) one by one in double.

#pragma STDC FP_CONTRACT OFF

#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>

#define CK_QA256 __attribute__((target("avx2")))
#define CK_QA512 __attribute__((target("avx2,avx512f,avx512vl,avx512dq")))

// Sum of the eight lanes in lane order, as Swift's SIMD8.sum().
CK_QA256
static inline float ck_qa_lanes(__m256 v) {
    float l[8];
    _mm256_storeu_ps(l, v);
    return ((((((l[0] + l[1]) + l[2]) + l[3]) + l[4]) + l[5]) + l[6]) + l[7];
}

// acc += low half of v, then acc += high half (two 8-float steps in order).
CK_QA512
static inline __m256 ck_qa_add2(__m256 acc, __m512 v) {
    acc = _mm256_add_ps(acc, _mm512_castps512_ps256(v));
    return _mm256_add_ps(acc, _mm512_extractf32x8_ps(v, 1));
}

// One quantizer on 8 lanes: v = x/s (x after max(x, 0) with `relu`), the clamped code
// (returned), the clipped lanes and, with `relu`, the lanes where x <= 0 (false for NaN).
CK_QA256
static inline __m256 ck_qa_quant8(__m256 x, int relu, __m256 vs, __m256 vz, __m256 vlo, __m256 vhi, __m256 *v,
                                  __m256 *clipped, __m256 *dead) {
    const __m256 zero = _mm256_setzero_ps();
    *dead = relu ? _mm256_cmp_ps(x, zero, _CMP_LE_OQ) : zero;
    __m256 xr = relu ? _mm256_andnot_ps(_mm256_cmp_ps(x, zero, _CMP_LT_OQ), x) : x;
    *v = _mm256_div_ps(xr, vs);
    __m256 r = _mm256_round_ps(_mm256_add_ps(*v, vz), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 over = _mm256_cmp_ps(r, vhi, _CMP_GT_OQ), under = _mm256_cmp_ps(r, vlo, _CMP_LT_OQ);
    *clipped = _mm256_or_ps(over, under);
    return _mm256_blendv_ps(_mm256_blendv_ps(r, vhi, over), vlo, under);
}

// The scalar form of ck_qa_quant8.
static inline float ck_qa_quant1(float x, int relu, float s, float z, float lo, float hi, float *v, int *clipped,
                                 int *dead) {
    float xr = relu && x < 0 ? 0 : x;
    *v = xr / s;
    float rq = rintf(*v + z);
    *clipped = rq > hi || rq < lo;
    *dead = relu && !(x > 0);
    return rq > hi ? hi : (rq < lo ? lo : rq);
}

// The shortcut operand b: FakeQuant_in(x), with its quantizer input v, code and clipped lanes,
// when `quant_x`; otherwise x itself (quantized already), nothing clipped.
CK_QA256
static inline __m256 ck_qa_operand8(__m256 x, int quant_x, __m256 vsi, __m256 vzi, __m256 vloi, __m256 vhii, __m256 *qi,
                                    __m256 *vi, __m256 *ci) {
    if (!quant_x) {
        *qi = *vi = *ci = _mm256_setzero_ps();
        return x;
    }
    __m256 di;
    *qi = ck_qa_quant8(x, 0, vsi, vzi, vloi, vhii, vi, ci, &di);
    return _mm256_mul_ps(_mm256_sub_ps(*qi, vzi), vsi);
}

static inline float ck_qa_operand1(float x, int quant_x, float si, float zi, float loi, float hii, float *qi, float *vi,
                                   int *ci) {
    if (!quant_x) {
        *qi = *vi = 0;
        *ci = 0;
        return x;
    }
    int di;
    *qi = ck_qa_quant1(x, 0, si, zi, loi, hii, vi, ci, &di);
    return (*qi - zi) * si;
}

// ck_qa_quant8 on 16 lanes, with masks.
CK_QA512
static inline __m512 ck_qa_quant16(__m512 x, int relu, __m512 vs, __m512 vz, __m512 vlo, __m512 vhi, __m512 *v,
                                   __mmask16 *clipped, __mmask16 *dead) {
    const __m512 zero = _mm512_setzero_ps();
    *dead = relu ? _mm512_cmp_ps_mask(x, zero, _CMP_LE_OQ) : 0;
    __m512 xr = relu ? _mm512_mask_mov_ps(x, _mm512_cmp_ps_mask(x, zero, _CMP_LT_OQ), zero) : x;
    *v = _mm512_div_ps(xr, vs);
    __m512 r = _mm512_roundscale_ps(_mm512_add_ps(*v, vz), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __mmask16 over = _mm512_cmp_ps_mask(r, vhi, _CMP_GT_OQ), under = _mm512_cmp_ps_mask(r, vlo, _CMP_LT_OQ);
    *clipped = over | under;
    return _mm512_mask_mov_ps(_mm512_mask_mov_ps(r, over, vhi), under, vlo);
}

// ck_qa_operand8 on 16 lanes.
CK_QA512
static inline __m512 ck_qa_operand16(__m512 x, int quant_x, __m512 vsi, __m512 vzi, __m512 vloi, __m512 vhii, __m512 *qi,
                                     __m512 *vi, __mmask16 *ci) {
    if (!quant_x) {
        *qi = *vi = _mm512_setzero_ps();
        *ci = 0;
        return x;
    }
    __mmask16 di;
    *qi = ck_qa_quant16(x, 0, vsi, vzi, vloi, vhii, vi, ci, &di);
    return _mm512_mul_ps(_mm512_sub_ps(*qi, vzi), vsi);
}

// Whole 16-lane blocks of the forward; returns where it stopped.
CK_QA512
static long ck_qadd_forward512(const float *a, const float *x, float *y, long n, int quant_x, float si, float zi, float loi, float hii,
                               float so, float zo, float loo, float hio) {
    const __m512 vsi = _mm512_set1_ps(si), vzi = _mm512_set1_ps(zi), vloi = _mm512_set1_ps(loi), vhii = _mm512_set1_ps(hii);
    const __m512 vso = _mm512_set1_ps(so), vzo = _mm512_set1_ps(zo), vloo = _mm512_set1_ps(loo), vhio = _mm512_set1_ps(hio);
    long j = 0;
    for (; j + 16 <= n; j += 16) {
        __m512 v, qi;
        __mmask16 clipped, dead;
        __m512 b = ck_qa_operand16(_mm512_loadu_ps(x + j), quant_x, vsi, vzi, vloi, vhii, &qi, &v, &clipped);
        __m512 t = _mm512_add_ps(_mm512_loadu_ps(a + j), b);
        __m512 qo = ck_qa_quant16(t, 1, vso, vzo, vloo, vhio, &v, &clipped, &dead);
        _mm512_storeu_ps(y + j, _mm512_mul_ps(_mm512_sub_ps(qo, vzo), vso));
    }
    return j;
}

CK_QA256
void ck_qadd_forward(const float *a, const float *x, float *y, long n, int quant_x, float si, float zi, float loi, float hii, float so,
                     float zo, float loo, float hio) {
    const __m256 vsi = _mm256_set1_ps(si), vzi = _mm256_set1_ps(zi), vloi = _mm256_set1_ps(loi), vhii = _mm256_set1_ps(hii);
    const __m256 vso = _mm256_set1_ps(so), vzo = _mm256_set1_ps(zo), vloo = _mm256_set1_ps(loo), vhio = _mm256_set1_ps(hio);
    long j = ck_has_avx512() ? ck_qadd_forward512(a, x, y, n, quant_x, si, zi, loi, hii, so, zo, loo, hio) : 0;  // 16-lane blocks there
    for (; j + 8 <= n; j += 8) {
        __m256 v, clipped, dead, qi;
        __m256 b = ck_qa_operand8(_mm256_loadu_ps(x + j), quant_x, vsi, vzi, vloi, vhii, &qi, &v, &clipped);
        __m256 t = _mm256_add_ps(_mm256_loadu_ps(a + j), b);
        __m256 qo = ck_qa_quant8(t, 1, vso, vzo, vloo, vhio, &v, &clipped, &dead);
        _mm256_storeu_ps(y + j, _mm256_mul_ps(_mm256_sub_ps(qo, vzo), vso));
    }
    for (; j < n; j++) {
        float v, qi;
        int clipped, dead;
        float t = a[j] + ck_qa_operand1(x[j], quant_x, si, zi, loi, hii, &qi, &v, &clipped);
        y[j] = (ck_qa_quant1(t, 1, so, zo, loo, hio, &v, &clipped, &dead) - zo) * so;
    }
}

// One 16-lane step of the backward over `lanes` (all 16, or the low 8 with the others zero): the
// four sum terms (input scale, input clipped, output scale, output clipped); writes ga and gx.
CK_QA512
static inline void ck_qadd_step512(const float *g, const float *a, const float *x, float *ga, float *gx, __mmask16 lanes, int quant_x,
                                   __m512 vsi, __m512 vzi, __m512 vloi, __m512 vhii, __m512 vso, __m512 vzo, __m512 vloo,
                                   __m512 vhio, __m512 *tsi, __m512 *tzi, __m512 *tso, __m512 *tzo) {
    __m512 gv = _mm512_maskz_loadu_ps(lanes, g), vi, vo;
    __mmask16 ci, co, dout;
    __m512 qi, b = ck_qa_operand16(_mm512_maskz_loadu_ps(lanes, x), quant_x, vsi, vzi, vloi, vhii, &qi, &vi, &ci);
    __m512 t = _mm512_add_ps(_mm512_maskz_loadu_ps(lanes, a), b);
    __m512 qo = ck_qa_quant16(t, 1, vso, vzo, vloo, vhio, &vo, &co, &dout);
    const __m512 zero = _mm512_setzero_ps();
    *tso = _mm512_mul_ps(gv, _mm512_sub_ps(_mm512_sub_ps(qo, vzo), _mm512_mask_mov_ps(vo, co, zero)));
    *tzo = _mm512_maskz_mov_ps(co, gv);
    __m512 gt = _mm512_maskz_mov_ps((__mmask16)~(co | dout), gv);
    *tsi = _mm512_mul_ps(gt, _mm512_sub_ps(_mm512_sub_ps(qi, vzi), _mm512_mask_mov_ps(vi, ci, zero)));
    *tzi = _mm512_maskz_mov_ps(ci, gt);
    if (ga) _mm512_mask_storeu_ps(ga, lanes, gt);
    if (gx) _mm512_mask_storeu_ps(gx, lanes, _mm512_maskz_mov_ps((__mmask16)~ci, gt));
}

// The vector part of the backward on 16-lane steps (the last 8 of a chunk as one masked step);
// adds to the running double sums and returns where it stopped (the scalar tail is the caller's).
CK_QA512
static long ck_qadd_backward512(const float *g, const float *a, const float *x, float *ga, float *gx, long n, int quant_x, float si,
                                float zi, float loi, float hii, float so, float zo, float loo, float hio, double *acc) {
    const __m512 vsi = _mm512_set1_ps(si), vzi = _mm512_set1_ps(zi), vloi = _mm512_set1_ps(loi), vhii = _mm512_set1_ps(hii);
    const __m512 vso = _mm512_set1_ps(so), vzo = _mm512_set1_ps(zo), vloo = _mm512_set1_ps(loo), vhio = _mm512_set1_ps(hio);
    long j = 0;
    while (j + 8 <= n) {
        long chunk_end = j + 1024 < n ? j + 1024 : n;
        __m256 fsi = _mm256_setzero_ps(), fzi = fsi, fso = fsi, fzo = fsi;
        __m512 tsi, tzi, tso, tzo;
        for (; j + 16 <= chunk_end; j += 16) {
            ck_qadd_step512(g + j, a + j, x + j, ga ? ga + j : 0, gx ? gx + j : 0, 0xffff, quant_x, vsi, vzi, vloi, vhii, vso, vzo, vloo,
                            vhio, &tsi, &tzi, &tso, &tzo);
            fso = ck_qa_add2(fso, tso);
            fzo = ck_qa_add2(fzo, tzo);
            fsi = ck_qa_add2(fsi, tsi);
            fzi = ck_qa_add2(fzi, tzi);
        }
        if (j + 8 <= chunk_end) {
            ck_qadd_step512(g + j, a + j, x + j, ga ? ga + j : 0, gx ? gx + j : 0, 0x00ff, quant_x, vsi, vzi, vloi, vhii, vso, vzo, vloo,
                            vhio, &tsi, &tzi, &tso, &tzo);
            fso = _mm256_add_ps(fso, _mm512_castps512_ps256(tso));
            fzo = _mm256_add_ps(fzo, _mm512_castps512_ps256(tzo));
            fsi = _mm256_add_ps(fsi, _mm512_castps512_ps256(tsi));
            fzi = _mm256_add_ps(fzi, _mm512_castps512_ps256(tzi));
            j += 8;
        }
        acc[2] += (double)ck_qa_lanes(fso);
        acc[3] += (double)ck_qa_lanes(fzo);
        acc[0] += (double)ck_qa_lanes(fsi);
        acc[1] += (double)ck_qa_lanes(fzi);
    }
    return j;
}

CK_QA256
void ck_qadd_backward(const float *g, const float *a, const float *x, float *ga, float *gx, long n, int quant_x, float si, float zi,
                      float loi, float hii, float so, float zo, float loo, float hio, double *sums) {
    const __m256 vsi = _mm256_set1_ps(si), vzi = _mm256_set1_ps(zi), vloi = _mm256_set1_ps(loi), vhii = _mm256_set1_ps(hii);
    const __m256 vso = _mm256_set1_ps(so), vzo = _mm256_set1_ps(zo), vloo = _mm256_set1_ps(loo), vhio = _mm256_set1_ps(hio);
    const __m256 zero = _mm256_setzero_ps();
    double asi = 0, azi = 0, aso = 0, azo = 0;
    long j = 0;
    if (ck_has_avx512()) {
        double acc[4] = {0, 0, 0, 0};
        j = ck_qadd_backward512(g, a, x, ga, gx, n, quant_x, si, zi, loi, hii, so, zo, loo, hio, acc);
        asi = acc[0], azi = acc[1], aso = acc[2], azo = acc[3];
    }
    while (j + 8 <= n) {
        long chunk_end = j + 1024 < n ? j + 1024 : n;
        __m256 fsi = zero, fzi = zero, fso = zero, fzo = zero;
        for (; j + 8 <= chunk_end; j += 8) {
            __m256 gv = _mm256_loadu_ps(g + j);
            __m256 vi, ci, vo, co, dout;
            __m256 qi, b = ck_qa_operand8(_mm256_loadu_ps(x + j), quant_x, vsi, vzi, vloi, vhii, &qi, &vi, &ci);
            __m256 t = _mm256_add_ps(_mm256_loadu_ps(a + j), b);
            __m256 qo = ck_qa_quant8(t, 1, vso, vzo, vloo, vhio, &vo, &co, &dout);
            fso = _mm256_add_ps(fso, _mm256_mul_ps(gv, _mm256_sub_ps(_mm256_sub_ps(qo, vzo), _mm256_andnot_ps(co, vo))));
            fzo = _mm256_add_ps(fzo, _mm256_and_ps(co, gv));
            __m256 gt = _mm256_andnot_ps(_mm256_or_ps(co, dout), gv);
            fsi = _mm256_add_ps(fsi, _mm256_mul_ps(gt, _mm256_sub_ps(_mm256_sub_ps(qi, vzi), _mm256_andnot_ps(ci, vi))));
            fzi = _mm256_add_ps(fzi, _mm256_and_ps(ci, gt));
            if (ga) _mm256_storeu_ps(ga + j, gt);
            if (gx) _mm256_storeu_ps(gx + j, _mm256_andnot_ps(ci, gt));
        }
        aso += (double)ck_qa_lanes(fso);
        azo += (double)ck_qa_lanes(fzo);
        asi += (double)ck_qa_lanes(fsi);
        azi += (double)ck_qa_lanes(fzi);
    }
    for (; j < n; j++) {
        float gj = g[j], vi, vo, qi;
        int ci, co, dout;
        float t = a[j] + ck_qa_operand1(x[j], quant_x, si, zi, loi, hii, &qi, &vi, &ci);
        float qo = ck_qa_quant1(t, 1, so, zo, loo, hio, &vo, &co, &dout);
        aso += (double)(co ? gj * (qo - zo) : gj * ((qo - zo) - vo));
        azo += co ? (double)gj : 0;
        float gt = co || dout ? 0 : gj;
        asi += (double)(ci ? gt * (qi - zi) : gt * ((qi - zi) - vi));
        azi += ci ? (double)gt : 0;
        if (ga) ga[j] = gt;
        if (gx) gx[j] = ci ? 0 : gt;
    }
    sums[0] = asi;
    sums[1] = azi;
    sums[2] = aso;
    sums[3] = azo;
}

#endif
