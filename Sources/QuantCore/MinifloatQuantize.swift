import TensorEngine

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
/// quantizers expand theirs). Forward and backward are one pass over memory each.
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

        init(_ f: MinifloatFormat) {
            m = f.mantissaBitWidth
            minK = f.minInternalExponent
            maxValue = f.maxValue
            saturating = f.saturating
            overflowToInf = f.infValues != nil
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
        let step = pow2(k)
        let q = (y / step).rounded(.toNearestOrEven) * step
        return (q, raw >= c.minK)
    }

    /// The clamp and the non-saturating special values applied to an unclamped `q`.
    @inline(__always)
    static func clampSpecial(_ q: Float, _ c: Consts) -> Float {
        if q > c.maxValue { return c.saturating ? c.maxValue : (c.overflowToInf ? .infinity : .nan) }
        if q < -c.maxValue { return c.saturating ? -c.maxValue : (c.overflowToInf ? -.infinity : .nan) }
        return q
    }

    /// Fake-quantizes `x` with `scale` to `format` (see the type documentation).
    public static func apply(_ x: Tensor, scale: Tensor, format: MinifloatFormat) -> Tensor {
        let c = Consts(format)
        let elementwise = scale.count == x.count && scale.shape == x.shape && x.count > 1
        let out = Tensor.empty(x.shape)
        let px = x.storage.pointer, po = out.storage.pointer, ps = scale.storage.pointer
        if elementwise {
            Parallel.forRanges((x.count + block - 1) / block, costPerItem: block) { r in
                for k in r {
                    for i in (k * block)..<Swift.min(x.count, (k + 1) * block) {
                        let s = ps[i]
                        po[i] = clampSpecial(quantizeUnclamped(px[i] / s, c).q, c) * s
                    }
                }
            }
        } else {
            let sl = FakeQuantize.Layout(param: scale.shape, input: x.shape)
            let seg = FakeQuantize.Segments(sl, FakeQuantize.Layout(param: [], input: x.shape), total: x.count)
            Parallel.forRanges(seg.count, costPerItem: seg.length) { r in
                for k in r {
                    let s = ps[seg.sIndex(k)]
                    for i in seg.range(k) { po[i] = clampSpecial(quantizeUnclamped(px[i] / s, c).q, c) * s }
                }
            }
        }
        let dx = x.detach(), ds = scale.detach()
        let needX = x.requiresGrad, needS = scale.requiresGrad
        return Autograd.record("float_quant", output: out, inputs: [x, scale]) { g in
            backward(g, dx, ds, c, elementwise: elementwise, needX: needX, needS: needS)
        }
    }

    static let block = 1 << 14

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
        _ g: Tensor, _ x: Tensor, _ scale: Tensor, _ c: Consts, elementwise: Bool, needX: Bool, needS: Bool
    ) -> [Tensor?] {
        let gx = needX ? Tensor.empty(x.shape) : Tensor.empty([0])
        let px = x.storage.pointer, pg = g.storage.pointer, pgx = gx.storage.pointer, ps = scale.storage.pointer
        if elementwise {
            let gs = needS ? Tensor.empty(x.shape) : Tensor.empty([0])
            let pgs = gs.storage.pointer
            Parallel.forRanges((x.count + block - 1) / block, costPerItem: block) { r in
                for k in r {
                    for i in (k * block)..<Swift.min(x.count, (k + 1) * block) {
                        let (a, b) = elementGrad(px[i], ps[i], pg[i], c)
                        if needX { pgx[i] = a }
                        if needS { pgs[i] = b }
                    }
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
                let s = ps[seg.sIndex(k)]
                var acc: Double = 0
                for i in seg.range(k) {
                    let (a, b) = elementGrad(px[i], s, pg[i], c)
                    if needX { pgx[i] = a }
                    acc += Double(b)
                }
                partial[k] = acc
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
}
