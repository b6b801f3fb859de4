import Testing
import TensorEngine
@testable import QuantCore
@testable import Quantizers
@testable import QuantNN

/// The MSE grid search (`MSEStats`) and the weight scale it initialises.
@Suite struct MSETests {
    /// torch's float32 `linspace(1/19, 1, 19)` ends exactly at 1 and starts at float32(1/19).
    @Test func gridEndsAtOne() {
        #expect(MSEStats.grid.count == 19)
        #expect(MSEStats.grid.first == Float(1.0 / 19.0) && MSEStats.grid.last == 1)
        #expect(zip(MSEStats.grid, MSEStats.grid.dropFirst()).allSatisfy { $0 < $1 })
    }

    /// Equal losses keep the earlier candidate: a quantizer whose error does not depend on the
    /// scale makes every loss equal, and the first candidate, `max|x| / 20`, wins.
    @Test func tiesKeepTheEarlierCandidate() {
        let mse = MSEStats(threshold: 128) { x, _ in x * 0 }
        #expect(mse(Tensor([0.5, -2.0, 1.0])).item() == 0.1)
    }

    /// A single value: only the largest candidate (the max itself) clips it least.
    @Test func theMaximumWinsWhenNothingElseMatters() {
        let mse = MSEStats(threshold: 128) { x, s in FakeQuantize.apply(x, scale: s, zeroPoint: Tensor(0), minInt: -128, maxInt: 127) }
        #expect(mse(Tensor([1.25])).item() == 1.25)
        // Per row of a [C, N] view: one statistic per channel.
        let per = mse(Tensor(shape: [2, 1], [1.25, -0.5]))
        #expect(per.shape == [2] && per.scalars == [1.25, 0.5])
    }

    /// The search runs once, at the first forward, and initialises the learned scale.
    @Test func weightScaleIsInitialisedOnceThenLearned() throws {
        let l = try QuantLinear(4, 2, weightQuant: WeightQuant.preset(named: "Int8WeightPerChannelFloatMSE")!)
        let scaling = try #require(l.namedParameters().first { $0.name.hasSuffix("scaling_impl.value") })
        #expect(scaling.tensor.shape == [2, 1] && scaling.tensor.scalars == [1, 1])
        Autograd.noGrad { l.weight.assign(Tensor(shape: [2, 4], [1, -2, 0.5, 0.25, 0.1, 0.2, -0.3, 0.05])) }
        _ = try l(Tensor.zeros([1, 4]))
        let first = scaling.tensor.scalars
        #expect(first[0] > 0 && first[0] <= 2 && first[1] > 0 && first[1] <= 0.3)
        Autograd.noGrad { l.weight.assign(l.weight * 10) }
        _ = try l(Tensor.zeros([1, 4]))
        #expect(scaling.tensor.scalars == first)
    }
}
