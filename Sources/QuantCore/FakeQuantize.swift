import TensorEngine

/// The fused integer fake-quantization kernel behind Brevitas's `IntQuant`:
///
///     q = clamp(round(x / s + z), minInt, maxInt)      (half-to-even; rounded, then clamped)
///     y = (q − z) · s
///
/// `scale` and `zeroPoint` broadcast against `x` (per tensor: shape `[]`; per channel: e.g.
/// `[1, C, 1, 1]` or `[C, 1, 1, 1]`). The forward is one pass over memory; the backward is one
/// pass that produces the input gradient and accumulates the scale and zero-point gradients.
///
/// Gradients (G is the upstream gradient, u = x/s + z):
///
/// | element | dL/dx | dL/ds | dL/dz |
/// |---|---|---|---|
/// | minInt ≤ round(u) ≤ maxInt | G | G·(q − z − x/s) | 0 |
/// | clipped, `clampSte == false` (activations) | 0 | G·(q − z) | −G·s |
/// | clipped, `clampSte == true` (weights) | G | G·(q − z − x/s) | 0 |
public enum FakeQuantize {
    /// Broadcast layout of a per-tensor or per-channel parameter against the input.
    struct Layout {
        /// Number of distinct parameter values (1 = per tensor).
        let channels: Int
        /// Elements sharing one parameter value in a row (`x.count / (outer * channels)`).
        let inner: Int

        init(param: [Int], input: [Int]) {
            let count = param.reduce(1, *)
            if count == 1 {
                channels = 1
                inner = input.reduce(1, *)
                return
            }
            precondition(param.count <= input.count, "quantization parameter shape \(param) does not broadcast to input \(input)")
            let aligned = [Int](repeating: 1, count: input.count - param.count) + param
            let nonUnit = aligned.indices.filter { aligned[$0] != 1 }
            precondition(
                nonUnit.count == 1 && aligned[nonUnit[0]] == input[nonUnit[0]],
                "quantization parameter shape \(param) must be per-tensor or vary along exactly one dimension of input \(input)")
            let d = nonUnit[0]
            channels = input[d]
            inner = input[(d + 1)...].reduce(1, *)
        }

        @inline(__always) func channel(_ i: Int) -> Int { channels == 1 ? 0 : (i / inner) % channels }
    }

    /// Fake-quantizes `x`. See the type documentation for the formula and gradients.
    public static func apply(
        _ x: Tensor, scale: Tensor, zeroPoint: Tensor, minInt: Float, maxInt: Float, clampSte: Bool = false
    ) -> Tensor {
        let sl = Layout(param: scale.shape, input: x.shape)
        let zl = Layout(param: zeroPoint.shape, input: x.shape)
        let out = Tensor.empty(x.shape)
        let n = x.count
        let px = x.storage.pointer, po = out.storage.pointer
        let ps = scale.storage.pointer, pz = zeroPoint.storage.pointer
        if sl.channels == 1 && zl.channels == 1 {
            let s = ps[0], z = pz[0]
            Parallel.forRanges(n) { r in
                for i in r {
                    var q = roundHalfEven(px[i] / s + z)
                    q = q > maxInt ? maxInt : q
                    q = q < minInt ? minInt : q
                    po[i] = (q - z) * s
                }
            }
        } else {
            Parallel.forRanges(n) { r in
                for i in r {
                    let s = ps[sl.channel(i)], z = pz[zl.channel(i)]
                    var q = roundHalfEven(px[i] / s + z)
                    q = q > maxInt ? maxInt : q
                    q = q < minInt ? minInt : q
                    po[i] = (q - z) * s
                }
            }
        }
        // NaN inputs stay NaN (the comparisons above are false for NaN).
        let dx = x.detach(), ds = scale.detach(), dz = zeroPoint.detach()
        let needX = x.requiresGrad, needS = scale.requiresGrad, needZ = zeroPoint.requiresGrad
        return Autograd.record("int_quant", output: out, inputs: [x, scale, zeroPoint]) { g in
            backward(g, dx, ds, dz, sl, zl, minInt, maxInt, clampSte, needX, needS, needZ)
        }
    }

    static let block = 1 << 14

    static func backward(
        _ g: Tensor, _ x: Tensor, _ scale: Tensor, _ zp: Tensor, _ sl: Layout, _ zl: Layout,
        _ minInt: Float, _ maxInt: Float, _ clampSte: Bool, _ needX: Bool, _ needS: Bool, _ needZ: Bool
    ) -> [Tensor?] {
        let n = x.count
        let gx = needX ? Tensor.empty(x.shape) : nil
        let px = x.storage.pointer, pg = g.storage.pointer
        let ps = scale.storage.pointer, pz = zp.storage.pointer
        let pgx = gx?.storage.pointer
        // Scale / zero-point partial sums per fixed block of elements, in Double, so the result
        // does not depend on how blocks are spread over threads.
        let blocks = (n + block - 1) / block
        let sCh = sl.channels, zCh = zl.channels
        var sPartial = [Double](repeating: 0, count: needS ? blocks * sCh : 0)
        var zPartial = [Double](repeating: 0, count: needZ ? blocks * zCh : 0)
        sPartial.withUnsafeMutableBufferPointer { sp in
            zPartial.withUnsafeMutableBufferPointer { zp in
                // Empty arrays may still hand out a (shared, unwritable) base address: gate on the flags.
                let spb = needS ? sp.baseAddress : nil, zpb = needZ ? zp.baseAddress : nil
                Parallel.forRanges(blocks, costPerItem: block) { r in
                    for b in r {
                        let lo = b * block, hi = Swift.min(n, lo + block)
                        for i in lo..<hi {
                            let s = ps[sl.channel(i)], z = pz[zl.channel(i)]
                            let gi = pg[i]
                            let v = px[i] / s
                            let r = roundHalfEven(v + z)
                            let clipped = r > maxInt || r < minInt
                            if let pgx { pgx[i] = clipped && !clampSte ? 0 : gi }
                            let q = r > maxInt ? maxInt : (r < minInt ? minInt : r)
                            if clipped && !clampSte {
                                if let spb { spb[b * sCh + sl.channel(i)] += Double(gi) * Double(q - z) }
                                if let zpb { zpb[b * zCh + zl.channel(i)] -= Double(gi) * Double(s) }
                            } else if let spb {
                                spb[b * sCh + sl.channel(i)] += Double(gi) * (Double(q - z) - Double(v))
                            }
                        }
                    }
                }
            }
        }
        func reduce(_ partial: [Double], _ channels: Int, _ like: Tensor) -> Tensor {
            var sums = [Double](repeating: 0, count: channels)
            for b in 0..<blocks { for c in 0..<channels { sums[c] += partial[b * channels + c] } }
            return Tensor(shape: like.shape, sums.map { Float($0) })
        }
        return [
            gx,
            needS ? reduce(sPartial, sCh, scale) : nil,
            needZ ? reduce(zPartial, zCh, zp) : nil,
        ]
    }
}
