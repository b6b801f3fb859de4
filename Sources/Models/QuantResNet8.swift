import NN
import QuantNN
import Quantizers
import TensorEngine

/// A small quantized residual network (the ResNet-8 of MLPerf Tiny): a 3x3 stem with 16
/// channels, three basic blocks of 16, 32 and 64 channels (the last two with stride 2), global
/// average pooling and a linear classifier. Convolutions are followed by BatchNorm (kept in
/// float); residual sums go through a shared signed activation quantizer (`QuantEltwiseAdd`).
public enum QuantResNet8 {
    public static func make(_ spec: ModelSpec, _ q: ModelSpec.Quantizers, generator g: RandomGenerator) throws -> QuantSequential {
        let quantized = q.act != nil
        return QuantSequential([
            try QuantIdentity(actQuant: q.input, returnQuantTensor: quantized),
            try QuantConv2d(spec.inputShape[0], 16, kernelSize: 3, padding: 1, bias: false, weightQuant: q.weight, generator: g),
            FloatLayer(BatchNorm2d(16)),
            try QuantReLU(actQuant: q.act, returnQuantTensor: quantized),
            try QuantBasicBlock(16, 16, stride: 1, q, generator: g),
            try QuantBasicBlock(16, 32, stride: 2, q, generator: g),
            try QuantBasicBlock(32, 64, stride: 2, q, generator: g),
            TruncAdaptiveAvgPool2d(outputSize: 1, truncQuant: quantized ? .roundTo8bit : nil, returnQuantTensor: quantized),
            QuantFlatten(),
            try QuantLinear(64, spec.classes, weightQuant: q.weight, biasQuant: q.bias, generator: g),
        ])
    }
}

/// A residual block: `relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))`, where the shortcut
/// is the identity, or a strided 1x1 convolution and BatchNorm when the shape changes. Exports to
/// both ONNX formats by describing this dataflow (`ONNXComposite`, in `QuantBasicBlock+ONNX.swift`).
public final class QuantBasicBlock: Module, QuantLayer {
    public let conv1: QuantConv2d, bn1: FloatLayer, relu1: QuantReLU
    public let conv2: QuantConv2d, bn2: FloatLayer
    public let shortcut: QuantSequential?
    public let add: QuantEltwiseAdd
    public let relu2: QuantReLU

    public init(_ inChannels: Int, _ outChannels: Int, stride: Int, _ q: ModelSpec.Quantizers, generator g: RandomGenerator) throws {
        let quantized = q.act != nil
        conv1 = try QuantConv2d(inChannels, outChannels, kernelSize: 3, stride: .init(stride), padding: 1, bias: false,
                                weightQuant: q.weight, generator: g)
        bn1 = FloatLayer(BatchNorm2d(outChannels))
        relu1 = try QuantReLU(actQuant: q.act, returnQuantTensor: quantized)
        conv2 = try QuantConv2d(outChannels, outChannels, kernelSize: 3, padding: 1, bias: false, weightQuant: q.weight, generator: g)
        bn2 = FloatLayer(BatchNorm2d(outChannels))
        if stride != 1 || inChannels != outChannels {
            shortcut = QuantSequential([
                try QuantConv2d(inChannels, outChannels, kernelSize: 1, stride: .init(stride), bias: false,
                                weightQuant: q.weight, generator: g),
                FloatLayer(BatchNorm2d(outChannels)),
            ])
        } else {
            shortcut = nil
        }
        add = try QuantEltwiseAdd(inputQuant: q.signedAct, outputQuant: nil, returnQuantTensor: quantized)
        relu2 = try QuantReLU(actQuant: q.act, returnQuantTensor: quantized)
        super.init()
        registerModule("conv1", conv1)
        registerModule("bn1", bn1)
        registerModule("relu1", relu1)
        registerModule("conv2", conv2)
        registerModule("bn2", bn2)
        if let shortcut { registerModule("shortcut", shortcut) }
        registerModule("add", add)
        registerModule("relu2", relu2)
    }

    public override var typeName: String { "QuantBasicBlock" }

    public func forward(_ input: QuantValue) throws -> QuantValue {
        // Fused where the layers allow (LayerFusion): BatchNorm folded into the convolution in
        // evaluation, BatchNorm + ReLU (+ its quantizer) in one op; in the tail, each BatchNorm +
        // the add's input quantizer, and the add + relu2 (`residualTail`).
        let y = try LayerFusion.apply([conv1, bn1, relu1], to: input)
        return try LayerFusion.residualTail(conv: conv2, bn: bn2, add: add, relu: relu2, y, shortcut: shortcut?.layers, input: input)
    }
}
