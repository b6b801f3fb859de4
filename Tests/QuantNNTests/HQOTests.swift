import Foundation
import Testing
import TensorEngine
@testable import QuantCore
@testable import Quantizers
@testable import QuantNN

/// The half-quadratic optimizer's pieces and its search.
@Suite struct HQOTests {
    /// `sign(v) · relu(|v| − |v|^(p−1) / β)`: errors below about `β^(−1/(2−p))` shrink to 0.
    @Test(arguments: [
        (Float(0), Float(0)), (1, 0.9), (-1, -0.9), (0.01, 0), (-0.01, -0),
    ])
    func shrinkage(v: Float, expected: Float) {
        // β = 10, p = 0.5: |v| − |v|^−0.5 / 10.
        let got = shrinkLp(v, 0.1, 0.5)
        #expect(Swift.abs(got - expected) < 1e-6, "shrink(\(v)) = \(got)")
    }

    @Test func lowerMedianOfAnEvenCount() {
        var v: [Float] = [4, 1, 3, 2]
        #expect(lowerMedian(&v) == 2)
        var one: [Float] = [7]
        #expect(lowerMedian(&one) == 7)
        var none: [Float] = []
        #expect(lowerMedian(&none).isNaN)
    }

    /// The search never ends worse than where it starts (max|x| per row), and keeps the scale
    /// of a row whose values are already on a grid.
    @Test func searchImprovesOnTheInitialRange() {
        let hqo = WeightQuant.int8WeightPerChannelFloatHQO.hqoScaleStats()
        let x = RandomGenerator(seed: 21).normal([3, 64]) * Tensor(shape: [3, 1], [1, 10, 0.1])
        let ranges = hqo(x)
        func loss(_ r: [Float]) -> Double {
            let s = Tensor(shape: [3, 1], r.map { $0 / 127 })
            let q = FakeQuantize.apply(x, scale: s, zeroPoint: Tensor(0), minInt: -127, maxInt: 127)
            return zip(q.scalars, x.scalars).reduce(0) { $0 + Double(Swift.abs($1.0 - $1.1)) }
        }
        #expect(ranges.shape == [3])
        #expect(loss(ranges.scalars) <= loss(x.abs().max(dim: 1).values.scalars))
    }

    /// The zero-point search improves on its start (`min(x, 0)`), and its `beta` keeps growing
    /// across calls (Brevitas never resets it).
    @Test func zeroPointSearchImprovesAndBetaCarriesOver() {
        let hqo = HQOZeroPointStats(minInt: 0, maxInt: 255, shift: .absolute)
        let x = RandomGenerator(seed: 5).normal([96]) * 300
        let s = Tensor(Float(0.02) * 300 * 6 / 255)
        func loss(_ c: Float) -> Double {
            let z = Swift.abs(c) / s.item()
            return x.scalars.reduce(0) { acc, v in
                let code = Swift.min(Swift.max((v / s.item() + z).rounded(.toNearestOrEven), 0), 255)
                return acc + Double(Swift.abs((code - z) * s.item() - v))
            }
        }
        let c = hqo.stats(x, scale: s, bitWidth: Tensor(8)).item()
        #expect(loss(c) <= loss(Swift.min(x.scalars.min()!, 0)))
        let beta1 = hqo.beta
        #expect(beta1 > 1)
        _ = hqo.stats(x, scale: s, bitWidth: Tensor(8))
        #expect(hqo.beta > beta1)
    }

    /// PyTorch's summation order visits every element exactly once, for every tail length and
    /// across cascade levels (exact for integers below 2^24).
    @Test func torchSumCoversEveryElement() {
        for n in [0, 1, 7, 8, 31, 32, 33, 96, 127, 512, 513, 2049, 5000] {
            let a = (0..<n).map { Float($0 % 97) }
            #expect(TorchSum.sum(a) == a.reduce(0, +), "n = \(n)")
        }
    }
}
