#include "CKernels.h"

// Winograd F(4x4, 3x3) transforms (Lavin & Gray, "Fast Algorithms for Convolutional Neural
// Networks", 2016; interpolation points 0, ±1, ±2, ∞), for the correlation that conv2d computes.
// A 4x4 output tile is Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A for the 6x6 input tile d, with
//
//   Bᵀ = [4  0 -5  0 1 0]     G = [ 1/4     0     0 ]     Aᵀ = [1 1  1 1  1 0]
//        [0 -4 -4  1 1 0]         [-1/6  -1/6  -1/6 ]          [0 1 -1 2 -2 0]
//        [0  4 -4 -1 1 0]         [-1/6   1/6  -1/6 ]          [0 1  1 4  4 0]
//        [0 -2 -1  2 1 0]         [1/24  1/12   1/6 ]          [0 1 -1 8 -8 1]
//        [0  2 -1 -2 1 0]         [1/24 -1/12   1/6 ]
//        [0  4  0 -5 0 1]         [ 0      0     1  ]
//
// so the products summed over input channels are 36 matrix products (one per position ξ of the
// 6x6 transformed tile) for 16 outputs: 2.25 multiplications per output and channel, against 4
// for F(2x2, 3x3) and 9 for the direct sum. The larger transform coefficients cost accuracy: the
// error is a few times F(2x2)'s, still about 1e-6 of the magnitudes summed in float.
//
// The kernels work on 8 tiles at a time in 256-bit vectors and need AVX-512 (F, VL): the 36
// vectors of a tile group fit its 32 registers with few spills, and a two-table permute
// (vpermt2ps) gathers the columns 4t + j of 8 tiles from a row. Callers check
// ck_vector_level() == 2. Fused multiply-adds are used: results differ from a direct sum by
// rounding only, and never depend on how tiles are spread over threads.

#if defined(__x86_64__)
#include <immintrin.h>

#define CK_W4 __attribute__((target("avx2,fma,avx512f,avx512vl")))

// The weight transforms multiply by the constants (1/6, 1/12, 1/24 rounded to float) instead
// of dividing: they run on every forward and weight gradient, and divisions made them a few
// percent of a whole training step.
static const float ck_q = 0.25f, ck_s = 1.0f / 6, ck_t = 1.0f / 12, ck_f = 1.0f / 24;

// One kernel k of the weight transform (u has stride oc between positions ξ).
static inline void wino4_weight_one(const float *w, float *u, long k, long oc) {
    const float *g = w + 9 * k;
    float t[6][3];  // G g
    for (int j = 0; j < 3; j++) {
        float g0 = g[j], g1 = g[3 + j], g2 = g[6 + j];
        t[0][j] = g0 * ck_q;
        t[1][j] = -(g0 + g1 + g2) * ck_s;
        t[2][j] = -(g0 - g1 + g2) * ck_s;
        t[3][j] = g0 * ck_f + g1 * ck_t + g2 * ck_s;
        t[4][j] = g0 * ck_f - g1 * ck_t + g2 * ck_s;
        t[5][j] = g2;
    }
    for (int i = 0; i < 6; i++) {  // (G g) Gᵀ
        float a = t[i][0], b = t[i][1], c = t[i][2];
        float *dst = u + 6 * i * oc + k;
        dst[0 * oc] = a * ck_q;
        dst[1 * oc] = -(a + b + c) * ck_s;
        dst[2 * oc] = -(a - b + c) * ck_s;
        dst[3 * oc] = a * ck_f + b * ck_t + c * ck_s;
        dst[4 * oc] = a * ck_f - b * ck_t + c * ck_s;
        dst[5 * oc] = c;
    }
}

// The same for kernels k ..< k + 8 in one 8-lane vector each: the scalar operations in the
// same order, multiplies and adds kept apart (no fused multiply-add), so the same bits.
CK_W4 static void wino4_weight_eight(const float *w, float *u, long k, long oc) {
    const __m256i idx = _mm256_setr_epi32(0, 9, 18, 27, 36, 45, 54, 63);
    const __m256 q = _mm256_set1_ps(ck_q), s6 = _mm256_set1_ps(ck_s), t12 = _mm256_set1_ps(ck_t),
                 f24 = _mm256_set1_ps(ck_f), sign = _mm256_set1_ps(-0.0f);
    const float *g = w + 9 * k;
    __m256 t[6][3];
    for (int j = 0; j < 3; j++) {
        __m256 g0 = _mm256_i32gather_ps(g + j, idx, 4), g1 = _mm256_i32gather_ps(g + 3 + j, idx, 4),
               g2 = _mm256_i32gather_ps(g + 6 + j, idx, 4);
        t[0][j] = _mm256_mul_ps(g0, q);
        t[1][j] = _mm256_mul_ps(_mm256_xor_ps(_mm256_add_ps(_mm256_add_ps(g0, g1), g2), sign), s6);
        t[2][j] = _mm256_mul_ps(_mm256_xor_ps(_mm256_add_ps(_mm256_sub_ps(g0, g1), g2), sign), s6);
        t[3][j] = _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(g0, f24), _mm256_mul_ps(g1, t12)), _mm256_mul_ps(g2, s6));
        t[4][j] = _mm256_add_ps(_mm256_sub_ps(_mm256_mul_ps(g0, f24), _mm256_mul_ps(g1, t12)), _mm256_mul_ps(g2, s6));
        t[5][j] = g2;
    }
    for (int i = 0; i < 6; i++) {
        __m256 a = t[i][0], b = t[i][1], c = t[i][2];
        float *dst = u + 6 * i * oc + k;
        _mm256_storeu_ps(dst + 0 * oc, _mm256_mul_ps(a, q));
        _mm256_storeu_ps(dst + 1 * oc, _mm256_mul_ps(_mm256_xor_ps(_mm256_add_ps(_mm256_add_ps(a, b), c), sign), s6));
        _mm256_storeu_ps(dst + 2 * oc, _mm256_mul_ps(_mm256_xor_ps(_mm256_add_ps(_mm256_sub_ps(a, b), c), sign), s6));
        _mm256_storeu_ps(dst + 3 * oc,
                         _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(a, f24), _mm256_mul_ps(b, t12)), _mm256_mul_ps(c, s6)));
        _mm256_storeu_ps(dst + 4 * oc,
                         _mm256_add_ps(_mm256_sub_ps(_mm256_mul_ps(a, f24), _mm256_mul_ps(b, t12)), _mm256_mul_ps(c, s6)));
        _mm256_storeu_ps(dst + 5 * oc, c);
    }
}

void ck_wino4_weights_range(const float *w, float *u, long k0, long k1, long oc) {
    long k = k0;
    for (; k + 8 <= k1; k += 8) wino4_weight_eight(w, u, k, oc);
    for (; k < k1; k++) wino4_weight_one(w, u, k, oc);
}

void ck_wino4_weights_scalar(const float *w, float *u, long out_c, long in_c) {
    long oc = out_c * in_c;
    for (long k = 0; k < oc; k++) wino4_weight_one(w, u, k, oc);
}

void ck_wino4_weights(const float *w, float *u, long out_c, long in_c) {
    ck_wino4_weights_range(w, u, 0, out_c * in_c, out_c * in_c);
}

void ck_wino4_weights_grad(const float *du, float *dw, long out_c, long in_c) {
    long oc = out_c * in_c;
    for (long k = 0; k < oc; k++) {
        float d[6][6], t[3][6];
        for (int x = 0; x < 36; x++) d[x / 6][x % 6] = du[x * oc + k];
        for (int j = 0; j < 6; j++) {  // Gᵀ dU
            float d0 = d[0][j], d1 = d[1][j], d2 = d[2][j], d3 = d[3][j], d4 = d[4][j], d5 = d[5][j];
            t[0][j] = d0 * ck_q - (d1 + d2) * ck_s + (d3 + d4) * ck_f;
            t[1][j] = (d2 - d1) * ck_s + (d3 - d4) * ck_t;
            t[2][j] = ((d3 + d4) - (d1 + d2)) * ck_s + d5;
        }
        float *g = dw + 9 * k;
        for (int i = 0; i < 3; i++) {  // (Gᵀ dU) G
            float a0 = t[i][0], a1 = t[i][1], a2 = t[i][2], a3 = t[i][3], a4 = t[i][4], a5 = t[i][5];
            g[3 * i + 0] = a0 * ck_q - (a1 + a2) * ck_s + (a3 + a4) * ck_f;
            g[3 * i + 1] = (a2 - a1) * ck_s + (a3 - a4) * ck_t;
            g[3 * i + 2] = ((a3 + a4) - (a1 + a2)) * ck_s + a5;
        }
    }
}

// Columns 4t + j (t = 0..7) of a row, j = 0..`count`-1 (at most 6): reads row[0 .. 35].
CK_W4
static inline void ck_cols4(const float *row, __m256 *d, int count) {
    const __m512i i0 = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m512i one = _mm512_set1_epi32(1);
    __m512 a = _mm512_loadu_ps(row), b = _mm512_loadu_ps(row + 16);
    __m512i idx = i0;
    for (int j = 0; j < 4 && j < count; j++) {
        d[j] = _mm512_castps512_ps256(_mm512_permutex2var_ps(a, idx, b));
        idx = _mm512_add_epi32(idx, one);
    }
    if (count > 4) {
        __m512 a4 = _mm512_loadu_ps(row + 4), b4 = _mm512_loadu_ps(row + 20);
        d[4] = _mm512_castps512_ps256(_mm512_permutex2var_ps(a4, i0, b4));
        d[5] = _mm512_castps512_ps256(_mm512_permutex2var_ps(a4, _mm512_add_epi32(i0, one), b4));
    }
}

// Bᵀ x for the six vectors x[0..5] (x[k·stride]), into y[0..5].
CK_W4
static inline void ck_bt6(const __m256 *x, int stride, __m256 *y) {
    const __m256 four = _mm256_set1_ps(4), five = _mm256_set1_ps(5), two = _mm256_set1_ps(2);
    __m256 x0 = x[0], x1 = x[stride], x2 = x[2 * stride], x3 = x[3 * stride], x4 = x[4 * stride], x5 = x[5 * stride];
    __m256 t0 = _mm256_fnmadd_ps(four, x2, x4);  // x4 − 4x2
    __m256 t1 = _mm256_fnmadd_ps(four, x1, x3);  // x3 − 4x1
    __m256 t2 = _mm256_sub_ps(x4, x2);
    __m256 t3 = _mm256_mul_ps(two, _mm256_sub_ps(x3, x1));
    y[0] = _mm256_fmadd_ps(four, x0, _mm256_fnmadd_ps(five, x2, x4));
    y[1] = _mm256_add_ps(t0, t1);
    y[2] = _mm256_sub_ps(t0, t1);
    y[3] = _mm256_add_ps(t2, t3);
    y[4] = _mm256_sub_ps(t2, t3);
    y[5] = _mm256_fmadd_ps(four, x1, _mm256_fnmadd_ps(five, x3, x5));
}

CK_W4
void ck_wino4_input(const float *p, long in_c, long rows_p, long wp, long tile_rows, long tile_cols, float *v) {
    long t_count = tile_rows * tile_cols;
    long xi_stride = in_c * t_count + CK_WINO_PLANE_PAD;
    for (long c = 0; c < in_c; c++) {
        const float *plane = p + c * rows_p * wp;
        for (long r = 0; r < tile_rows; r++) {
            for (long t0 = 0; t0 < tile_cols; t0 += 8) {
                __m256 e[6][6];  // row i of the tile times B
                for (int i = 0; i < 6; i++) {
                    __m256 d[6];
                    ck_cols4(plane + (4 * r + i) * wp + 4 * t0, d, 6);
                    ck_bt6(d, 1, e[i]);
                }
                float *dst = v + c * t_count + r * tile_cols + t0;
                for (int j = 0; j < 6; j++) {  // Bᵀ (d B), column j
                    __m256 y[6];
                    ck_bt6(&e[0][j], 6, y);
                    for (int i = 0; i < 6; i++) _mm256_storeu_ps(dst + (6 * i + j) * xi_stride, y[i]);
                }
            }
        }
    }
}

// Aᵀ x for the six vectors x[0..5] (x[k·stride]), into y[0..3].
CK_W4
static inline void ck_at6(const __m256 *x, int stride, __m256 *y) {
    const __m256 two = _mm256_set1_ps(2), four = _mm256_set1_ps(4), eight = _mm256_set1_ps(8);
    __m256 a = _mm256_add_ps(x[stride], x[2 * stride]), b = _mm256_sub_ps(x[stride], x[2 * stride]);
    __m256 c = _mm256_add_ps(x[3 * stride], x[4 * stride]), d = _mm256_sub_ps(x[3 * stride], x[4 * stride]);
    y[0] = _mm256_add_ps(_mm256_add_ps(x[0], a), c);
    y[1] = _mm256_fmadd_ps(two, d, b);
    y[2] = _mm256_fmadd_ps(four, c, a);
    y[3] = _mm256_add_ps(_mm256_fmadd_ps(eight, d, b), x[5 * stride]);
}

CK_W4
void ck_wino4_output(const float *m, long out_c, long tile_rows, long tile_cols, const float *bias, float *out, long out_h,
                     long out_w, long tile_row0) {
    long t_count = tile_rows * tile_cols;
    long xi_stride = out_c * t_count + CK_WINO_PLANE_PAD;
    for (long o = 0; o < out_c; o++) {
        __m256 bv = _mm256_set1_ps(bias ? bias[o] : 0.0f);
        float *plane = out + o * out_h * out_w;
        for (long r = 0; r < tile_rows; r++) {
            long y0 = 4 * (tile_row0 + r);
            for (long t0 = 0; t0 < tile_cols; t0 += 8) {
                const float *src = m + o * t_count + r * tile_cols + t0;
                __m256 s[4][6];  // Aᵀ M
                for (int j = 0; j < 6; j++) {
                    __m256 q[6];
                    for (int i = 0; i < 6; i++) q[i] = _mm256_loadu_ps(src + (6 * i + j) * xi_stride);
                    __m256 y[4];
                    ck_at6(q, 1, y);
                    for (int k = 0; k < 4; k++) s[k][j] = y[k];
                }
                for (int k = 0; k < 4; k++) {  // (Aᵀ M) A, plus the bias
                    long yy = y0 + k;
                    if (yy >= out_h) break;
                    __m256 a[4];
                    ck_at6(s[k], 1, a);
                    for (int c = 0; c < 4; c++) a[c] = _mm256_add_ps(a[c], bv);
                    // Transpose 4x8 → columns 4t + c of the eight tiles, in order.
                    __m256 lo01 = _mm256_unpacklo_ps(a[0], a[1]), hi01 = _mm256_unpackhi_ps(a[0], a[1]);
                    __m256 lo23 = _mm256_unpacklo_ps(a[2], a[3]), hi23 = _mm256_unpackhi_ps(a[2], a[3]);
                    __m256 u0 = _mm256_castpd_ps(_mm256_unpacklo_pd(_mm256_castps_pd(lo01), _mm256_castps_pd(lo23)));
                    __m256 u1 = _mm256_castpd_ps(_mm256_unpackhi_pd(_mm256_castps_pd(lo01), _mm256_castps_pd(lo23)));
                    __m256 u2 = _mm256_castpd_ps(_mm256_unpacklo_pd(_mm256_castps_pd(hi01), _mm256_castps_pd(hi23)));
                    __m256 u3 = _mm256_castpd_ps(_mm256_unpackhi_pd(_mm256_castps_pd(hi01), _mm256_castps_pd(hi23)));
                    __m256 w[4];
                    w[0] = _mm256_permute2f128_ps(u0, u1, 0x20);  // tiles 0, 1
                    w[1] = _mm256_permute2f128_ps(u2, u3, 0x20);  // tiles 2, 3
                    w[2] = _mm256_permute2f128_ps(u0, u1, 0x31);  // tiles 4, 5
                    w[3] = _mm256_permute2f128_ps(u2, u3, 0x31);  // tiles 6, 7
                    float *row = plane + yy * out_w;
                    long x0 = 4 * t0;
                    if (x0 + 32 <= out_w) {
                        for (int c = 0; c < 4; c++) _mm256_storeu_ps(row + x0 + 8 * c, w[c]);
                    } else {
                        float tmp[32];
                        for (int c = 0; c < 4; c++) _mm256_storeu_ps(tmp + 8 * c, w[c]);
                        for (long k2 = 0; k2 < 32 && x0 + k2 < out_w; k2++) row[x0 + k2] = tmp[k2];
                    }
                }
            }
        }
    }
}

// A x for the four vectors x[0..3] (x[k·stride]), into y[0..5].
CK_W4
static inline void ck_a4(const __m256 *x, int stride, __m256 *y) {
    const __m256 two = _mm256_set1_ps(2), four = _mm256_set1_ps(4), eight = _mm256_set1_ps(8);
    __m256 x0 = x[0], x1 = x[stride], x2 = x[2 * stride], x3 = x[3 * stride];
    __m256 e = _mm256_add_ps(x0, x2), o = _mm256_add_ps(x1, x3);  // even and odd parts at ±1
    __m256 e2 = _mm256_fmadd_ps(four, x2, x0), o2 = _mm256_fmadd_ps(eight, x3, _mm256_mul_ps(two, x1));  // at ±2
    y[0] = x0;
    y[1] = _mm256_add_ps(e, o);
    y[2] = _mm256_sub_ps(e, o);
    y[3] = _mm256_add_ps(e2, o2);
    y[4] = _mm256_sub_ps(e2, o2);
    y[5] = x3;
}

CK_W4
void ck_wino4_grad_output(const float *q, long out_c, long rows_q, long wq, long tile_rows, long tile_cols, float *dm) {
    long t_count = tile_rows * tile_cols;
    long xi_stride = out_c * t_count + CK_WINO_PLANE_PAD;
    for (long o = 0; o < out_c; o++) {
        const float *plane = q + o * rows_q * wq;
        for (long r = 0; r < tile_rows; r++) {
            for (long t0 = 0; t0 < tile_cols; t0 += 8) {
                __m256 e[4][6];  // row i of the tile times Aᵀ
                for (int i = 0; i < 4; i++) {
                    __m256 d[4];
                    ck_cols4(plane + (4 * r + i) * wq + 4 * t0, d, 4);
                    ck_a4(d, 1, e[i]);
                }
                float *dst = dm + o * t_count + r * tile_cols + t0;
                for (int j = 0; j < 6; j++) {  // A (dY Aᵀ), column j
                    __m256 y[6];
                    ck_a4(&e[0][j], 6, y);
                    for (int i = 0; i < 6; i++) _mm256_storeu_ps(dst + (6 * i + j) * xi_stride, y[i]);
                }
            }
        }
    }
}

#endif
