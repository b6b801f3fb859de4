import NN
import QuantNN
import Quantizers
import TensorEngine
import Testing

/// A2Q / A2Q+: after training, the worst-case integer accumulator of the layer fits the declared
/// width for every input in range (checked both by the closed-form bound and by enumerating
/// every input vector of a small layer).
@Suite struct AccumulatorAwareTests {
    /// A linear layer trained by SGD with a large learning rate (pushing the weights up), then
    /// its integer weights checked against the accumulator.
    func trainedLayer(_ preset: WeightQuant, accumulator p: Int, inputBits n: Int, signed: Bool, inFeatures: Int) throws -> (QuantLinear, Tensor) {
        let gen = RandomGenerator(seed: 7)
        let input: ActQuant = (signed ? ActQuant.int8ActPerTensorFloat : ActQuant.uint8ActPerTensorFloat).with(\.bitWidth, n)
        let layer = try QuantLinear(inFeatures, 3, bias: false, weightQuant: preset.with(\.accumulatorBitWidth, p),
                                    inputQuant: input, returnQuantTensor: true, generator: gen)
        let x = gen.normal([16, inFeatures])
        let sgd = SGD(layer.parameters(), learningRate: 0.5)
        for _ in 0..<5 {
            layer.zeroGrad()
            let y = try layer.forward(.float(signed ? x : x.abs()))
            (y.value * y.value).sum().backward()
            sgd.step()
        }
        let qi = layer.inputQuant(.float(signed ? x : x.abs()))
        let qw = try layer.weightQuant(layer.weight, input: qi, layer: "QuantLinear")
        return (layer, try qw.quantTensor!.int())
    }

    @Test(arguments: [(false, true), (false, false), (true, true), (true, false)])
    func trainedLayerFitsItsAccumulator(_ plus: Bool, _ signed: Bool) throws {
        let preset: WeightQuant = plus ? .int8AccumulatorAwareZeroCenterWeightQuant : .int8AccumulatorAwareWeightQuant
        let (p, n) = (10, 4)
        let (_, q) = try trainedLayer(preset, accumulator: p, inputBits: n, signed: signed, inFeatures: 3)
        let bound = AccumulatorBound(intWeight: q, inputBitWidth: n, inputSigned: signed, accumulatorBitWidth: p)
        #expect(bound.exactWorstCase.allSatisfy { $0 <= bound.limit }, "worst case \(bound.exactWorstCase) exceeds \(bound.limit)")
        if !plus {
            // A2Q's ℓ1 bound also keeps the looser closed form within the limit.
            #expect(bound.fits, "bound \(bound.worstCase) exceeds \(bound.limit)")
            #expect(bound.requiredBitWidths.allSatisfy { $0 <= p })
        }
        // The weights are not all zero (the bound would be vacuous).
        #expect(q.scalars.contains { $0 != 0 })
        // Exhaustive: every input vector in range, every channel.
        let lo = signed ? -(1 << (n - 1)) : 0, hi = signed ? (1 << (n - 1)) - 1 : (1 << n) - 1
        let w = q.scalars
        var worst = [Double](repeating: 0, count: 3)
        for a in lo...hi { for b in lo...hi { for c in lo...hi {
            for ch in 0..<3 {
                let acc = Double(w[ch * 3]) * Double(a) + Double(w[ch * 3 + 1]) * Double(b) + Double(w[ch * 3 + 2]) * Double(c)
                worst[ch] = max(worst[ch], abs(acc))
            }
        }}}
        #expect(worst == bound.exactWorstCase, "enumerated worst case \(worst) vs closed form \(bound.exactWorstCase)")
        #expect(worst.allSatisfy { $0 <= bound.limit })
    }

    @Test func tooNarrowAccumulatorIsAnError() throws {
        // A2Q with 8-bit signed inputs and P = 8: T = 127 · 2^(1−8) < 1, no weight can be non-zero.
        let layer = try QuantLinear(4, 2, bias: false, weightQuant: .int8AccumulatorAwareWeightQuant.with(\.accumulatorBitWidth, 8),
                                    inputQuant: .int8ActPerTensorFloat)
        #expect(throws: QuantLayerError.self) { _ = try layer(Tensor.ones([1, 4])) }
        // Without a quantized input the bound is unknown.
        let plain = try QuantLinear(4, 2, bias: false, weightQuant: .int8AccumulatorAwareWeightQuant)
        #expect(throws: QuantLayerError.self) { _ = try plain(Tensor.ones([1, 4])) }
        // The keyword only applies to accumulator-aware quantizers.
        #expect(throws: QuantConfigError.self) {
            try WeightQuant.int8WeightPerTensorFloat.applying(["accumulator_bit_width": .number(16)], context: "QuantLinear.weight_quant")
                .validate(context: "QuantLinear.weight_quant")
        }
    }
}
