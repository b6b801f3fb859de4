import NN
import QuantNN
import TensorEngine

/// A LeNet-5-style quantized CNN.
///
/// For inputs of at least 16x16 (MNIST, CIFAR-10) it is the classic LeNet-5, layer for layer the
/// `lenet_brevitas` of `bench_brevitas.py`:
///
///     QuantIdentity → QuantConv2d(C, 6, 5) → QuantReLU → MaxPool(2)
///       → QuantConv2d(6, 16, 5) → QuantReLU → MaxPool(2) → Flatten
///       → QuantLinear(·, 120) → QuantReLU → QuantLinear(120, 84) → QuantReLU → QuantLinear(84, classes)
///
/// For smaller inputs (the 8x8 digits) the convolutions are 3x3 with padding 1 and wider (16 and
/// 32 channels), so two 2x2 poolings still leave a 2x2 map.
public enum QuantLeNet {
    /// Whether an input of `height`x`width` gets the classic 5x5 convolutions.
    public static func isClassic(height: Int, width: Int) -> Bool { min(height, width) >= 16 }

    public static func make(_ spec: ModelSpec, _ q: ModelSpec.Quantizers, generator g: RandomGenerator) throws -> QuantSequential {
        let (c, h, w) = (spec.inputShape[0], spec.inputShape[1], spec.inputShape[2])
        let quantized = q.act != nil
        let classic = isClassic(height: h, width: w)
        let (c1, c2, k, pad) = classic ? (6, 16, 5, 0) : (16, 32, 3, 1)
        func side(_ s: Int) -> Int { ((s + 2 * pad - k + 1) / 2 + 2 * pad - k + 1) / 2 }
        let features = c2 * side(h) * side(w)
        func relu() throws -> QuantReLU { try QuantReLU(actQuant: q.act, returnQuantTensor: quantized) }
        return QuantSequential([
            try QuantIdentity(actQuant: q.input, returnQuantTensor: quantized),
            try QuantConv2d(c, c1, kernelSize: .init(k), padding: .init(pad), weightQuant: q.weight, biasQuant: q.bias, generator: g),
            try relu(),
            QuantMaxPool2d(kernelSize: 2),
            try QuantConv2d(c1, c2, kernelSize: .init(k), padding: .init(pad), weightQuant: q.weight, biasQuant: q.bias, generator: g),
            try relu(),
            QuantMaxPool2d(kernelSize: 2),
            QuantFlatten(),
            try QuantLinear(features, 120, weightQuant: q.weight, biasQuant: q.bias, generator: g),
            try relu(),
            try QuantLinear(120, 84, weightQuant: q.weight, biasQuant: q.bias, generator: g),
            try relu(),
            try QuantLinear(84, spec.classes, weightQuant: q.weight, biasQuant: q.bias, generator: g),
        ])
    }
}
