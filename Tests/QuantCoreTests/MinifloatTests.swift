import Foundation
import Testing
import TensorEngine
@testable import QuantCore

/// The minifloat quantizer against Brevitas 0.13.4: every expected number below was recorded by
/// Brevitas (the `edge_*` cases of `../shared/conformance/formats`), unscaled quantizers (s = 1).
@Suite struct MinifloatTests {
    static let e4m3 = MinifloatFormat.ocp(exponentBitWidth: 4, mantissaBitWidth: 3)
    static let e5m2 = MinifloatFormat.ocp(exponentBitWidth: 5, mantissaBitWidth: 2)

    func quantize(_ xs: [Float], _ f: MinifloatFormat, scale: Float = 1) -> [Float] {
        MinifloatQuantize.apply(Tensor(xs), scale: Tensor(scale), format: f).scalars
    }

    /// Same value, or both NaN; the sign of zero must match too.
    func same(_ a: Float, _ b: Float) -> Bool {
        (a.isNaN && b.isNaN) || (a == b && a.sign == b.sign)
    }

    @Test(arguments: [
        (MinifloatFormat.ocp(exponentBitWidth: 4, mantissaBitWidth: 3), Float(448)),
        (.ocp(exponentBitWidth: 5, mantissaBitWidth: 2), 57344),
        (.fnuz(exponentBitWidth: 4, mantissaBitWidth: 3), 240),
        (.fnuz(exponentBitWidth: 5, mantissaBitWidth: 2), 57344),
        (.ocp(exponentBitWidth: 3, mantissaBitWidth: 2), 28),
        (.ocp(exponentBitWidth: 2, mantissaBitWidth: 3), 7.5),
        (.ocp(exponentBitWidth: 2, mantissaBitWidth: 1), 6),
        (.ocp(exponentBitWidth: 3, mantissaBitWidth: 0), 16),
    ])
    func largestFiniteValue(format: MinifloatFormat, expected: Float) {
        #expect(format.maxValue == expected)
    }

    /// e4m3 OCP, saturating: grid points, mantissa ties (half to even), subnormals (step 2^-9)
    /// and their ties, underflow, values past 448, signed zeros.
    @Test(arguments: [
        (Float(0.0009765625), Float(0)),         // half the smallest subnormal: tie to 0
        (0.0029296875, 0.00390625),              // 1.5 subnormal steps: tie to even (2)
        (0.0087890625, 0.0078125),               // 4.5 steps -> 4
        (0.0146484375, 0.015625),                // 7.5 steps -> 8 (the smallest normal)
        (0.0185546875, 0.01953125),              // tie in the first normal binade -> 1.25·2^-6
        (0.359375, 0.375),                       // mantissa tie 1.0111 -> 1.100
        (1.1875, 1.25), (1.9375, 2.0), (3.125, 3.0), (8.5, 8.0), (12.5, 12.0), (15.5, 16.0),
        (68.0, 64.0), (304.0, 320.0), (432.0, 448.0),
        (0.00048828125, 0),                      // below half a step
        (0.0009765627328306437, 0.001953125),    // just above the tie
        (461.44000244140625, 448.0),             // rounds down to 448
        (492.79998779296875, 448.0),             // rounds to 480, clamped
        (448_000_000, 448.0),
        (-0.00048828125, -0.0),                  // negative underflow keeps the sign
        (-0.0, -0.0),
        (-492.79998779296875, -448.0),
    ])
    func e4m3Saturating(x: Float, expected: Float) {
        let y = quantize([x], Self.e4m3)[0]
        #expect(same(y, expected), "e4m3(\(x)) = \(y), Brevitas \(expected)")
    }

    /// Non-saturating e4m3 (NaN codes only): a rounded value past 448 becomes NaN; so do ±inf.
    @Test func e4m3NonSaturating() {
        let f = MinifloatFormat.ocp(exponentBitWidth: 4, mantissaBitWidth: 3, saturating: false)
        let y = quantize([448, 461.44, 492.8, 1792, -492.8, .nan, .infinity, -.infinity, -0.0], f)
        let expected: [Float] = [448, 448, .nan, .nan, .nan, .nan, .nan, .nan, -0.0]
        for (a, b) in zip(y, expected) { #expect(same(a, b), "\(y) vs \(expected)") }
    }

    /// e5m2 has inf codes: overflow becomes ±inf when non-saturating, but an infinite input is
    /// NaN in every mode (Brevitas computes inf / inf).
    @Test func e5m2SpecialValues() {
        let xs: [Float] = [57344, 59064.3203125, 63078.3984375, -63078.3984375, 57_344_000_000, .nan, .infinity, -.infinity]
        let sat = quantize(xs, Self.e5m2)
        let satRef: [Float] = [57344, 57344, 57344, -57344, 57344, .nan, .nan, .nan]
        for (a, b) in zip(sat, satRef) { #expect(same(a, b), "\(sat)") }
        let non = quantize(xs, .ocp(exponentBitWidth: 5, mantissaBitWidth: 2, saturating: false))
        let nonRef: [Float] = [57344, 57344, .infinity, -.infinity, .infinity, .nan, .nan, .nan]
        for (a, b) in zip(non, nonRef) { #expect(same(a, b), "\(non)") }
    }

    /// e5m2 subnormals (step 2^-16) and ties.
    @Test func e5m2Subnormals() {
        let y = quantize([7.62939453125e-06, 2.288818359375e-05, 0.0001373291015625, 0.00067138671875, 7.629396350239404e-06], Self.e5m2)
        #expect(y == [0, 3.0517578125e-05, 0.0001220703125, 0.000732421875, 1.52587890625e-05])
    }

    @Test func fnuzE4m3() {
        let f = MinifloatFormat.fnuz(exponentBitWidth: 4, mantissaBitWidth: 3)
        let y = quantize([0.00048828125, 0.00146484375, 0.00537109375, 0.00927734375, 0.96875, 4.75, 232, 247.2, 264, -264], f)
        #expect(y == [0, 0.001953125, 0.005859375, 0.009765625, 1.0, 5.0, 224, 240, 240, -240])
    }

    @Test func fp4e2m1() {
        let f = MinifloatFormat.ocp(exponentBitWidth: 2, mantissaBitWidth: 1)
        let xs: [Float] = [0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, 0.125, 0.375, 1.375, 0.2500000596046448, 6.6, -0.25, -1.125]
        let ref: [Float] = [0, 1, 1, 2, 2, 4, 4, 0, 0.5, 1.5, 0.5, 6, -0.0, -1.0]
        let y = quantize(xs, f)
        for (a, b) in zip(y, ref) { #expect(same(a, b), "\(y)") }
    }

    @Test func fp6e3m2() {
        let f = MinifloatFormat.ocp(exponentBitWidth: 3, mantissaBitWidth: 2)
        let y = quantize([0.03125, 0.09375, 0.21875, 0.40625, 0.6875, 1.875, 3.75, 6.5, 13, 15, 26, 0.421875, 30.8], f)
        #expect(y == [0, 0.125, 0.25, 0.375, 0.75, 2, 4, 6, 12, 16, 24, 0.4375, 28])
    }

    /// A scale divides before and multiplies after; per-channel scales follow their channel.
    @Test func scaledPerChannel() {
        let x = Tensor(shape: [2, 3], [1.1, 2.3, 500, 0.55, 1.15, 250])
        let y = MinifloatQuantize.apply(x, scale: Tensor(shape: [2, 1], [1, 0.5]), format: Self.e4m3)
        #expect(y.scalars == [1.125, 2.25, 448, 0.5625, 1.125, 224])
        let full = MinifloatQuantize.apply(x, scale: Tensor(shape: [2, 3], [1, 1, 1, 0.5, 0.5, 0.5]), format: Self.e4m3)
        #expect(full.scalars == y.scalars)
    }

    /// Input gradients recorded by Brevitas: the exponent term `sign(y)(q − y)/|y|` in the
    /// normal range, 1 in the subnormal range, 0 where clamped.
    @Test func inputGradientMatchesBrevitas() {
        let cases: [(MinifloatFormat, Float, Float, Float)] = [
            // (format, x, upstream, Brevitas dL/dx)
            (Self.e4m3, 0.0185546875, -0.385619580745697, -0.40591534972190857),
            (Self.e4m3, 461.44000244140625, -0.34794875979423523, -0.3378143310546875),
            (Self.e4m3, 492.79998779296875, -1.1976255178451538, 0),
            (Self.e4m3, 0.0029296875, 0.11889104545116425, 0.11889104545116425),
            (.ocp(exponentBitWidth: 2, mantissaBitWidth: 1), 1.25, 0.7534770369529724, 0.6027816534042358),
            (.ocp(exponentBitWidth: 3, mantissaBitWidth: 2), 3.75, -0.448318213224411, -0.478206068277359),
            (.fnuz(exponentBitWidth: 4, mantissaBitWidth: 3), 232, -2.0095369815826416, -1.9402426481246948),
        ]
        for (f, x, g, ref) in cases {
            let xt = Tensor([x])
            xt.requiresGrad = true
            (MinifloatQuantize.apply(xt, scale: Tensor(1), format: f) * Tensor([g])).sum().backward()
            let got = xt.grad!.item()
            #expect(Swift.abs(got - ref) <= 1e-6 * Swift.max(1, Swift.abs(ref)), "\(f) x=\(x): \(got) vs Brevitas \(ref)")
        }
    }

    /// e4m3, x = 1.1: dq/dy = 1 + (1.125 − 1.1)/1.1 (the README's example).
    @Test func gradientFlowsThroughTheExponent() {
        let x = Tensor([1.1])
        x.requiresGrad = true
        MinifloatQuantize.apply(x, scale: Tensor(1), format: Self.e4m3).sum().backward()
        #expect(Swift.abs(x.grad!.item() - 1.0227273) < 1e-6)
    }

    /// The scale gradient against the chain rule written out in Double, per channel and for a
    /// full-shape scale (whose gradient stays per element).
    @Test func scaleGradientFollowsTheChainRule() {
        let x = RandomGenerator(seed: 11).normal([3, 40]) * 4
        let g = RandomGenerator(seed: 12).normal([3, 40])
        let sv: [Float] = [0.01, 0.004, 0.02]
        let s = Tensor(shape: [3, 1], sv, requiresGrad: true)
        (MinifloatQuantize.apply(x, scale: s, format: Self.e4m3) * g).sum().backward()
        var ref = [Double](repeating: 0, count: 3)
        for c in 0..<3 {
            for j in 0..<40 {
                let xi = Double(x.scalars[c * 40 + j]), gi = Double(g.scalars[c * 40 + j]), si = Double(sv[c])
                let y = xi / si
                let q = Double(MinifloatQuantize.apply(Tensor([Float(y)]), scale: Tensor(1), format: Self.e4m3).item())
                let rawQ = Double(Float(y) / Self.e4m3.step(at: Float(y))).rounded(.toNearestOrEven) * Double(Self.e4m3.step(at: Float(y)))
                if Swift.abs(rawQ) > 448 { ref[c] += gi * q; continue }
                let subnormal = Swift.abs(y) < Double(Self.e4m3.minNormal)
                let dq = subnormal ? 1 : 1 + (y > 0 ? 1 : -1) * (q - y) / Swift.abs(y)
                ref[c] += gi * (q - dq * y)
            }
        }
        for c in 0..<3 {
            #expect(Swift.abs(Double(s.grad!.scalars[c]) - ref[c]) <= 1e-4 * Swift.max(1, Swift.abs(ref[c])), "channel \(c): \(s.grad!.scalars[c]) vs \(ref[c])")
        }
        let full = Tensor(shape: [3, 40], (0..<120).map { sv[$0 / 40] }, requiresGrad: true)
        (MinifloatQuantize.apply(x, scale: full, format: Self.e4m3) * g).sum().backward()
        for c in 0..<3 {
            let sum = full.grad!.scalars[(c * 40)..<((c + 1) * 40)].reduce(Double(0)) { $0 + Double($1) }
            #expect(Swift.abs(sum - ref[c]) <= 1e-4 * Swift.max(1, Swift.abs(ref[c])))
        }
    }

    @Test func impossibleFormatsNameTheSetting() {
        #expect(MinifloatFormat.problems(exponentBitWidth: 0, mantissaBitWidth: 3, exponentBias: 0, saturating: true, infValues: nil, nanValues: nil).map(\.key) == ["exponent_bit_width"])
        #expect(MinifloatFormat.problems(exponentBitWidth: 9, mantissaBitWidth: 2, exponentBias: 255, saturating: true, infValues: nil, nanValues: nil).map(\.key) == ["exponent_bit_width"])
        #expect(MinifloatFormat.problems(exponentBitWidth: 3, mantissaBitWidth: 2, exponentBias: 3, saturating: false, infValues: nil, nanValues: nil).map(\.key) == ["saturating"])
        #expect(MinifloatFormat.problems(exponentBitWidth: 4, mantissaBitWidth: 3, exponentBias: 7, saturating: true, infValues: nil, nanValues: ["11"]).map(\.key) == ["nan_values"])
    }

    @Test func emptyTensor() {
        let y = MinifloatQuantize.apply(Tensor.zeros([0, 4]), scale: Tensor(1), format: Self.e4m3)
        #expect(y.shape == [0, 4])
    }

    /// The formats the eight-lane paths are checked on: OCP and FNUZ, saturating or not, from
    /// 3 to 16 bits (E3M0 has no mantissa, E8M7 is bfloat16's layout).
    static let laneFormats: [MinifloatFormat] = [
        .ocp(exponentBitWidth: 4, mantissaBitWidth: 3),
        .ocp(exponentBitWidth: 5, mantissaBitWidth: 2, saturating: false),
        .ocp(exponentBitWidth: 4, mantissaBitWidth: 3, saturating: false),
        .fnuz(exponentBitWidth: 4, mantissaBitWidth: 3), .ocp(exponentBitWidth: 2, mantissaBitWidth: 1),
        .ocp(exponentBitWidth: 3, mantissaBitWidth: 0), .fnuz(exponentBitWidth: 8, mantissaBitWidth: 7),
    ]

    /// Signed zeros, NaN, infinities, the smallest subnormal and normal, the largest float, a few
    /// hand-picked values between grid points, and values far under and over every range.
    static let edgeValues: [Float] = [0, -0.0, .nan, .infinity, -.infinity, Float.leastNonzeroMagnitude, -Float.leastNormalMagnitude,
                                      Float.greatestFiniteMagnitude, 0.0009765625, -0.0029296875, 461.44, 492.8, 1e-30, -3e38]

    /// The eight-lane forward (per-tensor and per-channel scales) gives the scalar loop's bits
    /// (full-shape scales use the scalar loop), on random values and on every edge value.
    @Test(arguments: Self.laneFormats)
    func vectorAndScalarPathsAgree(format: MinifloatFormat) {
        var xs = (RandomGenerator(seed: 9).normal([997]) * 40).scalars
        xs += Self.edgeValues
        for s: Float in [1, 0.37, 3e-3] {
            let x = Tensor(xs)
            let fast = MinifloatQuantize.apply(x, scale: Tensor(s), format: format).scalars
            let slow = MinifloatQuantize.apply(x, scale: Tensor([Float](repeating: s, count: xs.count)), format: format).scalars
            for (i, (a, b)) in zip(fast, slow).enumerated() where a.bitPattern != b.bitPattern && !(a.isNaN && b.isNaN) {
                Issue.record("\(format) s=\(s) x=\(xs[i]): vector \(a) scalar \(b)")
                break
            }
        }
    }

    /// The eight-lane backward gives the scalar `elementGrad`'s bits for every element (input
    /// and, for a full-shape scale, scale gradients), and the per-tensor scale gradient is the
    /// element-order Double sum of the scalar ones: random values, every edge value, NaN/inf.
    @Test(arguments: Self.laneFormats)
    func vectorBackwardMatchesScalar(format: MinifloatFormat) {
        var xs = (RandomGenerator(seed: 19).normal([1003]) * 40).scalars
        xs += Self.edgeValues + [1.1, -1.1]
        let gs = (RandomGenerator(seed: 20).normal([xs.count])).scalars
        let c = MinifloatQuantize.Consts(format)
        func same(_ a: Float, _ b: Float) -> Bool { a.bitPattern == b.bitPattern || (a.isNaN && b.isNaN) }
        for sv: Float in [1, 0.37, 3e-3] {
            let x = Tensor(xs, requiresGrad: true)
            let s = Tensor(shape: [1], [sv], requiresGrad: true)
            (MinifloatQuantize.apply(x, scale: s, format: format) * Tensor(gs)).sum().backward()
            var sum: Double = 0
            for i in xs.indices {
                let (a, b) = MinifloatQuantize.elementGrad(xs[i], sv, gs[i], c)
                sum += Double(b)
                if !same(x.grad!.scalars[i], a) {
                    Issue.record("\(format) s=\(sv) x=\(xs[i]): dx vector \(x.grad!.scalars[i]) scalar \(a)")
                    break
                }
            }
            #expect(same(s.grad!.item(), Float(sum)), "\(format) s=\(sv): ds \(s.grad!.item()) vs \(Float(sum))")
            let xf = Tensor(xs, requiresGrad: true)
            let full = Tensor([Float](repeating: sv, count: xs.count), requiresGrad: true)
            (MinifloatQuantize.apply(xf, scale: full, format: format) * Tensor(gs)).sum().backward()
            for i in xs.indices {
                let (a, b) = MinifloatQuantize.elementGrad(xs[i], sv, gs[i], c)
                if !same(xf.grad!.scalars[i], a) || !same(full.grad!.scalars[i], b) {
                    Issue.record("\(format) s=\(sv) x=\(xs[i]) (full-shape scale): vector (\(xf.grad!.scalars[i]), \(full.grad!.scalars[i])) scalar (\(a), \(b))")
                    break
                }
            }
        }
    }
}
