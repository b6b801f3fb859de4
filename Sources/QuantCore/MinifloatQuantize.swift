import TensorEngine

#if arch(x86_64)
    import CKernels
#endif

/// The fused minifloat fake-quantization kernel behind Brevitas's `FloatQuant` + `FloatClamp`:
///
///     y = x / s
///     k = max(floor(log2(|y| + tiny)) − m, 1 − b − m)        tiny = 2^−126
///     q = 2^k · round_half_even(y / 2^k)                       (mantissa rounding; subnormals
///                                                               below 2^(1−b) use the step 2^(1−b−m))
///     q = clamp(q, −M, M)                                      M = format.maxValue
///     non-saturating: |q_unclamped| > M → ±inf (formats with inf codes) or NaN
///     out = q · s
///
/// An infinite or NaN `y` gives NaN in every mode (Brevitas computes `inf / inf`). The sign of
/// zero is kept. `scale` is per tensor (`[]`), per channel (one dimension ≠ 1, e.g. `[C, 1]`,
/// `[1, C, 1, 1]`), or has the full shape of `x` (one scale per element, as group-wise
/// quantizers expand theirs). Forward and backward are one pass over memory each: on x86-64
/// with AVX2, the kernels `ck_mf_forward_avx2` / `ck_mf_backward_avx2` of `CKernels` (eight
/// lanes, exponent read from the float's bits, no `frexp`/`log2`), bit for bit the scalar
/// definition below (`quantizeUnclamped`, `clampSpecial`, `elementGrad`), which also serves
/// other processors and the tails. The per-tensor / per-channel scale gradient is summed in
/// Double in element order within fixed segments, so no result depends on the thread count.
///
/// Gradients (Brevitas's: the round and the exponent `floor` are straight-through, so the
/// gradient also flows through `2^k`). With `G` the upstream gradient:
///
/// | element | dq/dy | dL/dx | dL/ds |
/// |---|---|---|---|
/// | `k` from the exponent (`floor(log2|y|) − m ≥ 1 − b − m`) | `1 + sign(y)(q − y)/(|y| + tiny)` | `G·dq/dy` | `G·(q − dq/dy·y)` |
/// | subnormal range (the `max` takes `1 − b − m`) | 1 | `G` | `G·(q − y)` |
/// | `|q_unclamped| > M` (clamped) | 0 | 0 | `G·(±M)` |
///
/// Example: e4m3, `s = 1`, `x = 1.1` → `q = 1.125`, `dq/dy = 1 + 0.025/1.1 = 1.0227`.
public enum MinifloatQuantize {
    /// Constants of one format, in the units of the unscaled minifloat.
    @usableFromInline struct Consts {
        let m: Int
        let minK: Int
        let maxValue: Float
        let saturating: Bool
        let overflowToInf: Bool
        /// What a value past `±maxValue` becomes: `±maxValue`, `±inf` or NaN (a positive one).
        let overflow: Float, underflow: Float

        init(_ f: MinifloatFormat) {
            m = f.mantissaBitWidth
            minK = f.minInternalExponent
            maxValue = f.maxValue
            saturating = f.saturating
            overflowToInf = f.infValues != nil
            overflow = saturating ? maxValue : (overflowToInf ? .infinity : .nan)
            underflow = saturating ? -maxValue : (overflowToInf ? -.infinity : .nan)
        }
    }

    /// One element's quantization: the unclamped `q` (NaN for a non-finite `y`) and whether the
    /// exponent term passes gradient (`k` not held at its minimum).
    @inline(__always)
    static func quantizeUnclamped(_ y: Float, _ c: Consts) -> (q: Float, expGrad: Bool) {
        guard y.isFinite else { return (.nan, false) }
        let v = Swift.abs(y) + Float.leastNormalMagnitude
        let e = Int((v.bitPattern >> 23) & 0xFF) - 127
        let raw = e - c.m
        let k = raw >= c.minK ? raw : c.minK
        // 2^k from its bits: a normal exponent field, or one subnormal mantissa bit (k ≥ −149).
        let step = Float(bitPattern: k >= -126 ? UInt32(k + 127) << 23 : UInt32(1) << UInt32(k + 149))
        let q = (y / step).rounded(.toNearestOrEven) * step
        return (q, raw >= c.minK)
    }

    /// The clamp and the non-saturating special values applied to an unclamped `q`.
    @inline(__always)
    static func clampSpecial(_ q: Float, _ c: Consts) -> Float {
        if q > c.maxValue { return c.overflow }
        if q < -c.maxValue { return c.underflow }
        return q
    }

    /// Fake-quantizes `x` with `scale` to `format` (see the type documentation).
    public static func apply(_ x: Tensor, scale: Tensor, format: MinifloatFormat) -> Tensor {
        apply(x, scale: scale, format: format, avx2: FakeQuantize.hasAVX2)
    }

    /// `apply` with the loops chosen explicitly: the AVX2 kernels of `CKernels` (`avx2`, only
    /// where `FakeQuantize.hasAVX2`) or the portable Swift loops. Both give the same bits; tests
    /// compare them with each other and with the scalar `quantizeUnclamped` / `elementGrad`.
    static func apply(_ x: Tensor, scale: Tensor, format: MinifloatFormat, avx2: Bool) -> Tensor {
        precondition(!avx2 || FakeQuantize.hasAVX2, "MinifloatQuantize: the AVX2 kernels need a processor with AVX2")
        let c = Consts(format)
        let elementwise = scale.count == x.count && scale.shape == x.shape && x.count > 1
        let out = Tensor.empty(x.shape)
        let px = x.storage.pointer, po = out.storage.pointer, ps = scale.storage.pointer
        if elementwise {
            Parallel.forRanges((x.count + block - 1) / block, costPerItem: block) { r in
                for k in r {
                    let range = (k * block)..<Swift.min(x.count, (k + 1) * block)
                    forwardSegment(range, px, po, ps + range.lowerBound, 1, c, avx2)
                }
            }
        } else {
            let sl = FakeQuantize.Layout(param: scale.shape, input: x.shape)
            let seg = FakeQuantize.Segments(sl, FakeQuantize.Layout(param: [], input: x.shape), total: x.count)
            Parallel.forRanges(seg.count, costPerItem: seg.length) { r in
                for k in r {
                    forwardSegment(seg.range(k), px, po, ps + seg.sIndex(k), 0, c, avx2)
                }
            }
        }
        let dx = x.detach(), ds = scale.detach()
        let needX = x.requiresGrad, needS = scale.requiresGrad
        return Autograd.record("float_quant", output: out, inputs: [x, scale]) { g in
            backward(g, dx, ds, c, elementwise: elementwise, needX: needX, needS: needS, avx2: avx2)
        }
    }

    static let block = 1 << 14

    /// The forward of one segment: scale `ps[0]` for every element (`sStride` 0) or `ps[i −
    /// lowerBound]` (`sStride` 1). The AVX2 kernel (`ck_mf_forward_avx2`: exponent from the
    /// float's bits, an exact power-of-two step, `vroundps` half-to-even) takes eight lanes at a
    /// time; the rest, and every element without AVX2, run the scalar `quantizeUnclamped` and
    /// `clampSpecial`, so the result is bit for bit the scalar one.
    @inline(__always)
    static func forwardSegment(_ range: Range<Int>, _ px: UnsafeMutablePointer<Float>, _ po: UnsafeMutablePointer<Float>,
                               _ ps: UnsafeMutablePointer<Float>, _ sStride: Int, _ c: Consts, _ avx2: Bool) {
        var i = range.lowerBound
        #if arch(x86_64)
            if avx2 {
                i += ck_mf_forward_avx2(px + i, ps, sStride, po + i, range.count, Int32(c.m), Int32(c.minK), c.maxValue,
                                        c.overflow, c.underflow)
            }
        #endif
        while i < range.upperBound {
            let s = ps[(i - range.lowerBound) * sStride]
            po[i] = clampSpecial(quantizeUnclamped(px[i] / s, c).q, c) * s
            i += 1
        }
    }

    /// One element's gradients `(dL/dx, dL/ds)` for upstream `g`, following PyTorch's autograd
    /// through Brevitas's graph (`out = q·s`, `q = A·round_ste(y/A)`, `A = exp2(max(floor_ste(
    /// log2(|y| + tiny)) − m, kmin))`, `y = x/s`) in float32.
    @inline(__always)
    static func elementGrad(_ x: Float, _ s: Float, _ g: Float, _ c: Consts) -> (Float, Float) {
        let y = x / s
        let (q, expGrad) = quantizeUnclamped(y, c)
        if !(q <= c.maxValue && q >= -c.maxValue) {
            if q.isNaN { return (g * q, g * q) }
            // Clamped: the select passes nothing to q; the scale sees the constant ±M.
            return (0, g * (q > 0 ? c.maxValue : -c.maxValue))
        }
        let gq = g * s
        var gy = gq
        if expGrad && y != 0 {
            let v = Swift.abs(y) + Float.leastNormalMagnitude
            // dL/dA = G_q·r − G_q·A·y/A² = G_q·(q − y)/A; then ·A·ln2 (exp2), /(v·ln2) (log2), ·sign(y).
            let gA = gq * (q - y)
            gy += (y > 0 ? gA : -gA) / v
        }
        return (gy / s, g * q - gy * x / (s * s))
    }

    static func backward(
        _ g: Tensor, _ x: Tensor, _ scale: Tensor, _ c: Consts, elementwise: Bool, needX: Bool, needS: Bool, avx2: Bool
    ) -> [Tensor?] {
        let gx = needX ? Tensor.empty(x.shape) : Tensor.empty([0])
        let px = x.storage.pointer, pg = g.storage.pointer, pgx = needX ? gx.storage.pointer : nil, ps = scale.storage.pointer
        if elementwise {
            let gs = needS ? Tensor.empty(x.shape) : Tensor.empty([0])
            let pgs = needS ? gs.storage.pointer : nil
            Parallel.forRanges((x.count + block - 1) / block, costPerItem: block) { r in
                for k in r {
                    let range = (k * block)..<Swift.min(x.count, (k + 1) * block)
                    _ = backwardSegment(range, px, pg, pgx, ps + range.lowerBound, 1, pgs, sum: false, c, avx2)
                }
            }
            return [needX ? gx : nil, needS ? gs : nil]
        }
        let sl = FakeQuantize.Layout(param: scale.shape, input: x.shape)
        let seg = FakeQuantize.Segments(sl, FakeQuantize.Layout(param: [], input: x.shape), total: x.count)
        // One scale partial sum per segment, in Double: independent of the thread count.
        let partial = UnsafeMutablePointer<Double>.allocate(capacity: Swift.max(1, seg.count))
        defer { partial.deallocate() }
        Parallel.forRanges(seg.count, costPerItem: seg.length) { r in
            for k in r {
                partial[k] = backwardSegment(seg.range(k), px, pg, pgx, ps + seg.sIndex(k), 0, nil, sum: needS, c, avx2)
            }
        }
        var gs: Tensor? = nil
        if needS {
            var sums = [Double](repeating: 0, count: seg.sChannels)
            for k in 0..<seg.count { sums[seg.sChannels == 1 ? 0 : k % seg.sChannels] += partial[k] }
            gs = Tensor(shape: scale.shape, sums.map { Float($0) })
        }
        return [needX ? gx : nil, gs]
    }

    /// The backward of one segment (scale `ps[0]` or `ps[i − lowerBound]`, as `forwardSegment`):
    /// writes `dL/dx` to `pgx` and the element-wise `dL/ds` to `pgs` (each when not nil) and,
    /// with `sum`, returns the sum of the scale gradients added one by one in element order, in
    /// Double. Eight lanes at a time by `ck_mf_backward_avx2` (the same float32 operations in
    /// the same order as `elementGrad`), the rest by `elementGrad`.
    @inline(__always)
    static func backwardSegment(
        _ range: Range<Int>, _ px: UnsafeMutablePointer<Float>, _ pg: UnsafeMutablePointer<Float>,
        _ pgx: UnsafeMutablePointer<Float>?, _ ps: UnsafeMutablePointer<Float>, _ sStride: Int,
        _ pgs: UnsafeMutablePointer<Float>?, sum: Bool, _ c: Consts, _ avx2: Bool
    ) -> Double {
        var acc: Double = 0
        var i = range.lowerBound
        #if arch(x86_64)
            if avx2 {
                let o = range.lowerBound
                i += withUnsafeMutablePointer(to: &acc) { pAcc in
                    ck_mf_backward_avx2(px + o, ps, sStride, pg + o, pgx.map { $0 + o }, pgs.map { $0 + o },
                                        sum ? pAcc : nil, range.count, Int32(c.m), Int32(c.minK), c.maxValue)
                }
            }
        #endif
        while i < range.upperBound {
            let (a, b) = elementGrad(px[i], ps[(i - range.lowerBound) * sStride], pg[i], c)
            pgx?[i] = a
            pgs?[i] = b
            if sum { acc += Double(b) }
            i += 1
        }
        return acc
    }
}
