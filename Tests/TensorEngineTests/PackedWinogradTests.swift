import Testing
import TestSupport
@testable import TensorEngine

/// Winograd on narrow maps with images side by side (`ConvGeometry+PackedWinograd.swift`):
/// outputs and both gradients against the direct sums in Double, for batches that fill their last
/// virtual image and batches that do not, padding 0, 1 and 2, odd widths, with and without bias;
/// and the choice of packing itself.
@Suite struct PackedWinogradTests {
    /// (input, weight, padding, bias)
    static let configs: [([Int], [Int], (Int, Int), Bool)] = [
        ([5, 16, 8, 8], [16, 16, 3, 3], (1, 1), true),
        ([17, 16, 8, 8], [24, 16, 3, 3], (1, 1), false),
        ([3, 16, 8, 6], [16, 16, 3, 3], (1, 0), true),
        ([4, 16, 9, 7], [16, 16, 3, 3], (2, 2), false),
        ([4, 17, 10, 10], [16, 17, 3, 3], (1, 1), true),
    ]

    @Test func packingIsChosenForNarrowMapsOnly() throws {
        let resnetLast = ConvGeometry(input: [32, 64, 8, 8], weight: [64, 64, 3, 3], stride: (1, 1), padding: (1, 1),
                                      dilation: (1, 1), groups: 1)
        let p = resnetLast.winogradPacking
        #expect((p != nil) == ConvGeometry.winogradEnabled)
        if let p {
            #expect(p.slot == 10 && p.k >= 2 && p.k <= 16 && p.virtual.usesWinograd)
            #expect(p.virtual.inW == 10 * p.k - 2 && p.virtual.outW == 10 * p.k - 2 && p.virtual.n == (32 + p.k - 1) / p.k)
            #expect(!resnetLast.savesColumns)
        }
        // Already Winograd unpacked, one image, a stride, too few channels, 5x5: no packing.
        let none: [([Int], [Int], (Int, Int))] = [
            ([32, 32, 16, 16], [32, 32, 3, 3], (1, 1)), ([1, 64, 8, 8], [64, 64, 3, 3], (1, 1)),
            ([8, 8, 8, 8], [16, 8, 3, 3], (1, 1)), ([8, 16, 12, 12], [16, 16, 5, 5], (2, 2)),
        ]
        for (xs, ws, pad) in none {
            let geo = ConvGeometry(input: xs, weight: ws, stride: (1, 1), padding: pad, dilation: (1, 1), groups: 1)
            #expect(geo.winogradPacking == nil, "\(xs) \(ws)")
        }
        let strided = ConvGeometry(input: [8, 16, 16, 16], weight: [16, 16, 3, 3], stride: (2, 2), padding: (1, 1),
                                   dilation: (1, 1), groups: 1)
        #expect(strided.winogradPacking == nil)
    }

    @Test func packedWinogradMatchesTheDirectSum() {
        for (i, (xs, ws, p, hasBias)) in Self.configs.enumerated() {
            let geo = ConvGeometry(input: xs, weight: ws, stride: (1, 1), padding: p, dilation: (1, 1), groups: 1)
            #expect((geo.winogradPacking != nil) == ConvGeometry.winogradEnabled, "config \(i)")
            let x = randn(xs, seed: 1100 + UInt64(i)), w = randn(ws, seed: 1200 + UInt64(i))
            let b = hasBias ? randn([ws[0]], seed: 1300 + UInt64(i)) : nil
            let y = Tensor.conv2d(x, weight: w, bias: b, padding: p)
            let ref = ConvTests.naiveConv2d(x, w, b, stride: (1, 1), padding: p, dilation: (1, 1), groups: 1)
            let g = randn(y.shape, seed: 1400 + UInt64(i))
            let (_, grads) = forwardBackward([x, w], g: g) { t in Tensor.conv2d(t[0]!, weight: t[1]!, padding: p) }
            let (refX, refW) = ConvTests.naiveConv2dGradients(x, w, g, padding: p)
            // F(4x4) rounds relative to the sum of the terms' magnitudes (see ConvTests'
            // winogradMatchesTheDirectSum): 1e-5 of the same sums over |x|, |w|, |g|.
            let (ax, aw, ag) = (x.abs(), w.abs(), g.abs())
            let magY = ConvTests.naiveConv2d(ax, aw, b?.abs(), stride: (1, 1), padding: p, dilation: (1, 1), groups: 1)
            let (magX, magW) = ConvTests.naiveConv2dGradients(ax, aw, ag, padding: p)
            for (what, got, want, mag) in [("output", y, ref, magY), ("grad_x", grads[0]!, refX, magX), ("grad_w", grads[1]!, refW, magW)] {
                let (a, e, m) = (got.scalars, want.scalars, mag.scalars)
                let bad = (0..<e.count).filter { !(abs(a[$0] - e[$0]) <= 1e-5 * m[$0] + 1e-6) }
                #expect(a.count == e.count && bad.isEmpty,
                        "config \(i) \(what): \(bad.count) elements off, first \(bad.first.map { "\(a[$0]) vs \(e[$0])" } ?? "")")
            }
            // Only one gradient asked for: the same bits as both together.
            let gx = Tensor.empty(xs), gw = Tensor.empty(ws)
            geo.backward(g: g.storage.pointer, x: x.storage.pointer, w: w.storage.pointer, gx: gx.storage.pointer, gw: nil, gb: nil)
            geo.backward(g: g.storage.pointer, x: x.storage.pointer, w: w.storage.pointer, gx: nil, gw: gw.storage.pointer, gb: nil)
            #expect(gx.scalars == grads[0]!.scalars, "config \(i): grad_x alone differs")
            #expect(gw.scalars == grads[1]!.scalars, "config \(i): grad_w alone differs")
        }
    }

    /// The bound above is not vacuous: a dropped image column, or a gap column's gradient let
    /// through, is far outside it.
    @Test func theBoundSeesAMisplacedColumn() {
        let (xs, ws, p) = ([3, 16, 8, 8], [16, 16, 3, 3], (1, 1))
        let x = randn(xs, seed: 1500), w = randn(ws, seed: 1501)
        let y = Tensor.conv2d(x, weight: w, padding: p)
        var shifted = y.scalars
        for r in 0..<(shifted.count / 8) { shifted[r * 8 + 7] = shifted[r * 8 + 6] }  // last column replaced
        let ref = ConvTests.naiveConv2d(x, w, nil, stride: (1, 1), padding: p, dilation: (1, 1), groups: 1).scalars
        let mag = ConvTests.naiveConv2d(x.abs(), w.abs(), nil, stride: (1, 1), padding: p, dilation: (1, 1), groups: 1).scalars
        let bad = (0..<ref.count).filter { !(abs(shifted[$0] - ref[$0]) <= 1e-5 * mag[$0] + 1e-6) }
        #expect(bad.count > ref.count / 16)
    }
}
