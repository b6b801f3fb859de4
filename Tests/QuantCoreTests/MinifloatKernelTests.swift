import Testing
import TensorEngine
@testable import QuantCore

/// The AVX2 minifloat kernels (`ck_mf_forward_avx2`, `ck_mf_backward_avx2`) against the scalar
/// definition (`quantizeUnclamped`, `clampSpecial`, `elementGrad`, run by the portable loops):
/// the same bits for every element, on every code of each format, every tie between neighbouring
/// codes and one float step either side of it, subnormals, values past the largest normal,
/// NaN/inf and signed zeros, for per-tensor, per-channel and element-wise scales; and the same
/// bits whatever the thread count.
@Suite struct MinifloatKernelTests {
    static let formats: [MinifloatFormat] = [
        .ocp(exponentBitWidth: 4, mantissaBitWidth: 3), .ocp(exponentBitWidth: 4, mantissaBitWidth: 3, saturating: false),
        .ocp(exponentBitWidth: 5, mantissaBitWidth: 2), .ocp(exponentBitWidth: 5, mantissaBitWidth: 2, saturating: false),
        .fnuz(exponentBitWidth: 4, mantissaBitWidth: 3), .fnuz(exponentBitWidth: 5, mantissaBitWidth: 2),
        .ocp(exponentBitWidth: 3, mantissaBitWidth: 2), .ocp(exponentBitWidth: 2, mantissaBitWidth: 3),
        .ocp(exponentBitWidth: 2, mantissaBitWidth: 1), .ocp(exponentBitWidth: 3, mantissaBitWidth: 0),
        .fnuz(exponentBitWidth: 8, mantissaBitWidth: 7), MinifloatFormat(exponentBitWidth: 8, mantissaBitWidth: 21, exponentBias: 129),
        MinifloatFormat(exponentBitWidth: 7, mantissaBitWidth: 23, exponentBias: 63),
    ]

    /// Every non-negative code of `f` (subnormals `f/2^m · 2^(1−b)`, normals `(1 + f/2^m) ·
    /// 2^(E−b)`), up to twice `maxValue`; the midpoints of neighbours (mantissa ties) and the
    /// floats next to each; both signs; then the special values.
    static func edgeValues(_ f: MinifloatFormat) -> [Float] {
        let m = f.mantissaBitWidth, b = f.exponentBias
        var codes: [Float] = []
        for e in 0..<(1 << f.exponentBitWidth) {
            for frac in 0..<(1 << Swift.min(m, 6)) {
                let mant = Float(frac << (m - Swift.min(m, 6))) / Float(1 << m)
                let v = e == 0 ? mant * pow2(1 - b) : (1 + mant) * pow2(e - b)
                if v <= 2 * f.maxValue { codes.append(v) }
            }
        }
        codes.sort()
        var xs: [Float] = []
        for (a, c) in zip(codes, codes.dropFirst()) {
            let mid = (a + c) / 2
            xs += [a, mid, mid.nextUp, mid.nextDown]
        }
        xs += [f.maxValue, f.maxValue.nextUp, f.maxValue * 1.0625, f.maxValue * 2, f.minSubnormal / 2,
               (f.minSubnormal / 2).nextUp, f.minSubnormal / 4, Float.leastNonzeroMagnitude, Float.leastNormalMagnitude,
               Float.greatestFiniteMagnitude, 1e-30, 3e38]
        xs += xs.map { -$0 }
        xs += [0, -0.0, .nan, -.nan, .infinity, -.infinity]
        return xs
    }

    static func same(_ a: Float, _ b: Float) -> Bool { a.bitPattern == b.bitPattern || (a.isNaN && b.isNaN) }

    static func firstMismatch(_ a: [Float], _ b: [Float]) -> Int? {
        zip(a, b).enumerated().first { !same($0.element.0, $0.element.1) }?.offset
    }

    struct Run { let y, gx, gs: [Float] }

    /// Forward and backward of `x` (shape `shape`) with `scale`, on one path.
    static func run(_ xs: [Float], shape: [Int], scale: Tensor, _ f: MinifloatFormat, avx2: Bool) -> Run {
        let x = Tensor(shape: shape, xs, requiresGrad: true)
        let s = scale.copy()
        s.requiresGrad = true
        let g = RandomGenerator(seed: 5).normal(shape)
        let y = MinifloatQuantize.apply(x, scale: s, format: f, avx2: avx2)
        (y * g).sum().backward()
        return Run(y: y.scalars, gx: x.grad!.scalars, gs: s.grad!.scalars)
    }

    @Test(arguments: formats)
    func avx2KernelsGiveTheScalarBits(format: MinifloatFormat) throws {
        try #require(FakeQuantize.hasAVX2, "this processor has no AVX2: only the portable loops run")
        var xs = Self.edgeValues(format)
        xs += (RandomGenerator(seed: 3).normal([517]) * format.maxValue / 3).scalars
        let n = xs.count
        let channels = 3
        let xs3 = xs + xs + xs
        let perChannel = Tensor(shape: [channels, 1], [1, 0.37, 3e-3])
        let full = Tensor(shape: [channels, n], [Float](repeating: 1, count: n) + [Float](repeating: 0.37, count: n) + [Float](repeating: 2.5e4, count: n))
        let cases: [(String, Tensor, [Int], [Float])] = [
            ("per-tensor 1", Tensor(1), [n], xs), ("per-tensor 0.37", Tensor(shape: [1], [0.37]), [n], xs),
            ("per-channel", perChannel, [channels, n], xs3), ("element-wise", full, [channels, n], xs3),
        ]
        for (name, scale, shape, values) in cases {
            let fast = Self.run(values, shape: shape, scale: scale, format, avx2: true)
            let slow = Self.run(values, shape: shape, scale: scale, format, avx2: false)
            for (what, a, b) in [("y", fast.y, slow.y), ("dL/dx", fast.gx, slow.gx), ("dL/ds", fast.gs, slow.gs)] {
                if let i = Self.firstMismatch(a, b) {
                    Issue.record("\(format) \(name) \(what)[\(i)] (x = \(values[Swift.min(i, values.count - 1)])): AVX2 \(a[i]) scalar \(b[i])")
                }
            }
        }
    }

    /// The scalar reference itself on a few of the values above, as Brevitas gives them (from
    /// the README's table), so the comparison above is not between two wrong answers.
    @Test func scalarReferenceEdgeValues() {
        let c = MinifloatQuantize.Consts(.ocp(exponentBitWidth: 4, mantissaBitWidth: 3))
        func q(_ y: Float) -> Float { MinifloatQuantize.clampSpecial(MinifloatQuantize.quantizeUnclamped(y, c).q, c) }
        #expect(q(0.0029296875) == 0.00390625)      // subnormal tie to even
        #expect(q(0.359375) == 0.375)               // mantissa tie
        #expect(q(492.8) == 448)                    // past the largest normal, saturating
        #expect(q(.infinity).isNaN)
        #expect(q(-0.00048828125).sign == .minus)   // underflow keeps the sign
    }

    /// Results do not depend on the thread count: 1 thread and the default give the same bits
    /// on a tensor large enough to be split (per-tensor scale, so the scale gradient is a sum
    /// over segments).
    @Test func independentOfThreadCount() {
        let f = MinifloatFormat.ocp(exponentBitWidth: 4, mantissaBitWidth: 3)
        let xs = (RandomGenerator(seed: 11).normal([4, 64, 1024]) * 100).scalars
        let saved = Parallel.threadCount
        defer { Parallel.threadCount = saved }
        Parallel.threadCount = 1
        let one = Self.run(xs, shape: [4, 64, 1024], scale: Tensor(0.5), f, avx2: FakeQuantize.hasAVX2)
        Parallel.threadCount = 4
        let four = Self.run(xs, shape: [4, 64, 1024], scale: Tensor(0.5), f, avx2: FakeQuantize.hasAVX2)
        #expect(Self.firstMismatch(one.y, four.y) == nil)
        #expect(Self.firstMismatch(one.gx, four.gx) == nil)
        #expect(Self.firstMismatch(one.gs, four.gs) == nil)
    }
}
