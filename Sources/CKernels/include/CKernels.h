#ifndef CKERNELS_H
#define CKERNELS_H

/// Hand-vectorised kernels for the hot loops of fake quantization, built for AVX2 and chosen at
/// run time (Swift cannot compile one function for a wider instruction set than the package's
/// baseline; C can, with a target attribute). Each kernel has the exact semantics of the Swift
/// loop it replaces (see QuantCore/FakeQuantize.swift); `ck_has_avx2()` says whether they may
/// be called on this processor. They exist on x86-64 only (`#if arch(x86_64)` in Swift).

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__x86_64__)

/// 1 when the AVX2 kernels below can run on this processor.
int ck_has_avx2(void);

/// Forward of integer fake quantization over `n` elements with one scale and zero point:
/// `y = (clamp(round_half_even(x'/s + z), lo, hi) - z) * s`, `x' = max(x, 0)` when `relu`.
void ck_fq_forward_avx2(const float *x, float *y, long n, float s, float z, float lo, float hi, int relu);

/// Backward of the same: writes the input gradient `gx` (when not null) and adds the scale
/// partial sum to `*acc_s` and the sum of upstream gradients of clipped elements to `*acc_z`.
/// `select_clamp` selects activations' clamp (clipped elements pass no gradient to x).
void ck_fq_backward_avx2(const float *x, const float *g, float *gx, long n, float s, float z, float lo, float hi,
                         int select_clamp, int relu, double *acc_s, double *acc_z);

#endif

#ifdef __cplusplus
}
#endif

#endif
