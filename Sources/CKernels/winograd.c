#include "CKernels.h"

// Winograd F(2x2, 3x3) transforms (Lavin & Gray, "Fast Algorithms for Convolutional Neural
// Networks", 2016), for the correlation that conv2d computes. With
//   Bᵀ = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],  G = [1 0 0; ½ ½ ½; ½ -½ ½; 0 0 1],
//   Aᵀ = [1 1 1 0; 0 1 -1 -1],
// a 2x2 output tile is Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A for the 4x4 input tile d, and the
// elementwise products summed over input channels are 16 matrix products (one per position ξ of
// the 4x4 transformed tile).

#if defined(__x86_64__)
#include <immintrin.h>

// The transforms below are compiled twice: here for AVX2 (16 vector registers), and by
// winograd_avx512.c, which defines CK_WINO_VARIANT and includes this file, for AVX-512VL (the
// same 256-bit instructions on 32 registers, so a tile's 4x4 vectors stay in registers instead
// of spilling to the stack). They only add and subtract, so both builds give identical results;
// the AVX2 entry points hand over to the wider build where the processor has it.
#ifndef CK_WINO_VARIANT
#define CK_WINO_TARGET __attribute__((target("avx2")))
#define CK_WINO_NAME(f) f

void ck_wino_input_avx2_avx512(const float *p, long in_c, long rows_p, long wp, long tile_rows, long tile_cols, float *v);
void ck_wino_output_avx2_avx512(const float *m, long out_c, long tile_rows, long tile_cols, const float *bias, float *out,
                                long out_h, long out_w, long tile_row0);
void ck_wino_grad_output_avx2_avx512(const float *q, long out_c, long rows_q, long wq, long tile_rows, long tile_cols,
                                     float *dm);

#define CK_WINO_DISPATCH(call) \
    if (ck_has_avx512()) { call; return; }
#else
#define CK_WINO_DISPATCH(call)
#endif

#ifndef CK_WINO_VARIANT
void ck_wino_weights(const float *w, float *u, long out_c, long in_c) {
    long oc = out_c * in_c;
    for (long k = 0; k < oc; k++) {
        const float *g = w + 9 * k;
        float t[4][3];  // G g
        for (int j = 0; j < 3; j++) {
            float g0 = g[j], g1 = g[3 + j], g2 = g[6 + j];
            t[0][j] = g0;
            t[1][j] = 0.5f * (g0 + g1 + g2);
            t[2][j] = 0.5f * (g0 - g1 + g2);
            t[3][j] = g2;
        }
        for (int i = 0; i < 4; i++) {  // (G g) Gᵀ
            float a = t[i][0], b = t[i][1], c = t[i][2];
            u[(4 * i + 0) * oc + k] = a;
            u[(4 * i + 1) * oc + k] = 0.5f * (a + b + c);
            u[(4 * i + 2) * oc + k] = 0.5f * (a - b + c);
            u[(4 * i + 3) * oc + k] = c;
        }
    }
}

#endif

// Columns 2t+j (t = 0..7) of a row, for j = 0, 1 (from p) or 2, 3 (from p + 2).
CK_WINO_TARGET
static inline void ck_even_odd(const float *p, __m256 *even, __m256 *odd) {
    __m256 lo = _mm256_loadu_ps(p), hi = _mm256_loadu_ps(p + 8);
    __m256 e = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0));
    __m256 o = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1));
    *even = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), _MM_SHUFFLE(3, 1, 2, 0)));
    *odd = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(o), _MM_SHUFFLE(3, 1, 2, 0)));
}

CK_WINO_TARGET
void CK_WINO_NAME(ck_wino_input_avx2)(const float *p, long in_c, long rows_p, long wp, long tile_rows, long tile_cols, float *v) {
    CK_WINO_DISPATCH(ck_wino_input_avx2_avx512(p, in_c, rows_p, wp, tile_rows, tile_cols, v))
    long t_count = tile_rows * tile_cols;
    long xi_stride = in_c * t_count + CK_WINO_PLANE_PAD;
    for (long c = 0; c < in_c; c++) {
        const float *plane = p + c * rows_p * wp;
        for (long r = 0; r < tile_rows; r++) {
            for (long t0 = 0; t0 < tile_cols; t0 += 8) {
                __m256 d[4][4];
                for (int i = 0; i < 4; i++) {
                    const float *row = plane + (2 * r + i) * wp + 2 * t0;
                    ck_even_odd(row, &d[i][0], &d[i][1]);
                    ck_even_odd(row + 2, &d[i][2], &d[i][3]);
                }
                __m256 s[4][4];  // Bᵀ d
                for (int j = 0; j < 4; j++) {
                    s[0][j] = _mm256_sub_ps(d[0][j], d[2][j]);
                    s[1][j] = _mm256_add_ps(d[1][j], d[2][j]);
                    s[2][j] = _mm256_sub_ps(d[2][j], d[1][j]);
                    s[3][j] = _mm256_sub_ps(d[1][j], d[3][j]);
                }
                float *dst = v + c * t_count + r * tile_cols + t0;
                for (int i = 0; i < 4; i++) {  // (Bᵀ d) B
                    _mm256_storeu_ps(dst + (4 * i + 0) * xi_stride, _mm256_sub_ps(s[i][0], s[i][2]));
                    _mm256_storeu_ps(dst + (4 * i + 1) * xi_stride, _mm256_add_ps(s[i][1], s[i][2]));
                    _mm256_storeu_ps(dst + (4 * i + 2) * xi_stride, _mm256_sub_ps(s[i][2], s[i][1]));
                    _mm256_storeu_ps(dst + (4 * i + 3) * xi_stride, _mm256_sub_ps(s[i][1], s[i][3]));
                }
            }
        }
    }
}

CK_WINO_TARGET
void CK_WINO_NAME(ck_wino_output_avx2)(const float *m, long out_c, long tile_rows, long tile_cols, const float *bias, float *out,
                         long out_h, long out_w, long tile_row0) {
    CK_WINO_DISPATCH(ck_wino_output_avx2_avx512(m, out_c, tile_rows, tile_cols, bias, out, out_h, out_w, tile_row0))
    long t_count = tile_rows * tile_cols;
    long xi_stride = out_c * t_count + CK_WINO_PLANE_PAD;
    for (long o = 0; o < out_c; o++) {
        __m256 b = _mm256_set1_ps(bias ? bias[o] : 0.0f);
        float *plane = out + o * out_h * out_w;
        for (long r = 0; r < tile_rows; r++) {
            long y0 = 2 * (tile_row0 + r);
            for (long t0 = 0; t0 < tile_cols; t0 += 8) {
                const float *src = m + o * t_count + r * tile_cols + t0;
                __m256 q[4][4];
                for (int k = 0; k < 16; k++) q[k / 4][k % 4] = _mm256_loadu_ps(src + k * xi_stride);
                __m256 s[2][4];  // Aᵀ M
                for (int j = 0; j < 4; j++) {
                    s[0][j] = _mm256_add_ps(_mm256_add_ps(q[0][j], q[1][j]), q[2][j]);
                    s[1][j] = _mm256_sub_ps(_mm256_sub_ps(q[1][j], q[2][j]), q[3][j]);
                }
                for (int i = 0; i < 2; i++) {  // (Aᵀ M) A, plus the bias
                    long y = y0 + i;
                    if (y >= out_h) break;
                    __m256 a = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(s[i][0], s[i][1]), s[i][2]), b);
                    __m256 c = _mm256_add_ps(_mm256_sub_ps(_mm256_sub_ps(s[i][1], s[i][2]), s[i][3]), b);
                    // Interleave: columns 2t (a) and 2t+1 (c) for the eight tiles.
                    __m256 lo = _mm256_unpacklo_ps(a, c), hi = _mm256_unpackhi_ps(a, c);
                    __m256 first = _mm256_permute2f128_ps(lo, hi, 0x20), second = _mm256_permute2f128_ps(lo, hi, 0x31);
                    float *row = plane + y * out_w;
                    long x0 = 2 * t0;
                    if (x0 + 16 <= out_w) {
                        _mm256_storeu_ps(row + x0, first);
                        _mm256_storeu_ps(row + x0 + 8, second);
                    } else {
                        float tmp[16];
                        _mm256_storeu_ps(tmp, first);
                        _mm256_storeu_ps(tmp + 8, second);
                        for (long k = 0; k < 16 && x0 + k < out_w; k++) row[x0 + k] = tmp[k];
                    }
                }
            }
        }
    }
}


CK_WINO_TARGET
void CK_WINO_NAME(ck_wino_grad_output_avx2)(const float *q, long out_c, long rows_q, long wq, long tile_rows, long tile_cols, float *dm) {
    CK_WINO_DISPATCH(ck_wino_grad_output_avx2_avx512(q, out_c, rows_q, wq, tile_rows, tile_cols, dm))
    long t_count = tile_rows * tile_cols;
    long xi_stride = out_c * t_count + CK_WINO_PLANE_PAD;
    for (long o = 0; o < out_c; o++) {
        const float *plane = q + o * rows_q * wq;
        for (long r = 0; r < tile_rows; r++) {
            for (long t0 = 0; t0 < tile_cols; t0 += 8) {
                __m256 y[2][2];
                for (int i = 0; i < 2; i++) ck_even_odd(plane + (2 * r + i) * wq + 2 * t0, &y[i][0], &y[i][1]);
                __m256 s[4][2];  // A dY
                for (int j = 0; j < 2; j++) {
                    s[0][j] = y[0][j];
                    s[1][j] = _mm256_add_ps(y[0][j], y[1][j]);
                    s[2][j] = _mm256_sub_ps(y[0][j], y[1][j]);
                    s[3][j] = _mm256_sub_ps(_mm256_setzero_ps(), y[1][j]);
                }
                float *dst = dm + o * t_count + r * tile_cols + t0;
                for (int i = 0; i < 4; i++) {  // (A dY) Aᵀ
                    _mm256_storeu_ps(dst + (4 * i + 0) * xi_stride, s[i][0]);
                    _mm256_storeu_ps(dst + (4 * i + 1) * xi_stride, _mm256_add_ps(s[i][0], s[i][1]));
                    _mm256_storeu_ps(dst + (4 * i + 2) * xi_stride, _mm256_sub_ps(s[i][0], s[i][1]));
                    _mm256_storeu_ps(dst + (4 * i + 3) * xi_stride, _mm256_sub_ps(_mm256_setzero_ps(), s[i][1]));
                }
            }
        }
    }
}

#ifndef CK_WINO_VARIANT
void ck_wino_weights_grad(const float *du, float *dw, long out_c, long in_c) {
    long oc = out_c * in_c;
    for (long k = 0; k < oc; k++) {
        float d[4][4], t[3][4];
        for (int x = 0; x < 16; x++) d[x / 4][x % 4] = du[x * oc + k];
        for (int j = 0; j < 4; j++) {  // Gᵀ dU
            t[0][j] = d[0][j] + 0.5f * (d[1][j] + d[2][j]);
            t[1][j] = 0.5f * (d[1][j] - d[2][j]);
            t[2][j] = 0.5f * (d[1][j] + d[2][j]) + d[3][j];
        }
        float *g = dw + 9 * k;
        for (int i = 0; i < 3; i++) {  // (Gᵀ dU) G
            g[3 * i + 0] = t[i][0] + 0.5f * (t[i][1] + t[i][2]);
            g[3 * i + 1] = 0.5f * (t[i][1] - t[i][2]);
            g[3 * i + 2] = 0.5f * (t[i][1] + t[i][2]) + t[i][3];
        }
    }
}
#endif

#endif
