import Foundation
import Testing
import TestSupport
@testable import NN
@testable import QuantNN
@testable import Quantizers
@testable import TensorEngine

/// TruncQuantAccumulator / ClampQuantAccumulator on a convolution's accumulator QuantTensor.
@Suite struct QuantAccumulatorTests {
    static func accumulator() throws -> QuantTensor {
        let conv = try QuantConv2d(2, 3, kernelSize: 3, bias: false, inputQuant: .int8ActPerTensorFloat, returnQuantTensor: true,
                                   generator: RandomGenerator(seed: 4))
        return try #require(try conv.forward(.float(RandomGenerator(seed: 5).normal([2, 2, 5, 5]) * 3)).quantTensor)
    }

    /// Floor (`TruncTo8bit`) or round half to even (`RoundTo8bit`) of `q / 2^(b − 8)`, clamped to
    /// the signed 8-bit range; scale `s · 2^(b − 8)`.
    @Test(arguments: [TruncQuant.truncTo8bit, .roundTo8bit]) func truncatesToEightBits(_ trunc: TruncQuant) throws {
        let acc = try Self.accumulator()
        let bits = Int(acc.bitWidth.item())
        #expect(bits == 21, "ceil(log2(255 · 255 · 18))")
        let y = try #require(try TruncQuantAccumulator(truncQuant: trunc).forward(.quant(acc)).quantTensor)
        let shift = Float(1 << (bits - 8)), s = acc.scale.item()
        #expect(y.bitWidth.item() == 8 && y.signed && y.scale.item() == s * shift && y.isValid)
        let ints = acc.value.scalars.map { ($0 / s).rounded(.toNearestOrEven) }
        let expected = ints.map { q -> Float in
            let t = trunc.rounding == .floor ? (q / shift).rounded(.down) : (q / shift).rounded(.toNearestOrEven)
            return min(max(t, -128), 127) * s * shift
        }
        #expect(y.value.scalars == expected)
        #expect(Set(expected).count > 3, "the truncation keeps more than a few levels")
    }

    @Test func withoutATruncQuantizerTheInputPassesThrough() throws {
        let acc = try Self.accumulator()
        for layer in [TruncQuantAccumulator(truncQuant: nil) as QuantLayer, ClampQuantAccumulator()] {
            let y = try #require(try layer.forward(.quant(acc)).quantTensor)
            #expect(y.value.scalars == acc.value.scalars && y.bitWidth.item() == acc.bitWidth.item() && y.scale.item() == acc.scale.item())
        }
    }

    @Test func badInput() throws {
        #expect { _ = try TruncQuantAccumulator(truncQuant: .truncTo8bit).forward(.float(Tensor.zeros([2, 3]))) } throws: {
            "\($0)".contains("TruncQuantAccumulator") && "\($0)".contains("QuantTensor input")
        }
        #expect { _ = try LayerFactory.make(className: "ClampQuantAccumulator", kwargs: ["clamp_quant": .quantizer("Int8ActPerTensorFloat")]) } throws: {
            "\($0)".contains("no clamp quantizer")
        }
        #expect(throws: Never.self) { _ = try LayerFactory.make(className: "TruncQuantAccumulator", kwargs: ["trunc_quant": .quantizer("TruncTo8bit")]) }
    }
}
