import NN
import Quantizers
import TensorEngine
import Testing

@testable import QuantNN

/// Float and quantized convolutions share one validated geometry: the same weight shape and
/// PyTorch's printing.
@Suite struct ConvolutionGeometryTests {
    @Test func quantizedAndFloatConvolutionsAgree() throws {
        let c2 = Conv2d(4, 8, kernelSize: IntOrPair(3, 1), stride: 2, padding: IntOrPair(1, 0), dilation: 1, groups: 2, bias: false)
        let q2 = try QuantConv2d(4, 8, kernelSize: IntOrPair(3, 1), stride: 2, padding: IntOrPair(1, 0), dilation: 1, groups: 2, bias: false)
        #expect(c2.geometry == q2.geometry && c2.weight.shape == [8, 2, 3, 1] && q2.weight.shape == c2.weight.shape)
        #expect(c2.extraRepr == "4, 8, kernel_size=(3, 1), stride=(2, 2), padding=(1, 0), groups=2, bias=False")
        #expect(q2.extraRepr == c2.extraRepr)

        let c1 = Conv1d(3, 6, kernelSize: 5, stride: 1, padding: 2, dilation: 2, groups: 3)
        let q1 = try QuantConv1d(3, 6, kernelSize: 5, stride: 1, padding: 2, dilation: 2, groups: 3)
        #expect(c1.geometry == q1.geometry && q1.weight.shape == [6, 1, 5])
        #expect(c1.extraRepr == "3, 6, kernel_size=(5,), stride=(1,), padding=(2,), dilation=(2,), groups=3")
        #expect(q1.extraRepr == c1.extraRepr)
    }

    /// The generic pool prints and computes as the two layers it replaces.
    @Test func poolsKeepOrWidenTheMetadata() throws {
        let q = try QuantIdentity(returnQuantTensor: true).quant(RandomGenerator(seed: 5).normal([1, 2, 4, 4]))
        let maxPool = QuantMaxPool2d(kernelSize: 2), avgPool = QuantAvgPool2d(kernelSize: 2)
        #expect(maxPool.typeName == "QuantMaxPool2d" && avgPool.typeName == "AvgPool2d")
        let m = try #require(try maxPool.forward(.quant(q)).quantTensor)
        let a = try #require(try avgPool.forward(.quant(q)).quantTensor)
        #expect(m.value.shape == [1, 2, 2, 2] && m.scale.scalars == q.scale.scalars && m.bitWidth.item() == 8)
        #expect(a.scale.item() == q.scale.item() / 4 && a.bitWidth.item() == 10)
        #expect(m.isValid && a.isValid)
    }
}
