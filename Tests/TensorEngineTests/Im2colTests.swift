import Testing
import TestSupport
@testable import TensorEngine

/// `ConvGeometry.im2col` / `col2im` (zero-padded planes and the vector row kernels of
/// CKernels/im2col.c) against bounds-checked scalar loops over the unpadded planes, bit for bit:
/// im2col only copies, and col2im adds each element's contributions in the same (tap, row,
/// column) order. Output widths below, at and above one or two 8-float vectors, strides 1, 2 and
/// 3, dilation, asymmetric padding, a column stride `ld` wider than the columns, and NaN, ±inf
/// and -0 among the values.
@Suite struct Im2colTests {
    /// (images, channels, inH, inW, kH, kW, stride, padding, dilation)
    static let geometries: [(Int, Int, Int, Int, Int, Int, (Int, Int), (Int, Int), (Int, Int))] = [
        (2, 3, 8, 8, 3, 3, (1, 1), (1, 1), (1, 1)),
        (3, 2, 16, 16, 3, 3, (2, 2), (1, 1), (1, 1)),
        (1, 2, 5, 7, 3, 3, (1, 1), (1, 1), (1, 1)),
        (2, 1, 9, 17, 3, 3, (1, 1), (0, 2), (1, 1)),
        (1, 2, 17, 35, 3, 3, (2, 2), (1, 1), (1, 1)),
        (2, 2, 15, 31, 3, 2, (2, 2), (2, 0), (1, 1)),
        (1, 2, 10, 11, 3, 3, (3, 3), (1, 1), (1, 1)),
        (2, 2, 12, 40, 3, 3, (1, 1), (2, 2), (2, 2)),
        (1, 3, 33, 33, 3, 3, (1, 2), (1, 1), (1, 2)),
        (2, 4, 16, 16, 1, 1, (2, 2), (0, 0), (1, 1)),
        (1, 1, 3, 3, 3, 3, (1, 1), (1, 1), (1, 1)),
        (1, 2, 20, 64, 5, 5, (2, 2), (2, 2), (1, 1)),
    ]

    static func values(_ count: Int, seed: UInt64) -> [Float] {
        var v = randn([count], seed: seed).scalars
        let specials: [Float] = [.nan, .infinity, -.infinity, -0.0, 0.5, -2.5]
        for (i, s) in specials.enumerated() where count > 3 * i { v[3 * i + 1] = s }
        return v
    }

    static func same(_ a: [Float], _ b: [Float]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) }
    }

    @Test func im2colAndCol2imMatchTheBoundsCheckedLoops() {
        for (i, (n, c, h, w, kh, kw, s, p, d)) in Self.geometries.enumerated() {
            let geo = ConvGeometry(input: [n, c, h, w], weight: [1, c, kh, kw], stride: s, padding: p, dilation: d, groups: 1)
            let (oh, ow, l, kk) = (geo.outH, geo.outW, geo.l, kh * kw)
            let ld = n * l + 5  // wider than the columns: the kernels must use ld, not n·l
            let x = Self.values(n * c * h * w, seed: 10 + UInt64(i))
            // Reference im2col: image b in columns b·l..<(b+1)·l, zero outside the image.
            var ref = [Float](repeating: 7, count: c * kk * ld)
            for b in 0..<n { for ci in 0..<c { for a in 0..<kh { for bb in 0..<kw { for y in 0..<oh { for xx in 0..<ow {
                let iy = y * s.0 - p.0 + a * d.0, ix = xx * s.1 - p.1 + bb * d.1
                let v: Float = iy < 0 || iy >= h || ix < 0 || ix >= w ? 0 : x[((b * c + ci) * h + iy) * w + ix]
                ref[(ci * kk + a * kw + bb) * ld + b * l + y * ow + xx] = v
            }}}}}}
            var col = [Float](repeating: 7, count: c * kk * ld)
            x.withUnsafeBufferPointer { xp in
                col.withUnsafeMutableBufferPointer { cp in
                    geo.im2col(images: n, xp.baseAddress!, imageStride: c * h * w, cp.baseAddress!, ld: ld)
                }
            }
            #expect(Self.same(col, ref), "geometry \(i): im2col differs from the bounds-checked loop")

            // Reference col2im of image 0's columns: contributions in (tap, row, column) order.
            let g = Self.values(c * kk * ld, seed: 50 + UInt64(i))
            var back = [Float](repeating: 0, count: c * h * w)
            for ci in 0..<c { for a in 0..<kh { for bb in 0..<kw { for y in 0..<oh { for xx in 0..<ow {
                let iy = y * s.0 - p.0 + a * d.0, ix = xx * s.1 - p.1 + bb * d.1
                if iy < 0 || iy >= h || ix < 0 || ix >= w { continue }
                back[(ci * h + iy) * w + ix] += g[(ci * kk + a * kw + bb) * ld + y * ow + xx]
            }}}}}
            var got = [Float](repeating: 3, count: c * h * w)
            g.withUnsafeBufferPointer { gp in
                got.withUnsafeMutableBufferPointer { op in geo.col2im(gp.baseAddress!, op.baseAddress!, ld: ld) }
            }
            #expect(Self.same(got, back), "geometry \(i): col2im differs from the bounds-checked loop")
        }
    }

    /// The checker itself: one changed bit, or a NaN where a number was, is a difference.
    @Test func theComparisonSeesOneBit() {
        let a: [Float] = [1, -0.0, .nan, 2]
        #expect(Self.same(a, a))
        #expect(!Self.same(a, [1, 0.0, .nan, 2]))
        #expect(!Self.same(a, [1, -0.0, 5, 2]))
        #expect(!Self.same(a, [Float(bitPattern: Float(1).bitPattern + 1), -0.0, .nan, 2]))
    }
}
