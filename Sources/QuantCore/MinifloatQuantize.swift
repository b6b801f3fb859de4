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
                    forwardSegment(seg.range(k), px, po, s, c)
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

    /// The forward of one segment with constant scale `s`, eight lanes at a time: the same
    /// operations as `quantizeUnclamped` and `clampSpecial` (exponent from the float's bits, an
    /// exact power-of-two step, half-to-even rounding by the 1.5·2²³ trick with the sign kept),
    /// so the result is bit for bit the scalar one. Mantissas above 21 bits use the scalar loop.
    static func forwardSegment(_ range: Range<Int>, _ px: UnsafeMutablePointer<Float>, _ po: UnsafeMutablePointer<Float>,
                               _ s: Float, _ c: Consts) {
        typealias V = SIMD8<Float>
        typealias I = SIMD8<Int32>
        var i = range.lowerBound
        let end = range.upperBound
        if c.m <= 21 {
            let vs = V(repeating: s), tiny = V(repeating: Float.leastNormalMagnitude)
            let magic = V(repeating: 12_582_912), maxV = V(repeating: c.maxValue)
            let over = V(repeating: c.saturating ? c.maxValue : (c.overflowToInf ? .infinity : .nan))
            let under = V(repeating: c.saturating ? -c.maxValue : (c.overflowToInf ? -.infinity : .nan))
            let m = I(repeating: Int32(c.m)), minK = I(repeating: Int32(c.minK))
            let expMask = SIMD8<UInt32>(repeating: 0x7F80_0000), signMask = SIMD8<UInt32>(repeating: 0x8000_0000)
            while i + 8 <= end {
                let x = UnsafeRawPointer(px + i).loadUnaligned(as: V.self)
                let y = x / vs
                let yb = unsafeBitCast(y, to: SIMD8<UInt32>.self)
                let nonFinite = (yb & expMask) .== expMask
                let a = unsafeBitCast(yb & ~signMask, to: V.self) + tiny
                let e = I(truncatingIfNeeded: (unsafeBitCast(a, to: SIMD8<UInt32>.self) &>> 23) & 0xFF) &- 127
                var k = e &- m
                k.replace(with: minK, where: k .< minK)
                // 2^k: a normal float's exponent field, or a subnormal's single mantissa bit.
                let normalBits = SIMD8<UInt32>(truncatingIfNeeded: (k &+ 127) &<< 23)
                let subBits = SIMD8<UInt32>(repeating: 1) &<< SIMD8<UInt32>(truncatingIfNeeded: (k &+ 149).replacing(with: 0, where: k .< -149))
                let step = unsafeBitCast(unsafeBitCast(normalBits, to: SIMD8<UInt32>.self).replacing(with: subBits, where: k .< -126), to: V.self)
                let v = y / step
                let rMag = (v + magic) - magic
                let r = unsafeBitCast((unsafeBitCast(rMag, to: SIMD8<UInt32>.self) & ~signMask) | (unsafeBitCast(v, to: SIMD8<UInt32>.self) & signMask), to: V.self)
                var q = r * step
                let hi = q .> maxV, lo = q .< -maxV
                q.replace(with: over, where: hi)
                q.replace(with: under, where: lo)
                q.replace(with: .nan, where: nonFinite)
                UnsafeMutableRawPointer(po + i).storeBytes(of: q * vs, as: V.self)
                i += 8
            }
        }
        while i < end {
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

    /// `elementGrad` on eight lanes: the same float32 operations in the same order (the
    /// quantization as in `forwardSegment`), so every lane is bit for bit the scalar result.
    /// Valid for mantissas up to 21 bits (`forwardSegment`'s rounding trick).
    @inline(__always)
    static func laneGrad(_ x: SIMD8<Float>, _ s: SIMD8<Float>, _ g: SIMD8<Float>, _ c: Consts) -> (SIMD8<Float>, SIMD8<Float>) {
        typealias V = SIMD8<Float>
        typealias I = SIMD8<Int32>
        typealias U = SIMD8<UInt32>
        let tiny = V(repeating: Float.leastNormalMagnitude), magic = V(repeating: 12_582_912), maxV = V(repeating: c.maxValue)
        let expMask = U(repeating: 0x7F80_0000), signMask = U(repeating: 0x8000_0000)
        let y = x / s
        let yb = unsafeBitCast(y, to: U.self)
        let nonFinite = (yb & expMask) .== expMask
        let v = unsafeBitCast(yb & ~signMask, to: V.self) + tiny
        let e = I(truncatingIfNeeded: (unsafeBitCast(v, to: U.self) &>> 23) & 0xFF) &- 127
        let raw = e &- I(repeating: Int32(c.m))
        let minK = I(repeating: Int32(c.minK))
        let expGrad = raw .>= minK
        let k = raw.replacing(with: minK, where: .!expGrad)
        let normalBits = U(truncatingIfNeeded: (k &+ 127) &<< 23)
        let subBits = U(repeating: 1) &<< U(truncatingIfNeeded: (k &+ 149).replacing(with: 0, where: k .< -149))
        let step = unsafeBitCast(normalBits.replacing(with: subBits, where: k .< -126), to: V.self)
        let w = y / step
        let rMag = (w + magic) - magic
        let r = unsafeBitCast((unsafeBitCast(rMag, to: U.self) & ~signMask) | (unsafeBitCast(w, to: U.self) & signMask), to: V.self)
        var q = r * step
        q.replace(with: .nan, where: nonFinite)
        // In range: straight-through round, and the exponent term where k is free and y != 0.
        let gq = g * s
        let gA = gq * (q - y)
        let signedGA = gA.replacing(with: -gA, where: .!(y .> 0))
        let gy = (gq + signedGA / v).replacing(with: gq, where: .!(expGrad .& (y .!= 0)))
        var gx = gy / s
        var gs = g * q - gy * x / (s * s)
        // Clamped: no gradient to x, the constant ±M to the scale; NaN propagates.
        let hi = q .> maxV, lo = q .< -maxV
        gx.replace(with: 0, where: hi .| lo)
        gs.replace(with: g * maxV, where: hi)
        gs.replace(with: g * -maxV, where: lo)
        let nan = q .!= q
        gx.replace(with: g * q, where: nan)
        gs.replace(with: g * q, where: nan)
        return (gx, gs)
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
                    var i = k * block
                    let end = Swift.min(x.count, (k + 1) * block)
                    if c.m <= 21 {
                        while i + 8 <= end {
                            let (a, b) = laneGrad(load(px + i), load(ps + i), load(pg + i), c)
                            if needX { store(a, pgx + i) }
                            if needS { store(b, pgs + i) }
                            i += 8
                        }
                    }
                    while i < end {
                        let (a, b) = elementGrad(px[i], ps[i], pg[i], c)
                        if needX { pgx[i] = a }
                        if needS { pgs[i] = b }
                        i += 1
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
                var i = seg.range(k).lowerBound
                let end = seg.range(k).upperBound
                if c.m <= 21 {
                    let vs = SIMD8<Float>(repeating: s)
                    while i + 8 <= end {
                        let (a, b) = laneGrad(load(px + i), vs, load(pg + i), c)
                        if needX { store(a, pgx + i) }
                        // Lane by lane, in element order: the same sum as the scalar loop.
                        for j in 0..<8 { acc += Double(b[j]) }
                        i += 8
                    }
                }
                while i < end {
                    let (a, b) = elementGrad(px[i], s, pg[i], c)
                    if needX { pgx[i] = a }
                    acc += Double(b)
                    i += 1
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

    @inline(__always)
    static func load(_ p: UnsafeMutablePointer<Float>) -> SIMD8<Float> { UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self) }

    @inline(__always)
    static func store(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self) }
}
