import Testing
import NN
import TensorEngine
@testable import QuantCore
import Quantizers
import QuantNN

@Suite struct StatsTests {
    /// k = floor(0.01·q·N + 0.5): the maximum below 50,000 elements at q = 99.999, then the
    /// 2nd largest, ... (Brevitas AbsPercentile).
    @Test(arguments: [(10, 10), (49_999, 49_999), (50_000, 50_000), (150_000, 149_999), (250_000, 249_997)])
    func percentileRank(n: Int, k: Int) {
        #expect(highK(99.999, n) == k)
    }

    @Test func absPercentileSelectsFromAbsoluteValuesWithGradientToTheElement() {
        let x = Tensor([0.5, -3, 2, 1], requiresGrad: true)
        let p = AbsPercentile(q: 50)(x)   // k = floor(0.5·4 + 0.5) = 2 -> second smallest |x| = 1
        #expect(p.item() == 1)
        p.backward()
        #expect(x.grad!.scalars == [0, 0, 0, 1])
        let m = AbsPercentile(q: 99.999)(Tensor([0.5, -3, 2, 1]))
        #expect(m.item() == 3)
    }

    @Test func percentileIntervalClampsTheLowEndAtZero() {
        // Low k = ceil(1e-5·N) = 1 (the minimum), high = the maximum at this size.
        #expect(PercentileInterval(lowQ: 0.001, highQ: 99.999)(Tensor([-1, 2, 5])).item() == 6)
        #expect(PercentileInterval(lowQ: 0.001, highQ: 99.999)(Tensor([1, 2, 5])).item() == 5)   // min > 0 -> 0
        #expect(NegativePercentileOrZero(q: 0.001)(Tensor([1, 2, 5])).item() == 0)
        #expect(NegativePercentileOrZero(q: 0.001)(Tensor([-4, 2, 5])).item() == -4)
    }

    @Test func perChannelStatisticsReduceEachRow() {
        let x = Tensor(shape: [2, 3], [1, -5, 2, 0.5, 0.25, -0.75])
        #expect(AbsMax()(x).scalars == [5, 0.75])
        let view = StatsView.overOutputChannel(permuteDims: [1, 0]).apply(Tensor(shape: [3, 2], [1, 2, 3, 4, 5, 6]))
        #expect(view.shape == [2, 3] && view.scalars == [1, 3, 5, 2, 4, 6])
    }

    /// The collection trajectory: batch statistic in training with a 0.1-momentum buffer, the
    /// buffer in eval, then the learned parameter initialised from the buffer.
    @Test func runtimeStatsScalingTrajectory() {
        let s = ParameterFromRuntimeStatsScaling(
            collectStatsSteps: 2, stats: AbsMax(), view: .overTensor, scalingShape: [], restrict: .float,
            momentum: 0.1, scalingMinVal: 1e-10)
        let t = Tensor(2)
        #expect(s(Tensor([4]), threshold: t).item() == 2)          // batch stat / threshold
        #expect(s.buffer.item() == 4)                              // first call sets the buffer
        #expect(s(Tensor([8]), threshold: t).item() == 4)
        #expect(abs(s.buffer.item() - 4.4) < 1e-6)                 // 0.9·4 + 0.1·8
        s.train(false)
        #expect(abs(s(Tensor([100]), threshold: t).item() - 2.2) < 1e-6)   // eval uses the buffer
        s.train(true)
        #expect(abs(s(Tensor([100]), threshold: t).item() - 2.2) < 1e-6)   // call N+1: learned from the buffer
        #expect(s.counter == 3 && abs(s.value.item() - 4.4) < 1e-6)
    }

    @Test func powerOfTwoRestrictionCeilsTheExponent() {
        let r = Restrict.powerOfTwo(rounding: .ceil)
        #expect(r.restrict(r.pre(Tensor([3, 4, 5]))).scalars == [4, 4, 8])
        let x = Tensor([3], requiresGrad: true)
        r.restrict(x).sum().backward()                               // d/dx 2^ceil(x) = 2^ceil(x)·ln2 (STE)
        #expect(abs(x.grad!.item() - 8 * 0.6931472) < 1e-5)
    }
}

@Suite struct RuntimeStatsScalingTests {
    /// `scaling_impl_type='stats'` for activations: batch statistics in training with a moving
    /// average, the average in eval, never a learned parameter.
    @Test func trainingUsesTheBatchEvalTheRunningStatistic() throws {
        let relu = try QuantReLU(actQuant: .uint8ActPerTensorFloat.with(\.scalingImplType, .stats)
            .with(\.scalingStatsOp, .max), returnQuantTensor: true)
        #expect(relu.stateDict().keys.contains("act_quant.fused_activation_quant_proxy.tensor_quant.scaling_impl.runtime_stats.running_stats"))
        #expect(relu.parameters().isEmpty)
        let a = try relu.quant(Tensor([0, 2.55]))
        #expect(abs(a.scale.item() - 0.01) < 1e-7)
        let b = try relu.quant(Tensor([0, 5.1]))
        #expect(abs(b.scale.item() - 0.02) < 1e-7)
        relu.eval()
        let c = try relu.quant(Tensor([0, 100]))   // running: 0.9·2.55 + 0.1·5.1 = 2.805
        #expect(abs(c.scale.item() - 2.805 / 255) < 1e-7)
    }

    @Test func collectStatsStepsIsRejectedForStatsScaling() {
        #expect(throws: QuantConfigError.self) {
            try QuantReLU(actQuant: .uint8ActPerTensorFloat.with(\.scalingImplType, .stats).with(\.collectStatsSteps, 10))
        }
    }
}
