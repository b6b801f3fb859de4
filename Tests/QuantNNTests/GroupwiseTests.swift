import Foundation
import Testing
import TensorEngine
import QuantCore
@testable import Quantizers
@testable import QuantNN

/// Group-wise and microscaling (MX) quantizers.
@Suite struct GroupwiseTests {
    @Test func groupViewSplitsAlongTheGroupedDimension() {
        let v = GroupView(shape: [2, 64, 3, 3], layout: GroupLayout(groupSize: 16, groupDim: 1))
        #expect(v.groupedShape == [2, 4, 16, 9] && v.scaleShape == [2, 4, 1, 9])
        let last = GroupView(shape: [3, 64], layout: GroupLayout(groupSize: 32, groupDim: -1))
        #expect(last.groupedShape == [3, 2, 32, 1])
        // expand repeats each group's value over its elements, in place.
        let e = GroupView(shape: [1, 4], layout: GroupLayout(groupSize: 2, groupDim: 1)).expand(Tensor([10, 20]))
        #expect(e.shape == [1, 4] && e.scalars == [10, 10, 20, 20])
    }

    /// E8M0 scales: `2^(floor(log2 max|x_g|) − floor(log2 T))`, T = 128 (int8) or 448 (e4m3).
    @Test func mxScalesArePowersOfTwoFromTheGroupMaximum() throws {
        // Two groups of 4: max 3.0 (floor log2 = 1) and 0.3 (floor log2 = -2).
        let w = Tensor(shape: [1, 8], [0.5, -3.0, 1.0, 0.25, 0.3, -0.1, 0.2, 0.05])
        let int8 = try WeightQuant.mxInt8Weight.with(\.groupSize, 4).makeTensorQuant(weightShape: [1, 8], context: "t")
        let o = int8(w)
        #expect(o.scale.scalars == [Float](repeating: 2.0 / 128, count: 4) + [Float](repeating: 0.25 / 128, count: 4))
        #expect(o.group == GroupLayout(groupSize: 4, groupDim: 1))
        // -3.0 / (1/64) = -192 clamps to -128 (not narrow): -2.0.
        #expect(o.value.scalars[1] == -2.0)
        let fp8 = try WeightQuant.mxFloat8e4m3Weight.with(\.groupSize, 4).makeTensorQuant(weightShape: [1, 8], context: "t")
        let f = fp8(w)
        #expect(f.scale.scalars[0] == 2.0 / 256 && f.scale.scalars[4] == 0.25 / 256)
        #expect(f.value.scalars[1] == -3.0 && f.minifloat == .ocp(exponentBitWidth: 4, mantissaBitWidth: 3))
    }

    /// The fused path (groups along the last dimension) and the general path (groups along a
    /// middle dimension) agree, values and gradients.
    @Test func contiguousAndStridedGroupsAgree() throws {
        let x = RandomGenerator(seed: 7).normal([2, 8, 3])
        let g = RandomGenerator(seed: 8).normal([2, 8, 3])
        let q = try ActQuant.mxInt8Act.with(\.groupSize, 4).with(\.groupDim, 1).makeTensorQuant(context: "t")
        let xa = x.detach()
        xa.requiresGrad = true
        let a = q(xa)
        (a.value * g).sum().backward()
        // The same tensor with the grouped dimension moved last.
        let xt = x.detach().permute([0, 2, 1]).contiguous()
        xt.requiresGrad = true
        let qLast = try ActQuant.mxInt8Act.with(\.groupSize, 4).makeTensorQuant(context: "t")
        let b = qLast(xt)
        (b.value * g.permute([0, 2, 1]).contiguous()).sum().backward()
        #expect(a.value.permute([0, 2, 1]).contiguous().scalars == b.value.scalars)
        #expect(a.scale.permute([0, 2, 1]).contiguous().scalars == b.scale.scalars)
        let ga = xa.grad!.permute([0, 2, 1]).contiguous().scalars, gb = xt.grad!.scalars
        for (u, v) in zip(ga, gb) { #expect(Swift.abs(u - v) <= 1e-5 * Swift.max(1, Swift.abs(v))) }
    }

    /// A group size that does not divide the grouped dimension: as Brevitas
    /// (`padding_to_multiple`), the last group is padded with zeros, which take part in its
    /// statistics, and the result is cut back.
    @Test func groupSizeNeedNotDivideTheWeight() throws {
        let l = try QuantLinear(60, 4, weightQuant: .mxInt8Weight)
        let padded = try QuantLinear(64, 4, weightQuant: .mxInt8Weight)
        padded.weight.assign(Tensor.cat([l.weight, Tensor.zeros([4, 4])], dim: 1))
        let q = try #require(l.quantWeight().quantTensor), p = try #require(padded.quantWeight().quantTensor)
        #expect(q.value.shape == [4, 60] && q.scale.shape == [4, 60])
        #expect(q.value.scalars == p.value.narrow(dim: 1, start: 0, length: 60).scalars)
        #expect(q.scale.scalars == p.scale.narrow(dim: 1, start: 0, length: 60).scalars)
        // Shifted groups: the padding zeros lower the minimum of the last group [0.5, 1, 1.5, 2]
        // to 0, so its scale is (2 − 0) / 255 and its zero point 0, not (2 − 0.5) / 255.
        let s = try QuantLinear(20, 1, bias: false, weightQuant: .shiftedUint8WeightGroupQuantFloat.with(\.groupSize, 16))
        s.weight.assign(Tensor(shape: [1, 20], (0..<16).map { Float($0) / 8 - 1 } + [0.5, 1, 1.5, 2]))
        let sq = try #require(s.quantWeight().quantTensor)
        #expect(sq.scale.scalars[19] == Float(2) / 255)
        #expect(sq.zeroPoint.scalars[19] == 0)
        #expect(sq.scale.scalars[0] == Float(0.875 + 1) / 255)
    }

    @Test func groupKeywordsNeedAGroupwiseQuantizer() {
        // Group keywords on a per-tensor quantizer are errors, not ignored.
        #expect(throws: QuantConfigError.self) { try QuantLinear(64, 4, weightQuant: .int8WeightPerTensorFloat.with(\.groupSize, 16)) }
        // The shifted group preset has no default group size (as Brevitas).
        #expect(throws: QuantConfigError.self) { try QuantLinear(64, 4, weightQuant: .shiftedUint8WeightGroupQuantFloat) }
    }

    @Test func groupwiseQuantTensorsHaveTheirKind() throws {
        let l = try QuantLinear(64, 4, weightQuant: .mxInt8Weight, inputQuant: .mxFloat8e4m3Act)
        let x = RandomGenerator(seed: 3).normal([2, 64])
        let qi = try #require(l.inputQuant(.float(x)).quantTensor)
        #expect(qi.kind == .groupwiseFloatQuantTensor && qi.isValid && qi.scale.shape == [2, 64])
        #expect(qi.description.hasPrefix("GroupwiseFloatQuantTensor(") && qi.description.contains("group_size=32, group_dim=-1"))
        let qw = try #require(l.weightQuant(l.weight).quantTensor)
        #expect(qw.kind == .groupwiseIntQuantTensor && qw.isValid && qw.group?.groupDim == 1)
        let codes = try qw.int().scalars
        #expect(codes.allSatisfy { $0 >= -128 && $0 <= 127 && $0 == $0.rounded() })
        // An MX layer's output is a plain accumulator.
        #expect(try l(x).shape == [2, 4])
    }
}
