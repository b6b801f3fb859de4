/// 2-D pooling (NCHW) with gradients: max (gradient to the first maximum of each window),
/// average (`count_include_pad=True`, as PyTorch's default) and adaptive average.
///
/// Output size: `(in + 2·padding − kernel) / stride + 1` (floor, `ceil_mode=False`).
extension Tensor {
    /// `torch.nn.functional.max_pool2d`; padded positions count as −∞.
    public static func maxPool2d(_ x: Tensor, kernelSize: (Int, Int), stride: (Int, Int)? = nil,
                                 padding: (Int, Int) = (0, 0)) -> Tensor {
        let g = PoolGeometry(x.shape, kernelSize, stride ?? kernelSize, padding, "max_pool2d")
        let out = Tensor.empty([g.n, g.c, g.outH, g.outW])
        var argmax = [Int](repeating: -1, count: out.count)
        let px = x.storage.pointer, po = out.storage.pointer
        for plane in 0..<(g.n * g.c) {
            let src = px + plane * g.h * g.w
            for oh in 0..<g.outH {
                for ow in 0..<g.outW {
                    var best = -Float.infinity, bestIdx = -1
                    for kh in 0..<g.kH {
                        let ih = oh * g.sH - g.pH + kh
                        if ih < 0 || ih >= g.h { continue }
                        for kw in 0..<g.kW {
                            let iw = ow * g.sW - g.pW + kw
                            if iw < 0 || iw >= g.w { continue }
                            let v = src[ih * g.w + iw]
                            if v > best || v.isNaN || bestIdx < 0 {
                                if bestIdx >= 0 && best.isNaN { continue }
                                best = v
                                bestIdx = ih * g.w + iw
                            }
                        }
                    }
                    let o = (plane * g.outH + oh) * g.outW + ow
                    po[o] = best
                    argmax[o] = bestIdx
                }
            }
        }
        let inShape = x.shape
        return Autograd.record("max_pool2d", output: out, inputs: [x]) { grad in
            let gx = Tensor.zeros(inShape)
            let pg = grad.storage.pointer, pgx = gx.storage.pointer
            let outPlane = g.outH * g.outW
            for o in 0..<argmax.count where argmax[o] >= 0 {
                pgx[(o / outPlane) * g.h * g.w + argmax[o]] += pg[o]
            }
            return [gx]
        }
    }

    /// `torch.nn.functional.avg_pool2d` with `count_include_pad=True`.
    public static func avgPool2d(_ x: Tensor, kernelSize: (Int, Int), stride: (Int, Int)? = nil,
                                 padding: (Int, Int) = (0, 0)) -> Tensor {
        let g = PoolGeometry(x.shape, kernelSize, stride ?? kernelSize, padding, "avg_pool2d")
        let out = Tensor.empty([g.n, g.c, g.outH, g.outW])
        let px = x.storage.pointer, po = out.storage.pointer
        let div = Float(g.kH * g.kW)
        for plane in 0..<(g.n * g.c) {
            let src = px + plane * g.h * g.w
            for oh in 0..<g.outH {
                for ow in 0..<g.outW {
                    var acc: Float = 0
                    for kh in 0..<g.kH {
                        let ih = oh * g.sH - g.pH + kh
                        if ih < 0 || ih >= g.h { continue }
                        for kw in 0..<g.kW {
                            let iw = ow * g.sW - g.pW + kw
                            if iw < 0 || iw >= g.w { continue }
                            acc += src[ih * g.w + iw]
                        }
                    }
                    po[(plane * g.outH + oh) * g.outW + ow] = acc / div
                }
            }
        }
        let inShape = x.shape
        return Autograd.record("avg_pool2d", output: out, inputs: [x]) { grad in
            let gx = Tensor.zeros(inShape)
            let pg = grad.storage.pointer, pgx = gx.storage.pointer
            for plane in 0..<(g.n * g.c) {
                let dst = pgx + plane * g.h * g.w
                for oh in 0..<g.outH {
                    for ow in 0..<g.outW {
                        let v = pg[(plane * g.outH + oh) * g.outW + ow] / div
                        for kh in 0..<g.kH {
                            let ih = oh * g.sH - g.pH + kh
                            if ih < 0 || ih >= g.h { continue }
                            for kw in 0..<g.kW {
                                let iw = ow * g.sW - g.pW + kw
                                if iw < 0 || iw >= g.w { continue }
                                dst[ih * g.w + iw] += v
                            }
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
        func start(_ i: Int, _ o: Int, _ len: Int) -> Int { (i * len) / o }
        func end(_ i: Int, _ o: Int, _ len: Int) -> Int { ((i + 1) * len + o - 1) / o }
        let out = Tensor.empty([n, c, oH, oW])
        let px = x.storage.pointer, po = out.storage.pointer
        for plane in 0..<(n * c) {
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
        let inShape = x.shape
        return Autograd.record("adaptive_avg_pool2d", output: out, inputs: [x]) { grad in
            let gx = Tensor.zeros(inShape)
            let pg = grad.storage.pointer, pgx = gx.storage.pointer
            for plane in 0..<(n * c) {
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
            return [gx]
        }
    }
}

/// Sizes of one pooling window sweep.
struct PoolGeometry {
    let n: Int, c: Int, h: Int, w: Int, kH: Int, kW: Int, sH: Int, sW: Int, pH: Int, pW: Int, outH: Int, outW: Int

    init(_ shape: [Int], _ k: (Int, Int), _ s: (Int, Int), _ p: (Int, Int), _ name: String) {
        precondition(shape.count == 4, "\(name): input must be [N, C, H, W], got \(shape)")
        precondition(k.0 > 0 && k.1 > 0 && s.0 > 0 && s.1 > 0, "\(name): kernel \(k) and stride \(s) must be positive")
        precondition(p.0 >= 0 && p.1 >= 0 && p.0 * 2 <= k.0 && p.1 * 2 <= k.1, "\(name): padding \(p) must be at most half the kernel \(k)")
        (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
        (kH, kW, sH, sW, pH, pW) = (k.0, k.1, s.0, s.1, p.0, p.1)
        outH = (h + 2 * pH - kH) / sH + 1
        outW = (w + 2 * pW - kW) / sW + 1
        precondition(outH > 0 && outW > 0, "\(name): kernel \(k) does not fit input \(shape) with padding \(p)")
    }
}
