import Testing
import TestSupport
@testable import TensorEngine

/// Transposed and 3-d convolutions against direct sums (forward and, for the loss `Σ y·G`, the
/// input, weight and bias gradients) and finite differences.
@Suite struct ConvTransposeTests {
    /// Direct scatter definition of the 2-d transposed convolution, with the gradients of
    /// `Σ y·G`: `y[n, g·og+o, i·s−p+a·d, j·s−p+b·d] += x[n, g·cg+c, i, j] · w[g·cg+c, o, a, b]`.
    static func naive(
        _ x: Tensor, _ w: Tensor, _ b: Tensor?, _ gOut: Tensor?, stride: (Int, Int), padding: (Int, Int),
        outputPadding: (Int, Int), dilation: (Int, Int), groups: Int
    ) -> (y: Tensor, gx: Tensor, gw: Tensor) {
        let (n, cin, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (og, kh, kw) = (w.shape[1], w.shape[2], w.shape[3])
        let cg = cin / groups, cout = og * groups
        let oh = (h - 1) * stride.0 - 2 * padding.0 + dilation.0 * (kh - 1) + outputPadding.0 + 1
        let ow = (wd - 1) * stride.1 - 2 * padding.1 + dilation.1 * (kw - 1) + outputPadding.1 + 1
        var y = [Double](repeating: 0, count: n * cout * oh * ow)
        var gx = [Double](repeating: 0, count: x.count), gw = [Double](repeating: 0, count: w.count)
        let px = x.scalars, pw = w.scalars, pg = gOut?.scalars
        for i in 0..<n { for ci in 0..<cin { for r in 0..<h { for c in 0..<wd {
            let xi = ((i * cin + ci) * h + r) * wd + c
            let gi = ci / cg
            for o in 0..<og { for a in 0..<kh { for bb in 0..<kw {
                let yr = r * stride.0 - padding.0 + a * dilation.0, yc = c * stride.1 - padding.1 + bb * dilation.1
                guard yr >= 0 && yr < oh && yc >= 0 && yc < ow else { continue }
                let yi = ((i * cout + gi * og + o) * oh + yr) * ow + yc
                let wi = ((ci * og + o) * kh + a) * kw + bb
                y[yi] += Double(px[xi]) * Double(pw[wi])
                if let pg {
                    gx[xi] += Double(pg[yi]) * Double(pw[wi])
                    gw[wi] += Double(pg[yi]) * Double(px[xi])
                }
            }}}
        }}}}
        if let b {
            let pb = b.scalars
            for i in 0..<(n * cout) { for j in 0..<(oh * ow) { y[i * oh * ow + j] += Double(pb[i % cout]) } }
        }
        return (Tensor(shape: [n, cout, oh, ow], y.map(Float.init)), Tensor(shape: x.shape, gx.map(Float.init)),
                Tensor(shape: w.shape, gw.map(Float.init)))
    }

    /// (input, weight, stride, padding, output_padding, dilation, groups): the col2im path
    /// (stride 2), the flipped-kernel path (stride 1), one output channel per group (depthwise),
    /// several images per GEMM, and Winograd-sized maps (16 channels, 3x3, stride 1).
    static let configs: [([Int], [Int], (Int, Int), (Int, Int), (Int, Int), (Int, Int), Int)] = [
        ([2, 4, 5, 4], [4, 3, 3, 3], (2, 2), (1, 0), (1, 1), (1, 1), 1),
        ([2, 4, 5, 4], [4, 2, 3, 2], (2, 3), (1, 1), (1, 2), (2, 1), 2),
        ([3, 4, 6, 6], [4, 3, 3, 3], (1, 1), (1, 1), (0, 0), (1, 1), 1),
        ([2, 6, 5, 5], [6, 1, 3, 3], (2, 1), (0, 1), (1, 0), (1, 2), 6),
        ([2, 16, 10, 10], [16, 16, 3, 3], (1, 1), (1, 1), (0, 0), (1, 1), 1),
        ([1, 3, 40, 36], [3, 5, 4, 4], (2, 2), (1, 1), (0, 0), (1, 1), 1),
    ]

    @Test(arguments: 0..<configs.count) func convTranspose2dMatchesTheDirectSum(_ k: Int) {
        let (xs, ws, s, p, op, d, g) = Self.configs[k]
        let x = randn(xs, seed: UInt64(40 + k)), w = randn(ws, seed: UInt64(50 + k))
        let b = randn([ws[1] * g], seed: UInt64(60 + k))
        let y0 = Tensor.convTranspose2d(x, weight: w, bias: b, stride: s, padding: p, outputPadding: op, dilation: d, groups: g)
        let gOut = randn(y0.shape, seed: UInt64(70 + k))
        let ref = Self.naive(x, w, b, gOut, stride: s, padding: p, outputPadding: op, dilation: d, groups: g)
        let (y, grads) = forwardBackward([x, w, b], g: gOut) { t in
            Tensor.convTranspose2d(t[0]!, weight: t[1]!, bias: t[2], stride: s, padding: p, outputPadding: op, dilation: d, groups: g)
        }
        expectClose(y, ref.y, rtol: 1e-4, atol: 1e-4, "config \(k) y")
        expectClose(grads[0], ref.gx, rtol: 1e-4, atol: 1e-4, "config \(k) grad x")
        expectClose(grads[1], ref.gw, rtol: 1e-4, atol: 2e-4, "config \(k) grad w")
        let gb = gOut.sum(dims: [0, 2, 3])
        expectClose(grads[2], gb, rtol: 1e-4, atol: 1e-4, "config \(k) grad b")
    }

    @Test func convTransposeGradCheck() {
        let x = randn([2, 4, 3, 3], seed: 1), w = randn([4, 1, 3, 2], seed: 2), b = randn([2], seed: 3)
        let g = randn([2, 2, 6, 10], seed: 4)
        gradCheck([x, w, b]) { t in
            (Tensor.convTranspose2d(t[0], weight: t[1], bias: t[2], stride: (2, 3), padding: (1, 0), outputPadding: (1, 1),
                                    dilation: (1, 2), groups: 2) * g).sum()
        }
        // 1-d: the case geometry of `convtranspose1d_stride_dilation`.
        let x1 = randn([2, 2, 5], seed: 5), w1 = randn([2, 3, 3], seed: 6), b1 = randn([3], seed: 7)
        let y1 = Tensor.convTranspose1d(x1, weight: w1, bias: b1, stride: 2, padding: 1, outputPadding: 1, dilation: 2)
        #expect(y1.shape == [2, 3, 12])
        let g1 = randn(y1.shape, seed: 8)
        gradCheck([x1, w1, b1]) { t in
            (Tensor.convTranspose1d(t[0], weight: t[1], bias: t[2], stride: 2, padding: 1, outputPadding: 1, dilation: 2) * g1).sum()
        }
    }

    @Test func convTransposeIsTheAdjointOfConv() {
        // <conv(y), x> == <y, convT(x)> for the same weight and geometry.
        let w = randn([3, 2, 3, 3], seed: 9), x = randn([1, 3, 4, 4], seed: 10)
        let yt = Tensor.convTranspose2d(x, weight: w, stride: (2, 2), padding: (1, 1), outputPadding: (1, 1))
        #expect(yt.shape == [1, 2, 8, 8])
        let y = randn(yt.shape, seed: 11)
        let lhs = (Tensor.conv2d(y, weight: w, stride: (2, 2), padding: (1, 1)) * x).sum().item()
        let rhs = (y * yt).sum().item()
        #expect(abs(lhs - rhs) <= 1e-4 * max(1, abs(lhs)))
    }

    @Test func convTransposeEdgeCases() {
        // empty batch
        let y = Tensor.convTranspose2d(Tensor.zeros([0, 2, 3, 3]), weight: randn([2, 4, 3, 3]), bias: Tensor.ones([4]))
        #expect(y.shape == [0, 4, 5, 5])
        // 1x1 input, kernel 1: a per-pixel matrix product plus bias
        let z = Tensor.convTranspose2d(Tensor.ones([1, 2, 1, 1]), weight: Tensor.ones([2, 3, 1, 1]), bias: Tensor([1, 2, 3]))
        #expect(z.scalars == [3, 4, 5])
        // NaN reaches exactly the outputs its kernel footprint covers
        let x = Tensor.zeros([1, 1, 3, 3])
        x[0, 0, 0, 0] = .nan
        let n = Tensor.convTranspose2d(x, weight: Tensor.ones([1, 1, 2, 2]), stride: (2, 2))
        #expect(n.shape == [1, 1, 6, 6])
        #expect(n.scalars.enumerated().allSatisfy { ($0.offset / 6 < 2 && $0.offset % 6 < 2) == $0.element.isNaN })
    }

    // MARK: 3-d convolution

    static func naiveConv3d(
        _ x: Tensor, _ w: Tensor, _ b: Tensor?, _ gOut: Tensor?, stride: [Int], padding: [Int], dilation: [Int], groups: Int
    ) -> (y: Tensor, gx: Tensor, gw: Tensor) {
        let n = x.shape[0], cin = x.shape[1], inp = Array(x.shape[2...])
        let cout = w.shape[0], cg = w.shape[1], k = Array(w.shape[2...])
        let og = cout / groups
        var o: [Int] = []
        for i in 0..<3 {
            let span: Int = inp[i] + 2 * padding[i] - dilation[i] * (k[i] - 1) - 1
            o.append(span / stride[i] + 1)
        }
        let count: Int = n * cout * o[0] * o[1] * o[2]
        var y = [Double](repeating: 0, count: count)
        var gx = [Double](repeating: 0, count: x.count), gw = [Double](repeating: 0, count: w.count)
        let px = x.scalars, pw = w.scalars, pg = gOut?.scalars, pb = b?.scalars
        for i in 0..<n { for oc in 0..<cout { for a in 0..<o[0] { for bb in 0..<o[1] { for c in 0..<o[2] {
            let yi = (((i * cout + oc) * o[0] + a) * o[1] + bb) * o[2] + c
            y[yi] = Double(pb?[oc] ?? 0)
            for ci in 0..<cg { for t0 in 0..<k[0] { for t1 in 0..<k[1] { for t2 in 0..<k[2] {
                let z0 = a * stride[0] - padding[0] + t0 * dilation[0]
                let z1 = bb * stride[1] - padding[1] + t1 * dilation[1]
                let z2 = c * stride[2] - padding[2] + t2 * dilation[2]
                guard z0 >= 0 && z0 < inp[0] && z1 >= 0 && z1 < inp[1] && z2 >= 0 && z2 < inp[2] else { continue }
                let xi = (((i * cin + (oc / og) * cg + ci) * inp[0] + z0) * inp[1] + z1) * inp[2] + z2
                let wi = (((oc * cg + ci) * k[0] + t0) * k[1] + t1) * k[2] + t2
                y[yi] += Double(px[xi]) * Double(pw[wi])
                if let pg {
                    gx[xi] += Double(pg[yi]) * Double(pw[wi])
                    gw[wi] += Double(pg[yi]) * Double(px[xi])
                }
            }}}}
        }}}}}
        return (Tensor(shape: [n, cout] + o, y.map(Float.init)), Tensor(shape: x.shape, gx.map(Float.init)),
                Tensor(shape: w.shape, gw.map(Float.init)))
    }

    @Test func conv3dMatchesTheDirectSum() {
        let configs: [([Int], [Int], [Int], [Int], [Int], Int)] = [
            ([2, 2, 4, 4, 4], [3, 2, 2, 2, 2], [1, 1, 1], [0, 0, 0], [1, 1, 1], 1),
            ([2, 4, 5, 6, 4], [6, 2, 3, 2, 3], [2, 1, 2], [1, 0, 2], [1, 2, 1], 2),
        ]
        for (k, (xs, ws, s, p, d, g)) in configs.enumerated() {
            let x = randn(xs, seed: UInt64(80 + k)), w = randn(ws, seed: UInt64(90 + k)), b = randn([ws[0]], seed: UInt64(95 + k))
            let y0 = Tensor.conv3d(x, weight: w, bias: b, stride: (s[0], s[1], s[2]), padding: (p[0], p[1], p[2]),
                                   dilation: (d[0], d[1], d[2]), groups: g)
            let gOut = randn(y0.shape, seed: UInt64(99 + k))
            let ref = Self.naiveConv3d(x, w, b, gOut, stride: s, padding: p, dilation: d, groups: g)
            let (y, grads) = forwardBackward([x, w, b], g: gOut) { t in
                Tensor.conv3d(t[0]!, weight: t[1]!, bias: t[2], stride: (s[0], s[1], s[2]), padding: (p[0], p[1], p[2]),
                              dilation: (d[0], d[1], d[2]), groups: g)
            }
            expectClose(y, ref.y, rtol: 1e-4, atol: 1e-4, "conv3d \(k) y")
            expectClose(grads[0], ref.gx, rtol: 1e-4, atol: 1e-4, "conv3d \(k) grad x")
            expectClose(grads[1], ref.gw, rtol: 1e-4, atol: 1e-4, "conv3d \(k) grad w")
            expectClose(grads[2], gOut.sum(dims: [0, 2, 3, 4]), rtol: 1e-4, atol: 1e-4, "conv3d \(k) grad b")
        }
    }

    @Test func conv3dGradCheck() {
        let x = randn([1, 2, 3, 4, 3], seed: 12), w = randn([2, 1, 2, 2, 2], seed: 13), b = randn([2], seed: 14)
        let g = randn([1, 2, 2, 3, 1], seed: 15)
        gradCheck([x, w, b]) { t in
            (Tensor.conv3d(t[0], weight: t[1], bias: t[2], stride: (1, 2, 1), padding: (0, 1, 0), dilation: (1, 1, 2), groups: 2) * g).sum()
        }
    }
}
