/// 2-D pooling (NCHW) with gradients: max (gradient to the selected element of each window),
/// average (`count_include_pad` selectable, PyTorch's default `true`) and adaptive average.
/// Planes (`N·C`) run in parallel.
///
/// Output size: `(in + 2·padding − dilation·(kernel − 1) − 1) / stride + 1` (floor,
/// `ceil_mode=False`).
extension Tensor {
    /// `torch.nn.functional.max_pool2d`; padded positions never win. NaN propagates (the last
    /// NaN of a window is selected, as in PyTorch's CPU kernel).
    public static func maxPool2d(
        _ x: Tensor, kernelSize: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0),
        dilation: (Int, Int) = (1, 1)
    ) -> Tensor {
        maxPool2dWithIndices(x, kernelSize: kernelSize, stride: stride, padding: padding, dilation: dilation).values
    }

    /// Max pooling that also returns, for each output, the flat index `h·W + w` of the selected
    /// element within its input plane (`return_indices=True`).
    public static func maxPool2dWithIndices(
        _ x: Tensor, kernelSize: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0),
        dilation: (Int, Int) = (1, 1)
    ) -> (values: Tensor, indices: Tensor) {
        let g = PoolGeometry(x.shape, kernelSize, stride ?? kernelSize, padding, dilation, "max_pool2d")
        let out = Tensor.empty([g.n, g.c, g.outH, g.outW])
        let argmax = UnsafeMutablePointer<Int32>.allocate(capacity: Swift.max(out.count, 1))
        let px = x.storage.pointer, po = out.storage.pointer
        let planes = g.n * g.c, outPlane = g.outH * g.outW
        let unpadded = g.pH == 0 && g.pW == 0 && g.dH == 1 && g.dW == 1
        Parallel.forRanges(planes, costPerItem: outPlane * g.kH * g.kW) { r in
            if unpadded {
                // Every window lies inside the plane: no bounds checks, wrapping index arithmetic.
                let (h, w, outH, outW, kH, kW, sH, sW) = (g.h, g.w, g.outH, g.outW, g.kH, g.kW, g.sH, g.sW)
                for plane in r {
                    let src = px + plane &* h &* w
                    let dst = po + plane &* outPlane
                    let idx = argmax + plane &* outPlane
                    for oh in 0..<outH {
                        var ow = 0
                        if kH == 2 && kW == 2 && sH == 2 && sW == 2 {
                            ow = maxPool2x2Row(src, w, oh, outW, dst + oh &* outW, idx + oh &* outW)
                        }
                        while ow < outW {
                            defer { ow += 1 }
                            let base = oh &* sH &* w &+ ow &* sW
                            var best = src[base], bestIdx = base
                            for kh in 0..<kH {
                                let row = base &+ kh &* w
                                for kw in 0..<kW where kh != 0 || kw != 0 {
                                    let v = src[row &+ kw]
                                    if v > best || v.isNaN {
                                        best = v
                                        bestIdx = row &+ kw
                                    }
                                }
                            }
                            dst[oh &* outW &+ ow] = best
                            idx[oh &* outW &+ ow] = Int32(truncatingIfNeeded: bestIdx)
                        }
                    }
                }
                return
            }
            for plane in r {
                let src = px + plane * g.h * g.w
                for oh in 0..<g.outH {
                    for ow in 0..<g.outW {
                        var best = -Float.infinity, bestIdx = -1
                        for kh in 0..<g.kH {
                            let ih = oh * g.sH - g.pH + kh * g.dH
                            if ih < 0 || ih >= g.h { continue }
                            for kw in 0..<g.kW {
                                let iw = ow * g.sW - g.pW + kw * g.dW
                                if iw < 0 || iw >= g.w { continue }
                                let v = src[ih * g.w + iw]
                                if bestIdx < 0 || v > best || v.isNaN {
                                    best = v
                                    bestIdx = ih * g.w + iw
                                }
                            }
                        }
                        let o = plane * outPlane + oh * g.outW + ow
                        po[o] = best
                        argmax[o] = Int32(bestIdx)
                    }
                }
            }
        }
        let indices = Tensor.empty(out.shape)
        for i in 0..<out.count { indices.storage.pointer[i] = Float(argmax[i]) }
        let owner = IndexBuffer(argmax)
        let inShape = x.shape
        Autograd.record("max_pool2d", output: out, inputs: [x]) { grad in
            let gx = Tensor.zeros(inShape)
            let pg = grad.storage.pointer, pgx = gx.storage.pointer
            let am = owner.pointer
            Parallel.forRanges(planes, costPerItem: outPlane) { r in
                for plane in r {
                    let dst = pgx + plane * g.h * g.w
                    for o in (plane * outPlane)..<((plane + 1) * outPlane) where am[o] >= 0 {
                        dst[Int(am[o])] += pg[o]
                    }
                }
            }
            return [gx]
        }
        return (out, indices)
    }

    /// Output row `oh` of a 2x2, stride-2 max pool, four outputs at a time (the rest, fewer than
    /// four, are left to the caller): returns the first column not done. Candidates are taken in
    /// window order and a later one wins when it is greater or NaN, as the general loop.
    @inline(__always)
    static func maxPool2x2Row(
        _ src: UnsafeMutablePointer<Float>, _ w: Int, _ oh: Int, _ outW: Int,
        _ dst: UnsafeMutablePointer<Float>, _ idx: UnsafeMutablePointer<Int32>
    ) -> Int {
        typealias V = SIMD8<Float>
        let r0 = src + 2 &* oh &* w, r1 = r0 + w
        let base0 = Int32(truncatingIfNeeded: 2 &* oh &* w), base1 = base0 &+ Int32(truncatingIfNeeded: w)
        var ow = 0
        while ow + 4 <= outW {
            let a8 = UnsafeRawPointer(r0 + 2 &* ow).loadUnaligned(as: V.self)
            let c8 = UnsafeRawPointer(r1 + 2 &* ow).loadUnaligned(as: V.self)
            let col = SIMD4<Int32>(0, 2, 4, 6) &+ Int32(truncatingIfNeeded: 2 &* ow)
            var best = a8.evenHalf, at = col &+ base0
            @inline(__always) func consider(_ v: SIMD4<Float>, _ i: SIMD4<Int32>) {
                let take = (v .> best) .| (v .!= v)
                best.replace(with: v, where: take)
                at.replace(with: i, where: take)
            }
            consider(a8.oddHalf, col &+ (base0 &+ 1))
            consider(c8.evenHalf, col &+ base1)
            consider(c8.oddHalf, col &+ (base1 &+ 1))
            UnsafeMutableRawPointer(dst + ow).storeBytes(of: best, as: SIMD4<Float>.self)
            UnsafeMutableRawPointer(idx + ow).storeBytes(of: at, as: SIMD4<Int32>.self)
            ow += 4
        }
        return ow
    }

    /// `torch.nn.functional.avg_pool2d`. With `countIncludePad` (PyTorch's default) every window
    /// divides by `kH·kW`; otherwise by the number of non-padding elements it covers.
    public static func avgPool2d(
        _ x: Tensor, kernelSize: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0),
        countIncludePad: Bool = true
    ) -> Tensor {
        let g = PoolGeometry(x.shape, kernelSize, stride ?? kernelSize, padding, (1, 1), "avg_pool2d")
        let out = Tensor.empty([g.n, g.c, g.outH, g.outW])
        let px = x.storage.pointer, po = out.storage.pointer
        let planes = g.n * g.c, outPlane = g.outH * g.outW
        // Window bounds along one axis, clipped to the input.
        @inline(__always) func bounds(_ o: Int, _ s: Int, _ p: Int, _ k: Int, _ len: Int) -> (Int, Int) {
            let start = o * s - p
            return (Swift.max(start, 0), Swift.min(start + k, len))
        }
        func divisor(_ oh: Int, _ ow: Int) -> Float {
            if countIncludePad { return Float(g.kH * g.kW) }
            let (h0, h1) = bounds(oh, g.sH, g.pH, g.kH, g.h), (w0, w1) = bounds(ow, g.sW, g.pW, g.kW, g.w)
            return Float((h1 - h0) * (w1 - w0))
        }
        Parallel.forRanges(planes, costPerItem: outPlane * g.kH * g.kW) { r in
            for plane in r {
                let src = px + plane * g.h * g.w
                for oh in 0..<g.outH {
                    let (h0, h1) = bounds(oh, g.sH, g.pH, g.kH, g.h)
                    for ow in 0..<g.outW {
                        let (w0, w1) = bounds(ow, g.sW, g.pW, g.kW, g.w)
                        var acc: Float = 0
                        for ih in h0..<h1 { for iw in w0..<w1 { acc += src[ih * g.w + iw] } }
                        po[plane * outPlane + oh * g.outW + ow] = acc / divisor(oh, ow)
                    }
                }
            }
        }
        let inShape = x.shape
        return Autograd.record("avg_pool2d", output: out, inputs: [x]) { grad in
            let gx = Tensor.zeros(inShape)
            let pg = grad.storage.pointer, pgx = gx.storage.pointer
            Parallel.forRanges(planes, costPerItem: outPlane * g.kH * g.kW) { r in
                for plane in r {
                    let dst = pgx + plane * g.h * g.w
                    for oh in 0..<g.outH {
                        let (h0, h1) = bounds(oh, g.sH, g.pH, g.kH, g.h)
                        for ow in 0..<g.outW {
                            let (w0, w1) = bounds(ow, g.sW, g.pW, g.kW, g.w)
                            let v = pg[plane * outPlane + oh * g.outW + ow] / divisor(oh, ow)
                            for ih in h0..<h1 { for iw in w0..<w1 { dst[ih * g.w + iw] += v } }
                        }
                    }
                }
            }
            return [gx]
        }
    }

    /// `torch.nn.functional.adaptive_avg_pool2d`: output cell i averages input rows
    /// `floor(i·H/outH) ..< ceil((i+1)·H/outH)` (and the same for columns).
    public static func adaptiveAvgPool2d(_ x: Tensor, outputSize: (Int, Int)) -> Tensor {
        precondition(x.rank == 4, "adaptive_avg_pool2d: input must be [N, C, H, W], got \(x.shape)")
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (oH, oW) = outputSize
        precondition(oH > 0 && oW > 0, "adaptive_avg_pool2d: output size \(outputSize) must be positive")
        precondition(h > 0 && w > 0, "adaptive_avg_pool2d: input \(x.shape) has an empty spatial dimension")
        @inline(__always) func start(_ i: Int, _ o: Int, _ len: Int) -> Int { (i * len) / o }
        @inline(__always) func end(_ i: Int, _ o: Int, _ len: Int) -> Int { ((i + 1) * len + o - 1) / o }
        let out = Tensor.empty([n, c, oH, oW])
        let px = x.storage.pointer, po = out.storage.pointer
        let cost = Swift.max(h * w, oH * oW)
        Parallel.forRanges(n * c, costPerItem: cost) { r in
            for plane in r {
                let src = px + plane * h * w
                for i in 0..<oH {
                    let h0 = start(i, oH, h), h1 = end(i, oH, h)
                    for j in 0..<oW {
                        let w0 = start(j, oW, w), w1 = end(j, oW, w)
                        var acc: Float = 0
                        for a in h0..<h1 { for b in w0..<w1 { acc += src[a * w + b] } }
                        po[(plane * oH + i) * oW + j] = acc / Float((h1 - h0) * (w1 - w0))
                    }
                }
            }
        }
        let inShape = x.shape
        return Autograd.record("adaptive_avg_pool2d", output: out, inputs: [x]) { grad in
            let gx = Tensor.zeros(inShape)
            let pg = grad.storage.pointer, pgx = gx.storage.pointer
            Parallel.forRanges(n * c, costPerItem: cost) { r in
                for plane in r {
                    let dst = pgx + plane * h * w
                    for i in 0..<oH {
                        let h0 = start(i, oH, h), h1 = end(i, oH, h)
                        for j in 0..<oW {
                            let w0 = start(j, oW, w), w1 = end(j, oW, w)
                            let v = pg[(plane * oH + i) * oW + j] / Float((h1 - h0) * (w1 - w0))
                            for a in h0..<h1 { for b in w0..<w1 { dst[a * w + b] += v } }
                        }
                    }
                }
            }
            return [gx]
        }
    }
}

/// Owns an index buffer kept alive by a backward closure.
final class IndexBuffer: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Int32>
    init(_ pointer: UnsafeMutablePointer<Int32>) { self.pointer = pointer }
    deinit { pointer.deallocate() }
}

/// Sizes of one pooling window sweep.
struct PoolGeometry {
    let n: Int, c: Int, h: Int, w: Int, kH: Int, kW: Int, sH: Int, sW: Int, pH: Int, pW: Int, dH: Int, dW: Int
    let outH: Int, outW: Int

    init(_ shape: [Int], _ k: (Int, Int), _ s: (Int, Int), _ p: (Int, Int), _ d: (Int, Int), _ name: String) {
        precondition(shape.count == 4, "\(name): input must be [N, C, H, W], got \(shape)")
        precondition(k.0 > 0 && k.1 > 0 && s.0 > 0 && s.1 > 0, "\(name): kernel \(k) and stride \(s) must be positive")
        precondition(d.0 > 0 && d.1 > 0, "\(name): dilation \(d) must be positive")
        precondition(p.0 >= 0 && p.1 >= 0 && p.0 * 2 <= k.0 && p.1 * 2 <= k.1, "\(name): padding \(p) must be at most half the kernel \(k)")
        (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
        (kH, kW, sH, sW, pH, pW, dH, dW) = (k.0, k.1, s.0, s.1, p.0, p.1, d.0, d.1)
        outH = (h + 2 * pH - dH * (kH - 1) - 1) / sH + 1
        outW = (w + 2 * pW - dW * (kW - 1) - 1) / sW + 1
        precondition(h + 2 * pH - dH * (kH - 1) - 1 >= 0 && w + 2 * pW - dW * (kW - 1) - 1 >= 0,
                     "\(name): kernel \(k) (dilation \(d)) does not fit input \(shape) with padding \(p)")
    }
}
