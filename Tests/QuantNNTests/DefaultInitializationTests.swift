import NN
import QuantNN
import TensorEngine
import Testing

/// The quantized weight layers start from the same parameters as their float twins on the same
/// seed (both use NN's `DefaultInitialization`, PyTorch's `reset_parameters`).
@Suite struct DefaultInitializationTests {
    @Test func quantLayersDrawWhatFloatLayersDraw() throws {
        let pairs: [(Module, Module)] = [
            (try QuantLinear(7, 3, generator: RandomGenerator(seed: 4)),
             Linear(inFeatures: 7, outFeatures: 3, generator: RandomGenerator(seed: 4))),
            (try QuantConv2d(4, 6, kernelSize: [3, 2], groups: 2, generator: RandomGenerator(seed: 4)),
             Conv2d(inChannels: 4, outChannels: 6, kernelSize: [3, 2], groups: 2, generator: RandomGenerator(seed: 4))),
            (try QuantConv1d(3, 5, kernelSize: 3, bias: false, generator: RandomGenerator(seed: 4)),
             Conv1d(inChannels: 3, outChannels: 5, kernelSize: 3, bias: false, generator: RandomGenerator(seed: 4))),
        ]
        for (quant, float) in pairs {
            for key in ["weight", "bias"] {
                let q = quant.namedParameters().first { $0.0 == key }?.1
                let f = float.namedParameters().first { $0.0 == key }?.1
                #expect((q == nil) == (f == nil), "\(quant.typeName).\(key)")
                if let q, let f { #expect(q.isEqual(to: f), "\(quant.typeName).\(key)") }
            }
        }
    }
}
