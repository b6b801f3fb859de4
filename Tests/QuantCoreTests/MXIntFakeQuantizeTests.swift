import Testing
import TensorEngine
@testable import QuantCore

/// The fused MX integer quantizer (`MXIntFakeQuantize`) against the composed path it replaces
/// (`RescalingIntQuant.quantizeGrouped(fusedMX: false)`: `GroupwiseStatsScaling` with `AbsMax`
/// and floored powers of two, then `FakeQuantize` per group): values, scales and both gradients
/// bit for bit, over the cases the kernels branch on.
///
/// Both gradients are straight-through (the quantizer and its scale are step functions of x), so
/// finite differences cannot check them; the composed graph's pieces have their own checks, and
/// equality with it, sign of zero included, is the proof here.
@Suite(.serialized) struct MXIntFakeQuantizeTests {
    static func quantizer(groupSize: Int, clampSte: Bool, minVal: Float? = 1e-10) -> RescalingIntQuant {
        RescalingIntQuant(scaling: GroupwiseStatsScaling(stats: AbsMax(), restrict: .powerOfTwo(rounding: .floor), scalingMinVal: minVal),
                          zeroPoint: ZeroZeroPoint(), bitWidthImpl: BitWidthConst(8), signed: true, narrowRange: false,
                          clampSte: clampSte, group: GroupLayout(groupSize: groupSize, groupDim: -1))
    }

    /// Rows of `cols` values: normal noise and, in the first groups, the edge cases.
    static func input(rows: Int, cols: Int, groupSize: Int, seed: UInt64) -> Tensor {
        let x = RandomGenerator(seed: seed).normal([rows, cols]) * 3
        let p = x.storage.pointer
        func group(_ k: Int, _ values: [Float]) {
            for (i, v) in values.prefix(groupSize).enumerated() { p[k * groupSize + i] = v }
        }
        let n = groupSize
        // A group of zeros (scale 2^−34/128 from the minimum 1e-10, or 0 without one: NaN values), of −0.
        group(0, [Float](repeating: 0, count: n))
        group(1, [Float](repeating: -0.0, count: n))
        // Ties at .5 after scaling: max 1 (s = 1/128), elements k/256 for odd k.
        group(2, [1] + (1..<n).map { Float(2 * $0 + 1) / 256 * ($0 % 2 == 0 ? 1 : -1) })
        // NaN (first and not first), ±inf, a tied maximum (the first one is the statistic).
        group(3, [.nan] + [Float](repeating: 0.5, count: n - 1))
        group(4, [0.5, -0.25, .nan, 2] + [Float](repeating: 0.125, count: Swift.max(0, n - 4)))
        group(5, [1, .infinity, -.infinity] + [Float](repeating: 0.5, count: Swift.max(0, n - 3)))
        group(6, [0.5, -3, 3, -3] + [Float](repeating: 1e-3, count: Swift.max(0, n - 4)))
        // Subnormals and a negative maximum that clips (−192 → −128).
        group(7, [1e-40, -3e-39, 0, -0.0] + [Float](repeating: 1e-41, count: Swift.max(0, n - 4)))
        group(8, [-3, 0.5, 1, -0.0] + [Float](repeating: 0.75, count: Swift.max(0, n - 4)))
        return x
    }

    struct Run { let y: [Float], s: [Float], gx: [Float], gxScale: [Float] }

    static func run(_ q: RescalingIntQuant, _ x: Tensor, _ up: Tensor, _ upScale: Tensor, fused: Bool) -> Run {
        let layout = q.group!
        let xa = x.copy()
        xa.requiresGrad = true
        let o = q.quantizeGrouped(xa, layout, fusedMX: fused)
        o.value.backward(up)
        // The scale's own gradient (a loss that reads the QuantTensor's scale).
        let xb = x.copy()
        xb.requiresGrad = true
        let ob = q.quantizeGrouped(xb, layout, fusedMX: fused)
        ob.scale.backward(upScale)
        return Run(y: o.value.scalars, s: o.scale.scalars, gx: xa.grad!.scalars, gxScale: xb.grad!.scalars)
    }

    /// Equal bit patterns, or both NaN.
    static func same(_ a: [Float], _ b: [Float]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) }
    }

    @Test(.enabled(if: MXIntFakeQuantize.isAvailable, "no AVX2: the composed path runs, there is nothing to compare"),
          arguments: [(32, true, 1e-10), (32, false, 1e-10), (32, false, nil), (8, false, 1e-10), (12, true, nil),
                      (45, false, 1e-10), (1, true, 1e-10), (1, false, nil)] as [(Int, Bool, Float?)])
    func fusedMatchesTheComposedPathBitForBit(groupSize: Int, clampSte: Bool, minVal: Float?) {
        let q = Self.quantizer(groupSize: groupSize, clampSte: clampSte, minVal: minVal)
        let mx = q.mxParameters(GroupView(shape: [4, 9 * groupSize], layout: q.group!))
        #expect(mx?.threshold == 128 && mx?.minScale == (minVal ?? 0))
        let x = Self.input(rows: 4, cols: 9 * groupSize, groupSize: groupSize, seed: 3)
        let g = RandomGenerator(seed: 4)
        let up = g.normal(x.shape)
        up.storage.pointer[5] = -0.0
        up.storage.pointer[2 * groupSize + 1] = 0
        up.storage.pointer[3 * groupSize + 2] = -0.0
        let upScale = g.normal(x.shape)
        let fused = Self.run(q, x, up, upScale, fused: true), composed = Self.run(q, x, up, upScale, fused: false)
        #expect(Self.same(fused.y, composed.y), "values, group size \(groupSize)")
        #expect(Self.same(fused.s, composed.s), "scales, group size \(groupSize)")
        #expect(Self.same(fused.gx, composed.gx), "input gradient, group size \(groupSize)")
        #expect(Self.same(fused.gxScale, composed.gxScale), "gradient through the scale, group size \(groupSize)")
        // The cases are really there: the group of zeros (scale 0 and NaN values without a
        // minimum), the clipped negative maximum −3 → −128 · 2/128 = −2, a tie at .5 rounded to even.
        if minVal == nil {
            #expect(fused.y[0].isNaN && fused.s[0] == 0)
        } else {
            #expect(fused.y[0] == 0 && fused.s[0] == 0x1p-41)
        }
        #expect(fused.y[8 * groupSize] == -2)
        if groupSize >= 2 { #expect(fused.y[2 * groupSize + 1] == -2.0 / 128) }  // −1.5 steps → −2 steps
    }

    @Test(.enabled(if: MXIntFakeQuantize.isAvailable, "no AVX2: the composed path runs"))
    func resultsDoNotDependOnTheThreadCount() {
        let q = Self.quantizer(groupSize: 32, clampSte: false)
        let x = Self.input(rows: 64, cols: 1024, groupSize: 32, seed: 11)
        let g = RandomGenerator(seed: 12)
        let up = g.normal(x.shape), upScale = g.normal(x.shape)
        let saved = Parallel.threadCount
        defer { Parallel.threadCount = saved }
        Parallel.threadCount = 1
        let one = Self.run(q, x, up, upScale, fused: true)
        Parallel.threadCount = 2
        let two = Self.run(q, x, up, upScale, fused: true)
        let composed = Self.run(q, x, up, upScale, fused: false)
        for (name, a, b, c) in [("values", one.y, two.y, composed.y), ("gradient", one.gx, two.gx, composed.gx)] {
            #expect(Self.same(a, b) && Self.same(a, c), "\(name)")
        }
    }

    /// Other group-wise quantizers keep the composed path: padded groups, groups along a middle
    /// dimension, rounding other than floor.
    @Test func onlyExactMXIntQuantizersTakeTheFusedPath() {
        let q = Self.quantizer(groupSize: 32, clampSte: true)
        #expect((q.mxParameters(GroupView(shape: [2, 64], layout: q.group!)) != nil) == MXIntFakeQuantize.isAvailable)
        #expect(q.mxParameters(GroupView(shape: [2, 60], layout: q.group!)) == nil)
        #expect(q.mxParameters(GroupView(shape: [2, 64, 3], layout: GroupLayout(groupSize: 32, groupDim: 1))) == nil)
        let ceil = RescalingIntQuant(
            scaling: GroupwiseStatsScaling(stats: AbsMax(), restrict: .powerOfTwo(rounding: .ceil), scalingMinVal: nil),
            zeroPoint: ZeroZeroPoint(), bitWidthImpl: BitWidthConst(8), signed: true, narrowRange: false, clampSte: true,
            group: GroupLayout(groupSize: 32, groupDim: -1))
        #expect(ceil.mxParameters(GroupView(shape: [2, 64], layout: ceil.group!)) == nil)
    }
}
