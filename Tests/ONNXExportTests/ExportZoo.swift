import Models
import Foundation
import NN
import ONNXExport
import QuantNN
import Quantizers
import TensorEngine

/// One model to export, with its example inputs and the formats it must export to.
struct ZooCase {
    let name: String
    let model: Module
    let examples: [Tensor]
    var formats: [ONNXFormat] = [.qcdq, .qonnx]
}

/// The models the runtime checks cover: every layer kind, per-tensor and per-channel scales,
/// 2/4/8-bit, signed/unsigned/shifted activations, float/int8/int32 biases, whole LeNets.
/// Statistics-based scales are collected by a few training-mode calls first.
enum ExportZoo {
    static func cases() throws -> [ZooCase] {
        var out: [ZooCase] = []
        let g = RandomGenerator(seed: 42)
        let img = [4, 3, 6, 6]

        func single(_ name: String, _ layer: QuantLayer, shape: [Int], inputScale: Float = 1,
                    formats: [ONNXFormat] = [.qcdq, .qonnx]) throws {
            try calibrate(layer, { _ = try layer.forward(.float($0)) }, shape: shape, scale: inputScale)
            // The example is a little wider than the calibration data so that clipping happens.
            out.append(ZooCase(name: name, model: layer, examples: [g.normal(shape) * (inputScale * 1.3)], formats: formats))
        }

        // Activations.
        try single("identity_int8", QuantIdentity(), shape: img)
        try single("identity_int4", QuantIdentity(actQuant: .int8ActPerTensorFloat.with(\.bitWidth, 4)), shape: img)
        try single("identity_int2", QuantIdentity(actQuant: .int8ActPerTensorFloat.with(\.bitWidth, 2)), shape: img)
        try single("identity_int8_narrow", QuantIdentity(actQuant: .int8ActPerTensorFloat.with(\.narrowRange, true)), shape: img)
        try single("relu_uint8", QuantReLU(), shape: img)
        try single("relu_uint4", QuantReLU(actQuant: .uint8ActPerTensorFloat.with(\.bitWidth, 4)), shape: img)
        try single("relu_uint2", QuantReLU(actQuant: .uint8ActPerTensorFloat.with(\.bitWidth, 2)), shape: img)
        // A learned bit width (BitWidthParameter) exports its current integer value.
        try single("identity_learned_bit_width5", QuantIdentity(actQuant: .int8ActPerTensorFloat.with(\.bitWidth, 5)
                    .with(\.bitWidthImplType, .parameter)), shape: img)
        // Unsigned narrow range: [0, 2^b − 2] (a Clip in QCDQ, narrow=1 in QONNX).
        try single("relu_uint4_narrow", QuantReLU(actQuant: .uint8ActPerTensorFloat.with(\.bitWidth, 4).with(\.narrowRange, true)), shape: img)
        try single("identity_shifted_uint8", QuantIdentity(actQuant: .shiftedUint8ActPerTensorFloat),
                   shape: img, inputScale: 1)
        try single("identity_shifted_uint4", QuantIdentity(actQuant: .shiftedUint8ActPerTensorFloat.with(\.bitWidth, 4)), shape: img)
        try single("sigmoid_uint8", QuantSigmoid(), shape: img, inputScale: 3)
        try single("tanh_int8", QuantTanh(), shape: img, inputScale: 2)
        try single("hardtanh_int8", QuantHardTanh(minVal: -1, maxVal: 1), shape: img)
        try single("hardtanh_int3", QuantHardTanh(minVal: -0.5, maxVal: 0.5, actQuant: .int8ActPerTensorFloatMinMaxInit.with(\.bitWidth, 3)),
                   shape: img)
        try single("relu_per_channel",
                   QuantReLU(actQuant: .uint8ActPerTensorFloat.with(\.scalingPerOutputChannel, true)
                       .with(\.perChannelBroadcastableShape, [1, 3, 1, 1]).with(\.scalingStatsPermuteDims, [1, 0, 2, 3])),
                   shape: img)
        try single("identity_int8_fixed_point", QuantIdentity(actQuant: .int8ActPerTensorFixedPoint), shape: img)
        try single("relu_uint8_fixed_point", QuantReLU(actQuant: .uint8ActPerTensorFixedPoint), shape: img)
        try single("relu_with_input_quant", QuantReLU(inputQuant: .int8ActPerTensorFloat.with(\.bitWidth, 6)), shape: img)
        try single("identity_int16", QuantIdentity(actQuant: .int8ActPerTensorFloat.with(\.bitWidth, 16)), shape: img, formats: [.qonnx])
        try single("identity_binary", QuantIdentity(actQuant: .signedBinaryActPerTensorConst), shape: img, formats: [.qonnx])
        try single("identity_ternary", QuantIdentity(actQuant: .signedTernaryActPerTensorConst), shape: img, formats: [.qonnx])

        // Linear layers.
        let vec = [6, 10]
        try single("linear_default", QuantLinear(10, 5, generator: g), shape: vec)
        try single("linear_no_bias", QuantLinear(10, 5, bias: false, inputQuant: .int8ActPerTensorFloat, generator: g), shape: vec)
        try single("linear_io_quant", QuantLinear(10, 5, inputQuant: .int8ActPerTensorFloat, outputQuant: .int8ActPerTensorFloat,
                                                  generator: g), shape: vec)
        try single("linear_per_channel_bias_int32",
                   QuantLinear(10, 5, weightQuant: .int8WeightPerChannelFloat, biasQuant: .int32Bias,
                               inputQuant: .int8ActPerTensorFloat, outputQuant: .uint8ActPerTensorFloat, generator: g), shape: vec)
        try single("linear_w4_bias_int8",
                   QuantLinear(10, 5, weightQuant: .int8WeightPerTensorFloat.with(\.bitWidth, 4), biasQuant: .int8Bias,
                               inputQuant: .int8ActPerTensorFloat, generator: g), shape: vec)
        try single("linear_w2_per_channel_a4",
                   QuantLinear(10, 5, weightQuant: .int8WeightPerChannelFloat.with(\.bitWidth, 2), biasQuant: .int16Bias,
                               inputQuant: .int8ActPerTensorFloat.with(\.bitWidth, 4), outputQuant: .int8ActPerTensorFloat.with(\.bitWidth, 4),
                               generator: g), shape: vec)
        try single("linear_3d_input", QuantLinear(10, 5, biasQuant: .int32Bias, inputQuant: .int8ActPerTensorFloat, generator: g),
                   shape: [2, 3, 10])
        try single("linear_fixed_point_weights", QuantLinear(10, 5, weightQuant: .int8WeightPerChannelFixedPoint,
                                                             inputQuant: .int8ActPerTensorFixedPoint, generator: g), shape: vec)
        try single("linear_binary_weights", QuantLinear(10, 5, weightQuant: .signedBinaryWeightPerTensorConst,
                                                        inputQuant: .int8ActPerTensorFloat, generator: g), shape: vec)
        try single("linear_ternary_weights", QuantLinear(10, 5, weightQuant: .signedTernaryWeightPerTensorConst,
                                                         inputQuant: .int8ActPerTensorFloat, generator: g), shape: vec)
        try single("linear_w12", QuantLinear(10, 5, weightQuant: .int8WeightPerTensorFloat.with(\.bitWidth, 12),
                                             inputQuant: .int8ActPerTensorFloat.with(\.bitWidth, 12), generator: g),
                   shape: vec, formats: [.qonnx])

        // Convolutions.
        try single("conv_default", QuantConv2d(3, 4, kernelSize: 3, generator: g), shape: img)
        try single("conv_io_quant_bias_int32",
                   QuantConv2d(3, 4, kernelSize: 3, biasQuant: .int32Bias, inputQuant: .int8ActPerTensorFloat,
                               outputQuant: .int8ActPerTensorFloat, generator: g), shape: img)
        try single("conv_w4_per_channel_a4",
                   QuantConv2d(3, 4, kernelSize: 3, weightQuant: .int8WeightPerChannelFloat.with(\.bitWidth, 4),
                               inputQuant: .int8ActPerTensorFloat.with(\.bitWidth, 4), generator: g), shape: img)
        try single("conv_stride2_pad1_groups2",
                   QuantConv2d(4, 6, kernelSize: 3, stride: 2, padding: 1, groups: 2, biasQuant: .int32Bias,
                               inputQuant: .int8ActPerTensorFloat, generator: g), shape: [3, 4, 7, 7])
        try single("conv_rect_dilation2", QuantConv2d(3, 2, kernelSize: [3, 2], padding: [1, 0], dilation: 2,
                                                      inputQuant: .shiftedUint8ActPerTensorFloat, generator: g), shape: img)
        try single("conv1d_bias_int32", QuantConv1d(3, 4, kernelSize: 3, padding: 1, biasQuant: .int32Bias,
                                                    inputQuant: .int8ActPerTensorFloat, generator: g), shape: [4, 3, 9])

        // Pools, flatten, truncation.
        try single("relu_maxpool", QuantSequential(QuantReLU(returnQuantTensor: true), QuantMaxPool2d(kernelSize: 2)), shape: img)
        try single("identity_maxpool_pad", QuantSequential(QuantIdentity(returnQuantTensor: true),
                                                          QuantMaxPool2d(kernelSize: 3, stride: 2, padding: 1)), shape: img)
        try single("identity_avgpool", QuantSequential(QuantIdentity(returnQuantTensor: true), QuantAvgPool2d(kernelSize: 2)), shape: img)
        try single("trunc_avgpool_round8", QuantSequential(QuantReLU(returnQuantTensor: true), TruncAvgPool2d(kernelSize: 2)), shape: img)
        try single("trunc_avgpool_floor8_signed", QuantSequential(QuantIdentity(returnQuantTensor: true),
                                                                 TruncAvgPool2d(kernelSize: 3, stride: 1, truncQuant: .truncTo8bit)),
                   shape: img)
        try single("trunc_avgpool_4bit_noshift", QuantSequential(QuantReLU(actQuant: .uint8ActPerTensorFloat.with(\.bitWidth, 4),
                                                                           returnQuantTensor: true),
                                                                 TruncAvgPool2d(kernelSize: 2)), shape: img)
        try single("trunc_adaptive_global", QuantSequential(QuantReLU(returnQuantTensor: true), TruncAdaptiveAvgPool2d(outputSize: 1)),
                   shape: img)
        try single("trunc_adaptive_2x2_floor", QuantSequential(QuantReLU(returnQuantTensor: true),
                                                              TruncAdaptiveAvgPool2d(outputSize: 2, truncQuant: .truncTo8bit)), shape: img)
        try single("flatten_reshape", QuantSequential(QuantIdentity(returnQuantTensor: true), QuantFlatten(startDim: 2),
                                                      QuantLinear(36, 3, inputQuant: nil, generator: g)), shape: img)

        // Float layers inside a quantized model, and a float model.
        try single("mixed_float_layers", QuantSequential(
            QuantIdentity(returnQuantTensor: true),
            FloatLayer(Conv2d(inChannels: 3, outChannels: 4, kernelSize: 3, padding: 1, generator: g)),
            FloatLayer(ReLU()),
            FloatLayer(AvgPool2d(kernelSize: 2)),
            QuantIdentity(returnQuantTensor: true),
            QuantFlatten(),
            FloatLayer(Linear(inFeatures: 36, outFeatures: 8, generator: g)),
            FloatLayer(Sigmoid()),
            QuantLinear(8, 3, inputQuant: .uint8ActPerTensorFloat, generator: g)), shape: img)
        // BatchNorm with trained running statistics, between quantized layers.
        let bn2 = BatchNorm2d(4), bn1 = BatchNorm1d(6)
        let bnModel = try QuantSequential(
            QuantIdentity(returnQuantTensor: true),
            QuantConv2d(3, 4, kernelSize: 3, padding: 1, generator: g),
            FloatLayer(bn2),
            QuantReLU(returnQuantTensor: true),
            QuantFlatten(),
            QuantLinear(4 * 6 * 6, 6, inputQuant: nil, generator: g),
            FloatLayer(bn1),
            QuantLinear(6, 3, inputQuant: .int8ActPerTensorFloat, generator: g))
        for _ in 0..<4 { _ = try bnModel.forward(.float(g.normal([5, 3, 6, 6]))) }   // running statistics move
        out.append(ZooCase(name: "batchnorm_between_quant_layers", model: bnModel, examples: [g.normal(img)]))
        let floatModel = Sequential(Conv2d(inChannels: 3, outChannels: 4, kernelSize: 3, generator: g), Tanh(), MaxPool2d(kernelSize: 2), Flatten(),
                                    Linear(inFeatures: 16, outFeatures: 5, generator: g), HardTanh(minValue: -0.5, maxValue: 0.5))
        out.append(ZooCase(name: "float_sequential", model: floatModel, examples: [g.normal(img)]))

        // Whole networks.
        out.append(try lenet(name: "lenet_int8", bits: 4 * 2, g: g))
        out.append(try lenet(name: "lenet_w4a4_per_channel", bits: 4, g: g))
        out.append(try resnet8(name: "resnet8_w4a4", bits: 4))
        out.append(try resnet8(name: "resnet8_w8a8", bits: 8))
        out.append(try resnet8(name: "resnet8_float_twin", bits: 4, quantized: false))

        // Two-input layers.
        for (name, layer) in [("eltwise_add", try QuantEltwiseAdd() as QuantMultiInputLayer),
                              ("cat_dim1", try QuantCat(dim: 1) as QuantMultiInputLayer)] {
            let cg = RandomGenerator(seed: 11)
            layer.train()
            for _ in 0..<5 { _ = try layer.forward([.float(cg.normal(img)), .float(cg.normal(img) * 2)]) }
            layer.eval()
            out.append(ZooCase(name: name, model: layer, examples: [cg.normal(img) * 1.3, cg.normal(img) * 2.6]))
        }
        return out
    }

    /// QuantIdentity -> QuantConv2d -> QuantReLU -> QuantMaxPool2d -> QuantConv2d -> QuantReLU ->
    /// QuantMaxPool2d -> QuantFlatten -> QuantLinear -> QuantReLU -> QuantLinear -> QuantReLU ->
    /// QuantLinear, Int32 biases; `bits` for activations and weights (per-channel weights below 8).
    static func lenet(name: String, bits: Int, g: RandomGenerator) throws -> ZooCase {
        let act = ActQuant.int8ActPerTensorFloat.with(\.bitWidth, bits)
        let relu = ActQuant.uint8ActPerTensorFloat.with(\.bitWidth, bits)
        let w = (bits < 8 ? WeightQuant.int8WeightPerChannelFloat : .int8WeightPerTensorFloat).with(\.bitWidth, bits)
        let model = try QuantSequential(named: [
            "quant_inp": QuantIdentity(actQuant: act, returnQuantTensor: true),
            "conv1": QuantConv2d(1, 6, kernelSize: 5, padding: 2, weightQuant: w, biasQuant: .int32Bias, returnQuantTensor: true, generator: g),
            "relu1": QuantReLU(actQuant: relu, returnQuantTensor: true),
            "pool1": QuantMaxPool2d(kernelSize: 2),
            "conv2": QuantConv2d(6, 16, kernelSize: 5, weightQuant: w, biasQuant: .int32Bias, returnQuantTensor: true, generator: g),
            "relu2": QuantReLU(actQuant: relu, returnQuantTensor: true),
            "pool2": QuantMaxPool2d(kernelSize: 2),
            "flatten": QuantFlatten(),
            "fc1": QuantLinear(16 * 5 * 5, 120, weightQuant: w, biasQuant: .int32Bias, returnQuantTensor: true, generator: g),
            "relu3": QuantReLU(actQuant: relu, returnQuantTensor: true),
            "fc2": QuantLinear(120, 84, weightQuant: w, biasQuant: .int32Bias, returnQuantTensor: true, generator: g),
            "relu4": QuantReLU(actQuant: relu, returnQuantTensor: true),
            "fc3": QuantLinear(84, 10, weightQuant: w, biasQuant: .int32Bias, generator: g),
        ])
        let shape = [4, 1, 28, 28]
        try calibrate(model, { _ = try model($0) }, shape: shape, steps: 4, seed: 3)
        return ZooCase(name: name, model: model, examples: [RandomGenerator(seed: 5).normal(shape)])
    }

    /// The ResNet-8 of `brevitas train --arch resnet8` on 3x8x8 inputs: stem, three
    /// `QuantBasicBlock`s (exported through `ONNXComposite`; identity and 1x1-convolution
    /// shortcuts joined by `QuantEltwiseAdd`), BatchNorm with moved running statistics, truncated
    /// global pooling, linear head. `bits` for weights and activations (8-bit input); the float
    /// twin has every quantizer disabled.
    static func resnet8(name: String, bits: Int, quantized: Bool = true) throws -> ZooCase {
        let spec = ModelSpec(arch: .resnet8, inputShape: [3, 8, 8], classes: 5, weightBits: bits, actBits: bits, inputBits: 8,
                             collectStatsSteps: 3)
        let model = try spec.makeModel(quantized: quantized, generator: RandomGenerator(seed: 9))
        let shape = [4, 3, 8, 8]
        // Five training-mode batches: statistics collected, then learned ranges; BatchNorm moves.
        try calibrate(model, { _ = try model($0) }, shape: shape, steps: 5, seed: 3)
        return ZooCase(name: name, model: model, examples: [RandomGenerator(seed: 5).normal(shape)])
    }
}
