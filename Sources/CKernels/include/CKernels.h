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

/// The widest vector instructions this processor and operating system run: 2 for AVX-512
/// F/CD/BW/DQ/VL (OpenBLAS's SkylakeX kernels), 1 for AVX2 with FMA (its Haswell kernels), 0
/// otherwise.
int ck_vector_level(void);

/// Whether the AVX-512 kernels may run (`ck_vector_level() == 2`), decided once and cached for
/// the hot dispatch paths (a racing first call decides the same).
int ck_has_avx512(void);

/// Forward of integer fake quantization over `n` elements with one scale and zero point:
/// `y = (clamp(round_half_even(x'/s + z), lo, hi) - z) * s`, `x' = max(x, 0)` when `relu`.
/// Runs as `ck_fq_forward_avx512` where the processor has AVX-512 (same results). `stream`
/// (a hint, for outputs far larger than the caches) writes with non-temporal stores where it can.
void ck_fq_forward_avx2(const float *x, float *y, long n, float s, float z, float lo, float hi, int relu, int stream);

/// Backward of the same: writes the input gradient `gx` (when not null) and adds the scale
/// partial sum to `*acc_s` and the sum of upstream gradients of clipped elements to `*acc_z`.
/// `select_clamp` selects activations' clamp (clipped elements pass no gradient to x). Runs as
/// `ck_fq_backward_avx512` where the processor has AVX-512 (same results, same summation
/// order); `stream` as in the forward.
void ck_fq_backward_avx2(const float *x, const float *g, float *gx, long n, float s, float z, float lo, float hi,
                         int select_clamp, int relu, int stream, double *acc_s, double *acc_z);

/// The same two kernels on 16-float AVX-512 vectors (only where `ck_vector_level()` is 2).
void ck_fq_forward_avx512(const float *x, float *y, long n, float s, float z, float lo, float hi, int relu, int stream);
void ck_fq_backward_avx512(const float *x, const float *g, float *gx, long n, float s, float z, float lo, float hi,
                           int select_clamp, int relu, int stream, double *acc_s, double *acc_z);

/// Group-wise MX integer fake quantization (QuantCore/MXIntFakeQuantize.swift) of `groups`
/// contiguous groups of `group_size` elements: per group, m = max|x| (the first maximum, or the
/// first NaN), c = max(m, min_val) (with a sign, as `signedClampMin`; m when `min_val` is 0),
/// p = 2^floor(log2 c), s = p / t, and the group through `ck_fq_forward_avx2` with scale s and
/// zero point 0. Writes s, m, p and the index of m in its group per group.
void ck_mx_int_forward_avx2(const float *x, float *y, long groups, long group_size, float t, float min_val, float lo,
                            float hi, float *scale, float *stat, float *pow2, int *index);

/// Backward of the same: the input gradient `gx` of `ck_fq_backward_avx2` plus, at each group's
/// maximum, the gradient of its scale carried back through s = p / t, the straight-through
/// floor, the minimum, log2 and |x| (`ln2` as the composed operations use it).
void ck_mx_int_backward_avx2(const float *x, const float *g, float *gx, long groups, long group_size, float t,
                             float ln2, float min_val, float lo, float hi, int select_clamp, const float *scale,
                             const float *stat, const float *pow2, const int *index);

/// The input gradient `gx` from the gradient `gs` of the per-group scales alone (one per group),
/// through the same chain: ±g at each group's maximum, a signed zero elsewhere.
void ck_mx_scale_grad(const float *x, const float *gs, float *gx, long groups, long group_size, float t, float ln2,
                      float min_val, const float *stat, const float *pow2, const int *index);

/// Forward of minifloat fake quantization (QuantCore/MinifloatQuantize.swift) over the first
/// `n - n % 8` elements, which it returns: `y = clamp_special(grid(x / s)) * s` with the scale
/// `s[0]` (`s_stride` 0) or `s[i]` (`s_stride` 1). `m`, `min_k` (`1 - bias - m`), `max_v` are the
/// format's; `over` / `under` what values past `±max_v` become (`±max_v`, `±inf` or NaN).
long ck_mf_forward_avx2(const float *x, const float *s, long s_stride, float *y, long n,
                        int m, int min_k, float max_v, float over, float under);

/// Backward of the same over the first `n - n % 8` elements (returned): writes the input
/// gradient `gx` and the element-wise scale gradient `gs` (each when not null), and adds the
/// scale gradients to `*acc_s` (when not null) one by one in element order, in double.
long ck_mf_backward_avx2(const float *x, const float *s, long s_stride, const float *g, float *gx, float *gs,
                         double *acc_s, long n, int m, int min_k, float max_v);

/// Winograd F(2x2, 3x3) weight transform: `w` is `[out_c, in_c, 3, 3]`; writes
/// `u[ξ][o][c]` (16 · out_c · in_c floats), ξ = 4·row + column of the transformed tile.
void ck_wino_weights(const float *w, float *u, long out_c, long in_c);

/// Floats between consecutive ξ planes of transformed tiles beyond their `channels · tiles`
/// (`v`, `m` and `dm` below): one cache line, so that the 16 planes a transform writes or reads
/// at once do not all fall into the same cache sets, as planes of a power-of-two size would.
#define CK_WINO_PLANE_PAD 16

/// Input transform of `tile_rows` x `tile_cols` tiles (`tile_cols` a multiple of 8) for every
/// channel: `p` holds `in_c` zero-padded planes of `rows_p` x `wp` floats (`rows_p >= 2·tile_rows
/// + 2`, `wp >= 2·tile_cols + 2`), tile (r, t) reading rows 2r..2r+3 and columns 2t..2t+3.
/// Writes `v[ξ][c][r·tile_cols + t]`, ξ planes `in_c·tiles + CK_WINO_PLANE_PAD` floats apart.
void ck_wino_input_avx2(const float *p, long in_c, long rows_p, long wp, long tile_rows, long tile_cols, float *v);

/// Output transform of the products `m[ξ][o][r·tile_cols + t]` (ξ planes `out_c·tiles +
/// CK_WINO_PLANE_PAD` floats apart): writes the 2x2 outputs of tile
/// (r, t) plus `bias[o]` (when not null) at rows `2·(tile_row0 + r) + 0/1`, columns `2t + 0/1`
/// of `out` (`out_c` planes of `out_h` x `out_w`), skipping those outside it.
void ck_wino_output_avx2(const float *m, long out_c, long tile_rows, long tile_cols, const float *bias, float *out,
                         long out_h, long out_w, long tile_row0);

/// Transform of output-gradient tiles for the weight gradient: `q` holds `out_c` zero-padded
/// planes of `rows_q` x `wq` floats (`rows_q >= 2·tile_rows`, `wq >= 2·tile_cols`), tile
/// (r, t) reading rows 2r, 2r+1 and columns 2t, 2t+1. Writes `dm[ξ][o][r·tile_cols + t]` =
/// A dY Aᵀ, ξ planes `out_c·tiles + CK_WINO_PLANE_PAD` floats apart.
void ck_wino_grad_output_avx2(const float *q, long out_c, long rows_q, long wq, long tile_rows, long tile_cols, float *dm);

/// Weight gradient from the gradient of the transformed weights: `dw[o][c]` (3x3) =
/// Gᵀ `du[ξ][o][c]` G.
void ck_wino_weights_grad(const float *du, float *dw, long out_c, long in_c);

/// Winograd F(4x4, 3x3) (winograd4.c): the same roles as the F(2x2, 3x3) functions above, with
/// 6x6 transformed tiles (36 ξ planes, ξ = 6·row + column) and 4x4 output tiles. All but the two
/// weight transforms need AVX-512 (`ck_vector_level() == 2`).
/// `u[ξ][o][c]` (36 · out_c · in_c floats) from `w` `[out_c, in_c, 3, 3]`.
void ck_wino4_weights(const float *w, float *u, long out_c, long in_c);
/// Kernels `k0 ..< k1` of the same transform (`oc` = out_c·in_c floats between positions ξ), eight
/// kernels per vector; the same bits as `ck_wino4_weights_scalar`, the one-kernel-at-a-time loop.
void ck_wino4_weights_range(const float *w, float *u, long k0, long k1, long oc);
void ck_wino4_weights_scalar(const float *w, float *u, long out_c, long in_c);
/// Input tiles: tile (r, t) reads rows 4r..4r+5 and columns 4t..4t+5 of the `in_c` padded planes
/// of `rows_p` x `wp` floats (`rows_p >= 4·tile_rows + 2`, `wp >= 4·tile_cols + 2`, and 16
/// readable floats after the last plane); writes `v[ξ][c][r·tile_cols + t]`.
void ck_wino4_input(const float *p, long in_c, long rows_p, long wp, long tile_rows, long tile_cols, float *v);
/// Output tiles: the 4x4 outputs of tile (r, t) plus `bias[o]` at rows `4·(tile_row0 + r) + 0..3`,
/// columns `4t + 0..3` of `out`, skipping those outside it.
void ck_wino4_output(const float *m, long out_c, long tile_rows, long tile_cols, const float *bias, float *out,
                     long out_h, long out_w, long tile_row0);
/// Output-gradient tiles `A dY Aᵀ` (tile (r, t) reads rows 4r..4r+3, columns 4t..4t+3 of planes
/// of `rows_q` x `wq` floats, `rows_q >= 4·tile_rows`, `wq >= 4·tile_cols`).
void ck_wino4_grad_output(const float *q, long out_c, long rows_q, long wq, long tile_rows, long tile_cols, float *dm);
/// `dw[o][c]` (3x3) = Gᵀ `du[ξ][o][c]` G.
void ck_wino4_weights_grad(const float *du, float *dw, long out_c, long in_c);

/// The per-plane loops of training BatchNorm over `s` contiguous floats (batch_norm.c), bit for
/// bit those of `BatchNormKernels` in TensorEngine/Tensor+BatchNorm.swift (same operations, same
/// summation order), on AVX2 or AVX-512 vectors: Σ p, Σ (p − mu)², `dst = src·scale + shift`
/// (then max(·, 0), NaN kept, with `relu`), (Σ g', Σ g'·(x − mu)) with g' = g where `y` > 0 (all
/// of g when `y` is null), and `gx = k·((g' − mean_g) − (x − mu)·inv·mean_gx)`.
float ck_bn_sum(const float *p, long s);
float ck_bn_squared_deviations(const float *p, long s, float mu);
void ck_bn_affine(const float *src, float *dst, long s, float scale, float shift, int relu);
void ck_bn_gradient_sums(const float *g, const float *x, const float *y, long s, float mu, float *sum_g, float *sum_gx);
void ck_bn_input_gradient(const float *g, const float *x, const float *y, float *gx, long s, float mu, float inv, float k,
                          float mean_g, float mean_gx);

/// The same for BatchNorm + ReLU + per-tensor fake quantization (scale `qs`, zero point `qz`,
/// codes in [lo, hi]), bit for bit `BatchNormQuantKernels` in Tensor+BatchNormQuant.swift:
/// `y = FakeQuant(max(x·scale + shift, 0))`, or `FakeQuant(x·scale + shift)` when `relu` is 0 (a
/// signed quantizer after a BatchNorm); the gradient sums write `sums` = (Σ g', Σ g'·(x − mu)) and
/// `quant_sums` = (the scale sum, Σ_clipped g) of one plane; the input gradient as above.
void ck_bnq_forward(const float *x, float *y, long s, float scale, float shift, int relu, float qs, float qz, float lo,
                    float hi);
void ck_bnq_gradient_sums(const float *g, const float *x, long s, float scale, float shift, int relu, float mu, float qs,
                          float qz, float lo, float hi, float *sums, double *quant_sums);
void ck_bnq_input_gradient(const float *g, const float *x, float *gx, long s, float scale, float shift, int relu,
                           float qs, float qz, float lo, float hi, float mu, float inv, float k, float mean_g,
                           float mean_gx);
/// One piece (a multiple of 8 floats inside one plane) of the same gradient sums taken in
/// FakeQuantize's order: `acc` = 8-lane accumulators (chunk scale sum, chunk clipped sum, plane
/// Σ g', plane Σ g'·(x − mu)), read and written back; `ck_bnq_lanes` adds the 8 lanes at `acc`.
void ck_bnq_flat_sums(const float *g, const float *x, long count, float scale, float shift, int relu, float mu, float qs,
                      float qz, float lo, float hi, float *acc);
float ck_bnq_lanes(const float *acc);

/// A quantized residual tail, y = FakeQuant_out(max(a + FakeQuant_in(x), 0)), over `n` floats
/// (quant_add.c), bit for bit `QuantAddReLUKernels` in TensorEngine/Tensor+QuantAddReLU.swift:
/// the input quantizer (scale `si`, zero point `zi`, codes in [loi, hii]) on x, the output one
/// (`so`, `zo`, [loo, hio]) after the ReLU. The backward writes `ga` = G where the output code
/// neither clipped nor was cut by the ReLU, else 0, and `gx` = `ga` where x's code did not clip
/// (each when not null), and `sums` = (input scale sum, Σ_clipped of x's ga, output scale sum,
/// Σ_clipped G) in FakeQuantize's order. With `quant_x` 0, x is added as it is (no input quantizer;
/// its two sums are then meaningless).
void ck_qadd_forward(const float *a, const float *x, float *y, long n, int quant_x, float si, float zi, float loi,
                     float hii, float so, float zo, float loo, float hio);
void ck_qadd_backward(const float *g, const float *a, const float *x, float *ga, float *gx, long n, int quant_x, float si,
                      float zi, float loi, float hii, float so, float zo, float loo, float hio, double *sums);

#endif

/// im2col and col2im over one zero-padded channel plane (im2col.c; every architecture, AVX2
/// row moves on x86-64 where the processor has them). `pp` holds the channel with `p_h` rows and
/// `p_w` columns of zeros on each side, `pad_w` floats per row. `ck_im2col_plane` writes the
/// k_h·k_w column rows of `out_h·out_w` floats, `ld` apart, `col[(ki·k_w + kj)·ld + oh·out_w + ow]
/// = pp[(oh·s_h + ki·d_h)·pad_w + kj·d_w + ow·s_w]`; `ck_col2im_plane` adds every column element
/// back to where it was read (taps, then rows, then columns in order). A stride-2 row reads (and
/// col2im writes +0 to) one float past its last one: leave a few floats of slack after the plane.
/// `ck_pad_plane` / `ck_unpad_plane` copy an `in_h x in_w` plane into / out of the interior.
void ck_im2col_plane(const float *pp, long pad_w, long out_h, long out_w, long k_h, long k_w, long s_h, long s_w,
                     long d_h, long d_w, float *col, long ld);
void ck_col2im_plane(const float *col, long ld, float *pp, long pad_w, long out_h, long out_w, long k_h, long k_w,
                     long s_h, long s_w, long d_h, long d_w);
void ck_pad_plane(const float *src, long in_h, long in_w, float *pp, long pad_w, long p_h, long p_w);
void ck_unpad_plane(const float *pp, long pad_w, long p_h, long p_w, float *dst, long in_h, long in_w);

/// Copies `rows` rows of `w` floats, `src_stride` floats apart, to rows `dst_stride` apart, and
/// writes `zero_left` zeros just before and `zero_right` zeros just after each destination row
/// (copy_rows.c; every architecture, AVX2 moves on x86-64 where the processor has them).
void ck_copy_rows(const float *src, long src_stride, float *dst, long dst_stride, long rows, long w, long zero_left,
                  long zero_right);

#ifdef __cplusplus
}
#endif

#endif
