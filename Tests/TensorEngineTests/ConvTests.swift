import Testing
import TestSupport
@testable import TensorEngine

@Suite struct ConvTests {
    static let conv2dNames = [
        "conv2d_basic", "conv2d_stride2_pad1", "conv2d_dilation2", "conv2d_groups2", "conv2d_kernel2x3_bias",
        "conv2d_nobias", "conv2d_asymmetric", "conv2d_depthwise",
    ]

    @Test(arguments: conv2dNames) func conv2dMatchesPyTorch(_ name: String) throws {
        let f = (try Fixture("engine", name))
        let cfg = f["config"]
        let s = cfg.ints("stride"), p = cfg.ints("padding"), d = cfg.ints("dilation"), groups = cfg.int("groups")
        let (out, grads) = forwardBackward([f.t("x"), f.t("weight"), f.tensor("bias")], g: f.t("g")) { t in
            Tensor.conv2d(t[0]!, weight: t[1]!, bias: t[2], stride: (s[0], s[1]), padding: (p[0], p[1]),
                          dilation: (d[0], d[1]), groups: groups)
        }
        expectClose(out, f.t("out"), "\(name) out")
        expectClose(grads[0], f.t("grad_x"), "\(name) grad_x")
        expectClose(grads[1], f.t("grad_weight"), "\(name) grad_weight")
        expectClose(grads[2], f.tensor("grad_bias"), "\(name) grad_bias")
    }

    @Test(arguments: ["conv1d_basic", "conv1d_stride2_pad1_dil2_nobias"]) func conv1dMatchesPyTorch(_ name: String) throws {
        let f = (try Fixture("engine", name))
        let cfg = f["config"]
        let s = cfg.ints("stride")[0], p = cfg.ints("padding")[0], d = cfg.ints("dilation")[0]
        let (out, grads) = forwardBackward([f.t("x"), f.t("weight"), f.tensor("bias")], g: f.t("g")) { t in
            Tensor.conv1d(t[0]!, weight: t[1]!, bias: t[2], stride: s, padding: p, dilation: d,
                          groups: cfg.int("groups"))
        }
        expectClose(out, f.t("out"), "\(name) out")
        expectClose(grads[0], f.t("grad_x"), "\(name) grad_x")
        expectClose(grads[1], f.t("grad_weight"), "\(name) grad_weight")
        expectClose(grads[2], f.tensor("grad_bias"), "\(name) grad_bias")
    }

    @Test func conv2dGradCheck() {
        // stride 2, asymmetric padding and dilation, groups, bias
        let x = randn([2, 4, 6, 5], seed: 21), w = randn([6, 2, 3, 2], seed: 22), b = randn([6], seed: 23)
        let y0 = Tensor.conv2d(x, weight: w, bias: b, stride: (2, 1), padding: (1, 2), dilation: (1, 2), groups: 2)
        let g = randn(y0.shape, seed: 24)
        gradCheck([x, w, b]) { t in
            (Tensor.conv2d(t[0], weight: t[1], bias: t[2], stride: (2, 1), padding: (1, 2), dilation: (1, 2),
                           groups: 2) * g).sum()
        }
        // one input channel per group: depthwise with a channel multiplier, strides, dilation
        let wd = randn([8, 1, 3, 2], seed: 31), bd = randn([8], seed: 32)
        let yd = Tensor.conv2d(x, weight: wd, bias: bd, stride: (2, 2), padding: (1, 0), dilation: (1, 2), groups: 4)
        let gd = randn(yd.shape, seed: 33)
        gradCheck([x, wd, bd]) { t in
            (Tensor.conv2d(t[0], weight: t[1], bias: t[2], stride: (2, 2), padding: (1, 0), dilation: (1, 2),
                           groups: 4) * gd).sum()
        }
        let x1c = randn([2, 1, 5, 5], seed: 34), w1c = randn([3, 1, 3, 3], seed: 35)
        let g1c = randn([2, 3, 5, 5], seed: 36)
        gradCheck([x1c, w1c]) { t in (Tensor.conv2d(t[0], weight: t[1], padding: (1, 1)) * g1c).sum() }
        // pointwise (1x1) path
        let w1 = randn([3, 4, 1, 1], seed: 25)
        let g1 = randn([2, 3, 6, 5], seed: 26)
        gradCheck([x, w1]) { t in (Tensor.conv2d(t[0], weight: t[1]) * g1).sum() }
        // conv1d
        let x1 = randn([2, 3, 9], seed: 27), wc = randn([4, 3, 3], seed: 28)
        let g2 = randn([2, 4, 5], seed: 29)
        gradCheck([x1, wc]) { t in (Tensor.conv1d(t[0], weight: t[1], stride: 2, padding: 1) * g2).sum() }
    }

    @Test func conv2dEdgeCases() {
        // empty batch
        let w = randn([4, 3, 3, 3], seed: 30)
        let y = Tensor.conv2d(Tensor.zeros([0, 3, 5, 5]), weight: w, padding: (1, 1))
        #expect(y.shape == [0, 4, 5, 5])
        // NaN propagates to every output that reads it
        let x = Tensor.zeros([1, 1, 3, 3])
        x[0, 0, 1, 1] = .nan
        let z = Tensor.conv2d(x, weight: Tensor.ones([1, 1, 3, 3]), padding: (1, 1))
        #expect(z.scalars.allSatisfy { $0.isNaN })
        // kernel equal to the input: one output pixel
        let k = Tensor.conv2d(Tensor.ones([1, 2, 3, 3]), weight: Tensor.ones([1, 2, 3, 3]))
        #expect(k.shape == [1, 1, 1, 1] && k.item() == 18)
    }

    /// Direct 7-loop convolution, the oracle for the GEMM paths.
    static func naiveConv2d(_ x: Tensor, _ w: Tensor, _ b: Tensor?, stride: (Int, Int), padding: (Int, Int),
                            dilation: (Int, Int), groups: Int) -> Tensor {
        let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (o, cg, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
        let og = o / groups
        let oh = (h + 2 * padding.0 - dilation.0 * (kh - 1) - 1) / stride.0 + 1
        let ow = (wd + 2 * padding.1 - dilation.1 * (kw - 1) - 1) / stride.1 + 1
        let out = Tensor.zeros([n, o, oh, ow])
        let px = x.storage.pointer, pw = w.storage.pointer, po = out.storage.pointer
        for i in 0..<n { for oc in 0..<o { for y in 0..<oh { for xx in 0..<ow {
            var acc: Double = Double(b?.storage.pointer[oc] ?? 0)
            let g = oc / og
            for ci in 0..<cg { for a in 0..<kh { for bb in 0..<kw {
                let iy = y * stride.0 - padding.0 + a * dilation.0, ix = xx * stride.1 - padding.1 + bb * dilation.1
                if iy >= 0 && iy < h && ix >= 0 && ix < wd {
                    acc += Double(px[((i * c + g * cg + ci) * h + iy) * wd + ix]) * Double(pw[((oc * cg + ci) * kh + a) * kw + bb])
                }
            }}}
            po[((i * o + oc) * oh + y) * ow + xx] = Float(acc)
        }}}}
        return out
    }

    @Test func gemmPathsAgreeWithDirectConvolution() {
        // (shape, weight, stride, padding, dilation, groups): one image per GEMM (>= 1024 pixels),
        // several images per GEMM, and the 1x1 paths.
        let configs: [([Int], [Int], (Int, Int), (Int, Int), (Int, Int), Int)] = [
            ([2, 2, 32, 33], [3, 2, 3, 3], (1, 1), (1, 1), (1, 1), 1),
            ([5, 4, 6, 5], [6, 2, 3, 2], (2, 1), (1, 0), (1, 2), 2),
            ([2, 2, 32, 32], [3, 2, 1, 1], (1, 1), (0, 0), (1, 1), 1),
            ([7, 4, 3, 3], [3, 4, 1, 1], (1, 1), (0, 0), (1, 1), 1),
            ([3, 4, 5, 5], [4, 1, 3, 3], (1, 1), (1, 1), (1, 1), 4),
            ([2, 3, 9, 8], [6, 1, 2, 3], (2, 3), (1, 1), (2, 1), 3),
            // one input channel, unpadded (LeNet's first layer): register-tiled direct forward,
            // weight gradient by GEMM
            ([3, 1, 12, 21], [4, 1, 5, 5], (1, 1), (0, 0), (1, 1), 1),
            // unpadded depthwise with a row stride and row dilation
            ([2, 3, 11, 10], [6, 1, 3, 3], (2, 1), (0, 0), (2, 1), 3),
            // small map, large kernel: the input gradient folds back with col2im
            ([3, 6, 12, 12], [16, 6, 5, 5], (1, 1), (0, 0), (1, 1), 1),
        ]
        for (i, (xs, ws, s, p, d, gr)) in configs.enumerated() {
            let x = randn(xs, seed: 200 + UInt64(i)), w = randn(ws, seed: 300 + UInt64(i)), b = randn([ws[0]], seed: 400 + UInt64(i))
            let y = Tensor.conv2d(x, weight: w, bias: b, stride: s, padding: p, dilation: d, groups: gr)
            let ref = Self.naiveConv2d(x, w, b, stride: s, padding: p, dilation: d, groups: gr)
            expectClose(y, ref, rtol: 1e-4, atol: 1e-4, "config \(i)")
            // gradients against the direct convolution's autograd-free finite differences are
            // covered by gradCheck on small shapes; here compare dX/dW of both batching modes
            let g = randn(y.shape, seed: 500 + UInt64(i))
            let (_, grads) = forwardBackward([x, w, b], g: g) { t in
                Tensor.conv2d(t[0]!, weight: t[1]!, bias: t[2], stride: s, padding: p, dilation: d, groups: gr)
            }
            // one image at a time must give the same gradients (up to summation order)
            var gxs: [Tensor] = [], gws: [Tensor] = []
            for img in 0..<xs[0] {
                let (_, gi) = forwardBackward([x.narrow(dim: 0, start: img, length: 1), w], g: g.narrow(dim: 0, start: img, length: 1)) { t in
                    Tensor.conv2d(t[0]!, weight: t[1]!, stride: s, padding: p, dilation: d, groups: gr)
                }
                gxs.append(gi[0]!)
                gws.append(gi[1]!)
            }
            expectClose(grads[0], Tensor.cat(gxs, dim: 0), rtol: 1e-4, atol: 1e-4, "config \(i) grad_x")
            var gwSum = gws[0]
            for t in gws.dropFirst() { gwSum = gwSum + t }
            expectClose(grads[1], gwSum, rtol: 1e-3, atol: 1e-3, "config \(i) grad_w")
        }
    }

    /// Strided GEMM convolutions on small maps: the forward gathers every other input column
    /// eight at a time (`gatherEven`, stride 2) or one by one (stride 3), and the input gradient
    /// folds the columns back with col2im over the output columns whose input column is inside
    /// the row. Output widths below, at and above one 8-wide vector, odd input widths, padding
    /// 0, 1 and 2, 1x1 and 3x3 kernels: values and both gradients match the direct sums.
    @Test func stridedIm2colAndCol2imMatchTheDirectSums() {
        let configs: [([Int], [Int], (Int, Int), (Int, Int))] = [
            ([2, 3, 20, 20], [5, 3, 3, 3], (2, 2), (1, 1)),
            ([2, 4, 16, 16], [6, 4, 1, 1], (2, 2), (0, 0)),
            ([1, 2, 17, 35], [3, 2, 3, 3], (2, 2), (1, 1)),
            ([2, 2, 9, 9], [3, 2, 3, 3], (2, 2), (0, 2)),
            ([1, 2, 10, 11], [2, 2, 3, 3], (3, 3), (1, 1)),
            ([3, 2, 7, 6], [4, 2, 3, 3], (2, 2), (1, 1)),
        ]
        for (i, (xs, ws, s, p)) in configs.enumerated() {
            let x = randn(xs, seed: 900 + UInt64(i)), w = randn(ws, seed: 950 + UInt64(i))
            let out = Tensor.conv2d(x, weight: w, stride: s, padding: p)
            expectClose(out, Self.naiveConv2d(x, w, nil, stride: s, padding: p, dilation: (1, 1), groups: 1),
                        rtol: 1e-5, atol: 1e-5, "config \(i)")
            let g = randn(out.shape, seed: 990 + UInt64(i))
            let (_, gr) = forwardBackward([x, w], g: g) { t in Tensor.conv2d(t[0]!, weight: t[1]!, stride: s, padding: p) }
            // Direct sums in double: dX[c, ih, iw] and dW[o, c, a, b] over every (output pixel, tap).
            let (n, c, h, wd) = (xs[0], xs[1], xs[2], xs[3]), (o, kh, kw) = (ws[0], ws[2], ws[3])
            let (oh, ow) = (out.shape[2], out.shape[3])
            var gx = [Double](repeating: 0, count: x.count), gw = [Double](repeating: 0, count: w.count)
            let px = x.scalars, pw = w.scalars, pg = g.scalars
            for img in 0..<n { for oc in 0..<o { for yy in 0..<oh { for xx in 0..<ow {
                let gv = Double(pg[((img * o + oc) * oh + yy) * ow + xx])
                for ci in 0..<c { for a in 0..<kh { for bb in 0..<kw {
                    let iy = yy * s.0 - p.0 + a, ix = xx * s.1 - p.1 + bb
                    if iy < 0 || iy >= h || ix < 0 || ix >= wd { continue }
                    let xi = ((img * c + ci) * h + iy) * wd + ix, wi = ((oc * c + ci) * kh + a) * kw + bb
                    gx[xi] += gv * Double(pw[wi])
                    gw[wi] += gv * Double(px[xi])
                }}}
            }}}}
            expectClose(gr[0]!, Tensor(shape: xs, gx.map { Float($0) }), rtol: 1e-4, atol: 1e-4, "config \(i) grad_x")
            expectClose(gr[1]!, Tensor(shape: ws, gw.map { Float($0) }), rtol: 1e-4, atol: 1e-4, "config \(i) grad_w")
        }
    }

    /// Padded depthwise convolutions with column stride 1 copy each plane into a zero-bordered
    /// scratch plane and sum in registers: they match the direct sum, and bit for bit the same
    /// convolution of an explicitly zero-padded input (rows shorter and longer than one 8-wide
    /// vector, symmetric and asymmetric padding, a row stride, a channel multiplier, no bias).
    @Test func paddedDepthwiseMatchesTheDirectSumAndExplicitPadding() {
        let configs: [([Int], [Int], (Int, Int), (Int, Int), Bool)] = [
            ([2, 4, 7, 5], [4, 1, 3, 3], (1, 1), (1, 1), true),
            ([1, 3, 19, 17], [6, 1, 3, 3], (1, 1), (1, 1), true),
            ([2, 5, 12, 56], [5, 1, 3, 3], (2, 1), (1, 1), false),
            ([1, 2, 9, 23], [2, 1, 3, 5], (1, 1), (2, 0), true),
            ([1, 2, 8, 8], [2, 1, 3, 3], (1, 1), (0, 2), true),
        ]
        for (i, (xs, ws, s, p, hasBias)) in configs.enumerated() {
            let x = randn(xs, seed: 600 + UInt64(i)), w = randn(ws, seed: 700 + UInt64(i))
            let b = hasBias ? randn([ws[0]], seed: 800 + UInt64(i)) : nil
            let y = Tensor.conv2d(x, weight: w, bias: b, stride: s, padding: p, groups: xs[1])
            let ref = Self.naiveConv2d(x, w, b, stride: s, padding: p, dilation: (1, 1), groups: xs[1])
            expectClose(y, ref, rtol: 1e-5, atol: 1e-5, "config \(i)")
            let xp = Tensor.zeros([xs[0], xs[1], xs[2] + 2 * p.0, xs[3] + 2 * p.1])
            for img in 0..<xs[0] { for c in 0..<xs[1] { for r in 0..<xs[2] { for col in 0..<xs[3] {
                xp[img, c, r + p.0, col + p.1] = x[img, c, r, col]
            }}}}
            let yp = Tensor.conv2d(xp, weight: w, bias: b, stride: s, groups: xs[1])
            #expect(y.shape == yp.shape && y.scalars == yp.scalars, "config \(i)")
        }
        gradCheck([randn([1, 2, 5, 6], seed: 9), randn([2, 1, 3, 3], seed: 10)]) { t in
            (Tensor.conv2d(t[0], weight: t[1], padding: (1, 1), groups: 2) * randn([1, 2, 5, 6], seed: 11)).sum()
        }
    }

    @Test func winogradMatchesTheDirectSum() {
        // 3x3 stride-1 convolutions with at least 16 channels run as Winograd F(2x2, 3x3) (on
        // AVX2 processors; F(4x4, 3x3) on AVX-512 ones where a row has enough 4x4 tiles): odd and even output sizes (partial tiles at the right and bottom),
        // padding 0, 1 and 2, maps narrower and wider than one 8-tile group, with and without bias;
        // the input gradient (a flipped 3x3 convolution) takes the same path. (The test never
        // switches Winograd off: the switch is global and other tests run concurrently.)
        let configs: [([Int], [Int], (Int, Int))] = [
            ([2, 16, 9, 13], [16, 16, 3, 3], (1, 1)),
            ([1, 20, 17, 12], [24, 20, 3, 3], (0, 2)),
            ([3, 16, 12, 40], [32, 16, 3, 3], (2, 1)),
            ([1, 17, 66, 14], [16, 17, 3, 3], (1, 0)),
            // F(4x4, 3x3) on AVX-512 processors: 8 and 16 tiles per row, partial tiles at the
            // bottom (15 and 14 rows) and the right (29 columns), two tile blocks per image.
            ([2, 16, 9, 29], [16, 16, 3, 3], (1, 1)),
            ([1, 20, 17, 30], [24, 20, 3, 3], (0, 2)),
            ([3, 16, 12, 62], [32, 16, 3, 3], (2, 1)),
            ([1, 16, 40, 64], [16, 16, 3, 3], (1, 1)),
            // 9 images: the weight gradient sums them in 5 groups of up to 2.
            ([9, 16, 8, 28], [16, 16, 3, 3], (1, 1)),
        ]
        for (i, (xs, ws, p)) in configs.enumerated() {
            let x = randn(xs, seed: 600 + UInt64(i)), w = randn(ws, seed: 700 + UInt64(i)), b = randn([ws[0]], seed: 800 + UInt64(i))
            let geo = ConvGeometry(input: xs, weight: ws, stride: (1, 1), padding: p, dilation: (1, 1), groups: 1)
            #expect(geo.usesWinograd == ConvGeometry.winogradEnabled, "config \(i)")
            #expect(geo.winogradTile == (i >= 4 && ConvGeometry.winograd4Enabled ? 4 : 2), "config \(i)")
            let y = Tensor.conv2d(x, weight: w, bias: i % 2 == 0 ? b : nil, padding: p)
            let ref = Self.naiveConv2d(x, w, i % 2 == 0 ? b : nil, stride: (1, 1), padding: p, dilation: (1, 1), groups: 1)
            // gradients against the direct sums (no global switch: tests run concurrently)
            let g = randn(y.shape, seed: 900 + UInt64(i))
            let (_, grads) = forwardBackward([x, w], g: g) { t in Tensor.conv2d(t[0]!, weight: t[1]!, padding: p) }
            let (refX, refW) = Self.naiveConv2dGradients(x, w, g, padding: p)
            if geo.winogradTile == 2 {
                expectClose(y, ref, rtol: 1e-4, atol: 1e-4, "config \(i)")
                expectClose(grads[0]!, refX, rtol: 1e-4, atol: 1e-4, "config \(i) grad_x")
                expectClose(grads[1]!, refW, rtol: 1e-4, atol: 1e-4, "config \(i) grad_w")
                continue
            }
            // F(4x4): its transforms scale terms by up to 8 (and 1/24) before they cancel, so the
            // rounding error is relative to the sum of the magnitudes of the terms, not to the
            // result (which can be far smaller). Bound: 1e-5 of Σ|terms| (about 170 float
            // epsilons; measured errors are below 30), i.e. the same sums over |x|, |w| and |g|.
            let (ax, aw, ag) = (x.abs(), w.abs(), g.abs())
            let magY = Self.naiveConv2d(ax, aw, i % 2 == 0 ? b.abs() : nil, stride: (1, 1), padding: p, dilation: (1, 1), groups: 1)
            let (magX, magW) = Self.naiveConv2dGradients(ax, aw, ag, padding: p)
            for (what, got, want, mag) in [("output", y, ref, magY), ("grad_x", grads[0]!, refX, magX), ("grad_w", grads[1]!, refW, magW)] {
                let (a, e, m) = (got.scalars, want.scalars, mag.scalars)
                let bad = (0..<e.count).filter { abs(a[$0] - e[$0]) > 1e-5 * m[$0] + 1e-6 }
                #expect(a.count == e.count && bad.isEmpty, "config \(i) \(what): \(bad.count) elements off, first \(bad.first.map { "\(a[$0]) vs \(e[$0]) (magnitude \(m[$0]))" } ?? "")")
            }
        }
    }

    /// Input and weight gradients of a stride-1, one-group convolution by direct sums in Double.
    static func naiveConv2dGradients(_ x: Tensor, _ w: Tensor, _ g: Tensor, padding: (Int, Int)) -> (Tensor, Tensor) {
        let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (o, kh, kw) = (w.shape[0], w.shape[2], w.shape[3])
        let (oh, ow) = (g.shape[2], g.shape[3])
        var gx = [Double](repeating: 0, count: x.count), gw = [Double](repeating: 0, count: w.count)
        let px = x.storage.pointer, pw = w.storage.pointer, pg = g.storage.pointer
        for i in 0..<n { for oc in 0..<o { for yy in 0..<oh { for xx in 0..<ow {
            let gv = Double(pg[((i * o + oc) * oh + yy) * ow + xx])
            for ci in 0..<c { for a in 0..<kh { for b in 0..<kw {
                let iy = yy - padding.0 + a, ix = xx - padding.1 + b
                guard iy >= 0 && iy < h && ix >= 0 && ix < wd else { continue }
                let xi = ((i * c + ci) * h + iy) * wd + ix, wi = ((oc * c + ci) * kh + a) * kw + b
                gx[xi] += gv * Double(pw[wi])
                gw[wi] += gv * Double(px[xi])
            }}}
        }}}}
        return (Tensor(shape: x.shape, gx.map { Float($0) }), Tensor(shape: w.shape, gw.map { Float($0) }))
    }
}
