import TensorEngine

#if arch(x86_64)
    import CKernels
#endif

/// Group-wise integer fake quantization with microscaling (MX, E8M0) scales, as one fused pass
/// per direction: the composition that `RescalingIntQuant` builds for `MXInt8Weight` /
/// `MXInt8Act` (`GroupwiseStatsScaling` with `AbsMax` and a floored power of two, zero point 0,
/// `FakeQuantize.apply` per group), with the same results bit for bit.
///
/// For each group `x_g` of `groupSize` consecutive elements (`[groups, groupSize]` in memory):
///
///     m = max|x_g|  (the first maximum, or the first NaN, at index j)
///     c = max(m, minScale)   (Brevitas `scaling_min_val`, 1e-10 by default; none when 0)
///     p = 2^floor(log2 c),   s = p / t                       (t: the restricted threshold, 128 for int8)
///     y = (clamp(round(x / s), minInt, maxInt)) · s           (half-to-even)
///
/// Gradients, as the composed graph computes them (G the upstream gradient): the input gets
/// `FakeQuantize`'s gradient (G, or 0 where clipped with a select clamp) plus, at each group's
/// maximum `x_j`, `sign(x_j) · g_m` with `g_m = ((g_s / t) · (p · ln2)) · (1 / (c · ln2))` (the
/// backward of the division, `exp2`, the straight-through floor and minimum, and `log2`), `g_s` the group's
/// scale gradient Σ G·(q − x/s) (clipped elements: Σ G·q). Elsewhere the statistic adds a signed
/// zero (−0 where x < 0), as `abs`'s backward of the max's zero scatter does.
///
/// A weight `[1024, 1024]` grouped by 32 along dim 1 reads and writes each element once per
/// direction instead of building `|x|`, the max's scatter and their sum as full tensors.
///
/// ```swift
/// let (y, s) = MXIntFakeQuantize.apply(w, groupSize: 32, scaleShape: [1024, 32, 1, 1], threshold: 128,
///                                      minScale: 1e-10, minInt: -128, maxInt: 127, clampSte: true)
/// ```
public enum MXIntFakeQuantize {
    /// Whether the fused kernels can run here (they use AVX2; elsewhere the composed path runs).
    public static var isAvailable: Bool { FakeQuantize.hasAVX2 }

    /// `ln2` exactly as the composed `log2` and `exp2` gradients round it.
    static let ln2: Float = 0.6931471805599453

    /// Per-group values the forward computes and both backward rules read.
    final class GroupValues: @unchecked Sendable {
        let scale: Tensor, stat: Tensor, pow2: Tensor
        let index: UnsafeMutablePointer<Int32>
        init(groups: Int) {
            scale = Tensor.empty([groups])
            stat = Tensor.empty([groups])
            pow2 = Tensor.empty([groups])
            index = .allocate(capacity: Swift.max(groups, 1))
        }
        deinit { index.deallocate() }
    }

    /// Fake-quantizes `x` (its elements in consecutive groups of `groupSize`) and returns the
    /// value (shape of `x`) and the per-group scales (reshaped to `scaleShape`), each with its
    /// gradient to `x`. `threshold` is the restricted threshold `t`, `minScale` the smallest
    /// statistic (0: none); `clampSte` keeps the
    /// gradient of clipped elements (weights) instead of zeroing it (activations).
    public static func apply(
        _ x: Tensor, groupSize: Int, scaleShape: [Int], threshold: Float, minScale: Float, minInt: Float, maxInt: Float,
        clampSte: Bool
    ) -> (value: Tensor, scale: Tensor) {
        precondition(minScale >= 0, "MXIntFakeQuantize: the minimum scale statistic must be >= 0, got \(minScale)")
        precondition(isAvailable, "MXIntFakeQuantize: the fused kernels need a processor with AVX2")
        precondition(groupSize > 0 && x.count % groupSize == 0,
                     "MXIntFakeQuantize: \(x.count) elements of shape \(x.shape) do not split into groups of \(groupSize)")
        let groups = x.count / groupSize
        precondition(scaleShape.reduce(1, *) == groups, "MXIntFakeQuantize: scale shape \(scaleShape) does not hold \(groups) groups")
        let out = Tensor.empty(x.shape)
        let v = GroupValues(groups: groups)
        #if arch(x86_64)
            let px = x.storage.pointer, po = out.storage.pointer
            let ps = v.scale.storage.pointer, pm = v.stat.storage.pointer, pp = v.pow2.storage.pointer, pi = v.index
            Parallel.forRanges(groups, costPerItem: groupSize) { r in
                let o = r.lowerBound
                ck_mx_int_forward_avx2(px + o * groupSize, po + o * groupSize, r.count, groupSize, threshold, minScale, minInt, maxInt,
                                       ps + o, pm + o, pp + o, pi + o)
            }
        #endif
        let dx = x.detach()
        let selectClamp: Int32 = clampSte ? 0 : 1
        let value = Autograd.record("mx_int_quant", output: out, inputs: [x]) { g in
            let gx = Tensor.empty(dx.shape)
            #if arch(x86_64)
                let px = dx.storage.pointer, pg = g.storage.pointer, pgx = gx.storage.pointer
                let ps = v.scale.storage.pointer, pm = v.stat.storage.pointer, pp = v.pow2.storage.pointer, pi = v.index
                Parallel.forRanges(groups, costPerItem: 2 * groupSize) { r in
                    let o = r.lowerBound
                    ck_mx_int_backward_avx2(px + o * groupSize, pg + o * groupSize, pgx + o * groupSize, r.count, groupSize,
                                            threshold, ln2, minScale, minInt, maxInt, selectClamp, ps + o, pm + o, pp + o, pi + o)
                }
            #endif
            return [gx]
        }
        let scale = Tensor(shape: scaleShape, storage: v.scale.storage)
        let scaleOut = Autograd.record("mx_scale", output: scale, inputs: [x]) { g in
            let gx = Tensor.empty(dx.shape)
            #if arch(x86_64)
                ck_mx_scale_grad(dx.storage.pointer, g.storage.pointer, gx.storage.pointer, groups, groupSize, threshold, ln2,
                                 minScale, v.stat.storage.pointer, v.pow2.storage.pointer, v.index)
            #endif
            return [gx]
        }
        return (value, scaleOut)
    }
}
