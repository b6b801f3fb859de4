import Foundation
import NN
import QuantCore
import Quantizers
import TensorEngine

/// The shared machinery of layers with a weight, an optional bias and input/output quantizers
/// (Brevitas `QuantWeightBiasInputOutputLayer`): quantize the input, the weight and the bias, run
/// the float op, attach the accumulator metadata, quantize the output.
///
/// Accumulator metadata (input and weight quantized, zero points 0):
/// scale `s_in · s_w`, bit width `ceil(log2(maxUint_in · maxUint_w · fanIn))`, with a quantized
/// bias `max(that, bias bits) + 1`; a float bias folds into the zero point `-bias / scale`.
open class QuantWeightBiasLayer: Module, QuantLayer {
    public let weight: Tensor
    /// The float bias; a layer built without one can be given one by ``addBias(_:)``.
    public private(set) var bias: Tensor?
    public let inputQuant: ActQuantProxy
    public let outputQuant: ActQuantProxy
    public let weightQuant: WeightQuantProxy
    public let biasQuant: BiasQuantProxy
    public let returnQuantTensor: Bool
    /// A simulated narrow accumulator (off when `nil`); see ``AccumulatorSimulation``.
    public var accumulatorSimulation: AccumulatorSimulation?
    let layerName: String

    init(name: String, weight: Tensor, bias: Tensor?, weightQuant: WeightQuant?, biasQuant: BiasQuant?,
         inputQuant: ActQuant?, outputQuant: ActQuant?, returnQuantTensor: Bool, outputChannelDim: Int = 0) throws(QuantConfigError) {
        layerName = name
        self.weight = weight
        self.bias = bias
        self.inputQuant = try ActQuantProxy(config: inputQuant, activation: .identity, fused: false, context: "\(name).input_quant")
        self.outputQuant = try ActQuantProxy(config: outputQuant, activation: .identity, fused: false, context: "\(name).output_quant")
        self.weightQuant = try WeightQuantProxy(config: weightQuant, weightShape: weight.shape, weight: weight,
                                                outputChannelDim: outputChannelDim, context: "\(name).weight_quant")
        self.biasQuant = try BiasQuantProxy(config: biasQuant, hasBias: bias != nil, context: "\(name).bias_quant")
        self.returnQuantTensor = returnQuantTensor
        super.init()
        registerParameter("weight", weight)
        if let bias { registerParameter("bias", bias) }
        registerModule("input_quant", self.inputQuant)
        registerModule("output_quant", self.outputQuant)
        registerModule("weight_quant", self.weightQuant)
        registerModule("bias_quant", self.biasQuant)
    }

    open override var typeName: String { layerName }

    /// The float operation (convolution or linear map) on dequantized values.
    func op(_ x: Tensor, _ w: Tensor, _ b: Tensor?) -> Tensor { fatalError("subclass") }
    /// Number of input elements per output element (`C_in/groups · kh · kw` or `in_features`).
    var fanIn: Int { weight.shape.dropFirst().reduce(1, *) }
    /// Shape that puts a per-output-channel vector on the channel dimension of the output.
    func channelView(_ out: Tensor) -> [Int] {
        var s = [Int](repeating: 1, count: out.rank)
        s[1] = -1
        return s
    }

    /// Gives a layer built without a bias the bias `b` (one value per output channel), as
    /// Brevitas's bias correction does (`module.register_parameter('bias', ...)`): from then on it
    /// is a parameter of the layer (`L.bias` in the state dict) and is quantized by the layer's
    /// bias quantizer (e.g. `Int32Bias`, in the accumulator's scale).
    public func addBias(_ b: Tensor) {
        precondition(bias == nil, "\(layerName).addBias: the layer already has a bias of shape \(bias!.shape)")
        precondition(b.rank == 1, "\(layerName).addBias: a bias is one value per output channel, got shape \(b.shape)")
        bias = b
        registerParameter("bias", b)
        biasQuant.initTensorQuant()
    }

    /// The quantized weight (Brevitas `quant_weight()`).
    public func quantWeight() -> QuantValue { weightQuant(weight) }

    public func forward(_ input: QuantValue) throws -> QuantValue {
        try forward(input) { qi in try weightQuant(weight, input: qi, layer: layerName) }
    }

    /// ``forward(_:)`` with the weight quantized by `quantizeWeight` (given the quantized input)
    /// instead of the layer's weight quantizer: post-training algorithms that train the weight's
    /// rounding (learned round) run the layer's input, bias and output quantization around
    /// their own weight.
    public func forward(_ input: QuantValue, quantizeWeight: (QuantValue) throws -> QuantValue) throws -> QuantValue {
        let qi = inputQuant(input)
        let qw = try quantizeWeight(qi)
        let accIsQuant = qi.quantTensor != nil && qw.quantTensor != nil
        if returnQuantTensor && !accIsQuant && !outputQuant.isQuantEnabled {
            throw QuantLayerError.notQuantized(layer: layerName, reason: "neither the accumulator (needs a quantized input and weight) nor output_quant is quantized")
        }
        var qb: QuantValue? = nil
        if let bias { qb = try biasQuant(bias, input: qi, weight: qw, layer: layerName) }
        var out = op(qi.value, qw.value, qb?.value)
        var acc = QuantValue.float(out)
        // Integer accumulator metadata only for integer kinds (Brevitas's float and group-wise
        // layers return plain accumulators).
        if let i = qi.quantTensor, let w = qw.quantTensor, i.kind == .intQuantTensor, w.kind == .intQuantTensor {
            let maxIn = QuantTensor.maxInt(i.bitWidth, signed: false).item()
            let maxW = QuantTensor.maxInt(w.bitWidth, signed: false).item()
            var bits = Float(Foundation.ceil(Foundation.log2(Double(maxIn) * Double(maxW) * Double(fanIn))))
            let view = channelView(out)
            let scale = w.scale.reshape(view) * i.scale.reshape(view)
            var zeroPoint = Tensor.zeros([1])
            if let b = qb {
                if let bq = b.quantTensor {
                    bits = Swift.max(bits, bq.bitWidth.item()) + 1
                    if !QuantTensor.allClose(bq.scale, scale) {
                        zeroPoint = -b.value.reshape(view) / scale
                    }
                } else {
                    zeroPoint = -b.value.reshape(view) / scale
                }
            }
            let zeroInputs = i.zeroPoint.scalars.allSatisfy { $0 == 0 } && w.zeroPoint.scalars.allSatisfy { $0 == 0 }
            if zeroInputs {
                if let sim = accumulatorSimulation { out = sim.apply(out, scale: scale, zeroPoint: zeroPoint) }
                acc = .quant(QuantTensor(value: out, scale: scale, zeroPoint: zeroPoint, bitWidth: Tensor(bits),
                                         signed: i.signed || w.signed, training: i.training || w.training))
            }
        }
        let result = outputQuant(acc)
        guard returnQuantTensor else { return .float(result.value) }
        guard result.quantTensor != nil else {
            throw QuantLayerError.notQuantized(layer: layerName, reason: "the accumulator has a non-zero input zero point, so its metadata cannot be computed; enable output_quant")
        }
        return result
    }

    /// The dequantized output (throws only when a bias quantizer lacks a quantized input).
    public func callAsFunction(_ x: Tensor) throws -> Tensor { try forwardValue(.float(x)) }
    /// The dequantized output of a QuantTensor input.
    public func callAsFunction(_ x: QuantTensor) throws -> Tensor { try forwardValue(.quant(x)) }

    func forwardValue(_ x: QuantValue) throws -> Tensor {
        let qi = inputQuant(x)
        let qw = try weightQuant(weight, input: qi, layer: layerName)
        let qb = try bias.map { try biasQuant($0, input: qi, weight: qw, layer: layerName) }
        return outputQuant(.float(op(qi.value, qw.value, qb?.value))).value
    }
}

/// A quantized fully connected layer (Brevitas `QuantLinear`): `y = x·Wᵀ + b` with quantized
/// `W` (default `Int8WeightPerTensorFloat`), optional quantized input, bias and output.
public final class QuantLinear: QuantWeightBiasLayer {
    public let inFeatures: Int, outFeatures: Int

    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true,
                weightQuant: WeightQuant? = .int8WeightPerTensorFloat, biasQuant: BiasQuant? = nil,
                inputQuant: ActQuant? = nil, outputQuant: ActQuant? = nil, returnQuantTensor: Bool = false,
                generator: RandomGenerator = .global) throws(QuantConfigError) {
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        let (w, b) = DefaultInitialization.weightAndBias(weightShape: [outFeatures, inFeatures], bias: bias, generator: generator)
        try super.init(name: "QuantLinear", weight: w, bias: b, weightQuant: weightQuant, biasQuant: biasQuant,
                       inputQuant: inputQuant, outputQuant: outputQuant, returnQuantTensor: returnQuantTensor)
    }

    override func op(_ x: Tensor, _ w: Tensor, _ b: Tensor?) -> Tensor { Tensor.linear(x, weight: w, bias: b) }
    override var fanIn: Int { inFeatures }
    public override var extraRepr: String {
        "in_features=\(inFeatures), out_features=\(outFeatures), bias=\(bias == nil ? "False" : "True")"
    }
}

/// A quantized 2-D convolution (Brevitas `QuantConv2d`), NCHW.
public final class QuantConv2d: QuantWeightBiasLayer {
    public var inChannels: Int { geometry.inChannels }
    public var outChannels: Int { geometry.outChannels }
    public let kernelSize: IntOrPair, stride: IntOrPair, padding: IntOrPair, dilation: IntOrPair
    public var groups: Int { geometry.groups }
    /// The validated hyper-parameters (as `Conv2d`'s).
    public let geometry: ConvolutionGeometry

    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: IntOrPair, stride: IntOrPair = 1,
                padding: IntOrPair = 0, dilation: IntOrPair = 1, groups: Int = 1, bias: Bool = true,
                weightQuant: WeightQuant? = .int8WeightPerTensorFloat, biasQuant: BiasQuant? = nil,
                inputQuant: ActQuant? = nil, outputQuant: ActQuant? = nil, returnQuantTensor: Bool = false,
                generator: RandomGenerator = .global) throws(QuantConfigError) {
        geometry = ConvolutionGeometry(layer: "QuantConv2d", inChannels: inChannels, outChannels: outChannels, kernelSize: kernelSize,
                                       stride: stride, padding: padding, dilation: dilation, groups: groups)
        (self.kernelSize, self.stride, self.padding, self.dilation) = (kernelSize, stride, padding, dilation)
        let (w, b) = DefaultInitialization.weightAndBias(weightShape: geometry.weightShape, bias: bias, generator: generator)
        try super.init(name: "QuantConv2d", weight: w, bias: b, weightQuant: weightQuant, biasQuant: biasQuant,
                       inputQuant: inputQuant, outputQuant: outputQuant, returnQuantTensor: returnQuantTensor)
    }

    override func op(_ x: Tensor, _ w: Tensor, _ b: Tensor?) -> Tensor {
        Tensor.conv2d(x, weight: w, bias: b, stride: stride.pair, padding: padding.pair, dilation: dilation.pair, groups: groups)
    }

    public override var extraRepr: String { geometry.extraRepr(bias: bias != nil) }
}

/// A quantized 1-D convolution (Brevitas `QuantConv1d`), NCL.
public final class QuantConv1d: QuantWeightBiasLayer, Convolution1dGeometry {
    /// The validated hyper-parameters (as `Conv1d`'s).
    public let geometry: ConvolutionGeometry

    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                dilation: Int = 1, groups: Int = 1, bias: Bool = true,
                weightQuant: WeightQuant? = .int8WeightPerTensorFloat, biasQuant: BiasQuant? = nil,
                inputQuant: ActQuant? = nil, outputQuant: ActQuant? = nil, returnQuantTensor: Bool = false,
                generator: RandomGenerator = .global) throws(QuantConfigError) {
        geometry = ConvolutionGeometry(layer: "QuantConv1d", inChannels: inChannels, outChannels: outChannels, kernelSize: [kernelSize],
                                       stride: [stride], padding: [padding], dilation: [dilation], groups: groups)
        let (w, b) = DefaultInitialization.weightAndBias(weightShape: geometry.weightShape, bias: bias, generator: generator)
        try super.init(name: "QuantConv1d", weight: w, bias: b, weightQuant: weightQuant, biasQuant: biasQuant,
                       inputQuant: inputQuant, outputQuant: outputQuant, returnQuantTensor: returnQuantTensor)
    }

    override func op(_ x: Tensor, _ w: Tensor, _ b: Tensor?) -> Tensor {
        Tensor.conv1d(x, weight: w, bias: b, stride: stride, padding: padding, dilation: dilation, groups: groups)
    }

    public override var extraRepr: String { geometry.extraRepr(bias: bias != nil) }
}
