#include "CKernels.h"

// im2col and col2im over one zero-padded channel plane (ConvGeometry+Im2col.swift).
//
// The plane `pp` is the channel with `p_h`/`p_w` rows/columns of zeros around it, `pad_w` floats
// per row. The column row of tap (ki, kj) is
//     col[(ki·k_w + kj)·ld + oh·out_w + ow] = pp[(oh·s_h + ki·d_h)·pad_w + kj·d_w + ow·s_w],
// which never leaves the padded plane, so the loops need no bounds checks. col2im is the adjoint:
// each column element is added to the padded-plane element it was read from, taps in order
// (ki, kj), then rows oh, then columns ow: per element, the same additions in the same order as
// the bounds-checked loop over the unpadded plane (additions that land in the border are
// dropped with it).
//
// On x86-64 with AVX2 the row loops move 8 floats per instruction (a row of a 8x8 or 16x16 map
// is one or two moves, where the per-row bookkeeping of a scalar loop costs more than the copy);
// the results are the same bits (copies, and one addition per element either way).

#if defined(__x86_64__)
#include <immintrin.h>

static const int ck_tail_table[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

// A mask of the first r (1...7) lanes.
__attribute__((target("avx2"))) static inline __m256i tail_mask(long r) {
    return _mm256_loadu_si256((const __m256i *)(ck_tail_table + 8 - r));
}

// The rows of one tap: out_h rows of out_w floats from `s` (rows `step` floats apart, columns
// `s_w` apart) to consecutive rows at `d`. The common widths get straight-line moves.
__attribute__((target("avx2"))) static void tap_rows(const float *s, long step, long s_w, long out_h, long out_w,
                                                       float *d) {
    if (s_w == 1) {
        if (out_w == 8) {
            for (long oh = 0; oh < out_h; oh++, s += step, d += 8) _mm256_storeu_ps(d, _mm256_loadu_ps(s));
            return;
        }
        if (out_w == 16) {
            for (long oh = 0; oh < out_h; oh++, s += step, d += 16) {
                _mm256_storeu_ps(d, _mm256_loadu_ps(s));
                _mm256_storeu_ps(d + 8, _mm256_loadu_ps(s + 8));
            }
            return;
        }
        long full = out_w & ~7L, r = out_w - full;
        __m256i m = r ? tail_mask(r) : _mm256_setzero_si256();
        for (long oh = 0; oh < out_h; oh++, s += step, d += out_w) {
            for (long i = 0; i < full; i += 8) _mm256_storeu_ps(d + i, _mm256_loadu_ps(s + i));
            if (r) _mm256_maskstore_ps(d + full, m, _mm256_maskload_ps(s + full, m));
        }
        return;
    }
    if (s_w == 2) {
        // Even floats of 16 consecutive ones: shuffle within 128-bit lanes, then put the two
        // middle quarters in order.
        long full = out_w & ~7L;
        for (long oh = 0; oh < out_h; oh++, s += step, d += out_w) {
            for (long i = 0; i < full; i += 8) {
                __m256 a = _mm256_loadu_ps(s + 2 * i), b = _mm256_loadu_ps(s + 2 * i + 8);
                __m256 e = _mm256_shuffle_ps(a, b, 0x88);
                _mm256_storeu_ps(d + i, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), 0xD8)));
            }
            for (long i = full; i < out_w; i++) d[i] = s[2 * i];
        }
        return;
    }
    for (long oh = 0; oh < out_h; oh++, s += step, d += out_w)
        for (long i = 0; i < out_w; i++) d[i] = s[i * s_w];
}

__attribute__((target("avx2"))) static void im2col_avx2(const float *pp, long pad_w, long out_h, long out_w, long k_h,
                                                          long k_w, long s_h, long s_w, long d_h, long d_w, float *col,
                                                          long ld) {
    for (long ki = 0; ki < k_h; ki++)
        for (long kj = 0; kj < k_w; kj++)
            tap_rows(pp + ki * d_h * pad_w + kj * d_w, s_h * pad_w, s_w, out_h, out_w, col + (ki * k_w + kj) * ld);
}

__attribute__((target("avx2"))) static void col2im_avx2(const float *col, long ld, float *pp, long pad_w, long out_h,
                                                          long out_w, long k_h, long k_w, long s_h, long s_w, long d_h,
                                                          long d_w) {
    long full = out_w & ~7L, r = out_w - full;
    __m256i m = r ? tail_mask(r) : _mm256_setzero_si256();
    __m256 zero = _mm256_setzero_ps();
    for (long ki = 0; ki < k_h; ki++) {
        for (long kj = 0; kj < k_w; kj++) {
            const float *s = col + (ki * k_w + kj) * ld;
            for (long oh = 0; oh < out_h; oh++, s += out_w) {
                float *d = pp + (oh * s_h + ki * d_h) * pad_w + kj * d_w;
                if (s_w == 1) {
                    for (long i = 0; i < full; i += 8)
                        _mm256_storeu_ps(d + i, _mm256_add_ps(_mm256_loadu_ps(d + i), _mm256_loadu_ps(s + i)));
                    if (r) {
                        __m256 v = _mm256_add_ps(_mm256_maskload_ps(d + full, m), _mm256_maskload_ps(s + full, m));
                        _mm256_maskstore_ps(d + full, m, v);
                    }
                } else if (s_w == 2) {
                    // s0..s7 to the even floats of d[0..16); the odd ones get +0, which leaves
                    // every value the sums here can hold unchanged (they start at +0, so they
                    // are never -0).
                    for (long i = 0; i < full; i += 8) {
                        __m256 v = _mm256_loadu_ps(s + i);
                        __m256 lo = _mm256_unpacklo_ps(v, zero), hi = _mm256_unpackhi_ps(v, zero);
                        float *dd = d + 2 * i;
                        _mm256_storeu_ps(dd, _mm256_add_ps(_mm256_loadu_ps(dd), _mm256_permute2f128_ps(lo, hi, 0x20)));
                        _mm256_storeu_ps(dd + 8,
                                         _mm256_add_ps(_mm256_loadu_ps(dd + 8), _mm256_permute2f128_ps(lo, hi, 0x31)));
                    }
                    for (long i = full; i < out_w; i++) d[2 * i] += s[i];
                } else {
                    for (long i = 0; i < out_w; i++) d[i * s_w] += s[i];
                }
            }
        }
    }
}
#endif

void ck_pad_plane(const float *src, long in_h, long in_w, float *pp, long pad_w, long p_h, long p_w) {
    ck_copy_rows(src, in_w, pp + p_h * pad_w + p_w, pad_w, in_h, in_w, 0, 0);
}

void ck_unpad_plane(const float *pp, long pad_w, long p_h, long p_w, float *dst, long in_h, long in_w) {
    ck_copy_rows(pp + p_h * pad_w + p_w, pad_w, dst, in_w, in_h, in_w, 0, 0);
}

void ck_im2col_plane(const float *pp, long pad_w, long out_h, long out_w, long k_h, long k_w, long s_h, long s_w,
                     long d_h, long d_w, float *col, long ld) {
#if defined(__x86_64__)
    if (ck_has_avx2()) {
        im2col_avx2(pp, pad_w, out_h, out_w, k_h, k_w, s_h, s_w, d_h, d_w, col, ld);
        return;
    }
#endif
    for (long ki = 0; ki < k_h; ki++) {
        for (long kj = 0; kj < k_w; kj++) {
            float *d = col + (ki * k_w + kj) * ld;
            for (long oh = 0; oh < out_h; oh++, d += out_w) {
                const float *s = pp + (oh * s_h + ki * d_h) * pad_w + kj * d_w;
                for (long i = 0; i < out_w; i++) d[i] = s[i * s_w];
            }
        }
    }
}

void ck_col2im_plane(const float *col, long ld, float *pp, long pad_w, long out_h, long out_w, long k_h, long k_w,
                     long s_h, long s_w, long d_h, long d_w) {
#if defined(__x86_64__)
    if (ck_has_avx2()) {
        col2im_avx2(col, ld, pp, pad_w, out_h, out_w, k_h, k_w, s_h, s_w, d_h, d_w);
        return;
    }
#endif
    for (long ki = 0; ki < k_h; ki++) {
        for (long kj = 0; kj < k_w; kj++) {
            const float *s = col + (ki * k_w + kj) * ld;
            for (long oh = 0; oh < out_h; oh++, s += out_w) {
                float *d = pp + (oh * s_h + ki * d_h) * pad_w + kj * d_w;
                for (long i = 0; i < out_w; i++) d[i * s_w] += s[i];
            }
        }
    }
}
