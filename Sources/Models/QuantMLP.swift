import NN
import QuantNN
import TensorEngine

/// A quantized multi-layer perceptron on the flattened input:
///
///     Flatten → QuantIdentity → QuantLinear(C·H·W, 256) → QuantReLU
///       → QuantLinear(256, 128) → QuantReLU → QuantLinear(128, classes)
public enum QuantMLP {
    public static func make(_ spec: ModelSpec, _ q: ModelSpec.Quantizers, generator g: RandomGenerator) throws -> QuantSequential {
        let quantized = q.act != nil
        let features = spec.inputShape.reduce(1, *)
        return QuantSequential([
            QuantFlatten(),
            try QuantIdentity(actQuant: q.input, returnQuantTensor: quantized),
            try QuantLinear(features, 256, weightQuant: q.weight, biasQuant: q.bias, generator: g),
            try QuantReLU(actQuant: q.act, returnQuantTensor: quantized),
            try QuantLinear(256, 128, weightQuant: q.weight, biasQuant: q.bias, generator: g),
            try QuantReLU(actQuant: q.act, returnQuantTensor: quantized),
            try QuantLinear(128, spec.classes, weightQuant: q.weight, biasQuant: q.bias, generator: g),
        ])
    }
}
