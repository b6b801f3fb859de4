import NN
import QuantCore
import Quantizers
import TensorEngine

/// The shared shape of Brevitas's quantized activations (`QuantNonLinearActLayer`): an input
/// quantizer (off by default), then the float activation and its quantizer.
///
/// `returnQuantTensor: false` (the default) returns the dequantized values as a plain tensor.
open class QuantActivationLayer: Module, QuantLayer {
    public let inputQuant: ActQuantProxy
    public internal(set) var actQuant: ActQuantProxy
    public let returnQuantTensor: Bool
    let layerName: String

    init(name: String, activation: ActivationImpl, actQuant: ActQuant?, inputQuant: ActQuant?,
         returnQuantTensor: Bool) throws(QuantConfigError) {
        layerName = name
        self.inputQuant = try ActQuantProxy(config: inputQuant, activation: .identity, fused: false, context: "\(name).input_quant")
        self.actQuant = try ActQuantProxy(config: actQuant, activation: activation, context: "\(name).act_quant")
        self.returnQuantTensor = returnQuantTensor
        super.init()
        registerModule("input_quant", self.inputQuant)
        registerModule("act_quant", self.actQuant)
    }

    open override var typeName: String { layerName }

    public func forward(_ input: QuantValue) throws -> QuantValue {
        let out = actQuant(inputQuant(input))
        guard returnQuantTensor else { return .float(out.value) }
        guard out.quantTensor != nil else {
            throw QuantLayerError.notQuantized(
                layer: layerName,
                reason: actQuant.activation.isPassthrough
                    ? "act_quant is disabled and the input carries no quantization metadata to pass through"
                    : "act_quant is disabled and \(actQuant.activation.typeName) does not keep quantization metadata (only Identity, ReLU and HardTanh pass it through)")
        }
        return out
    }

    /// The dequantized output (never fails).
    public func callAsFunction(_ x: Tensor) -> Tensor { actQuant(inputQuant(.float(x))).value }

    /// The dequantized output of a QuantTensor input.
    public func callAsFunction(_ x: QuantTensor) -> Tensor { actQuant(inputQuant(.quant(x))).value }
}

/// Quantizes its input (Brevitas `QuantIdentity`); default `Int8ActPerTensorFloat`.
public final class QuantIdentity: QuantActivationLayer {
    public init(actQuant: ActQuant? = .int8ActPerTensorFloat, inputQuant: ActQuant? = nil, returnQuantTensor: Bool = false) throws(QuantConfigError) {
        try super.init(name: "QuantIdentity", activation: .identity, actQuant: actQuant, inputQuant: inputQuant, returnQuantTensor: returnQuantTensor)
    }
}

/// ReLU then quantization (Brevitas `QuantReLU`); default `Uint8ActPerTensorFloat`.
public final class QuantReLU: QuantActivationLayer {
    public init(actQuant: ActQuant? = .uint8ActPerTensorFloat, inputQuant: ActQuant? = nil, returnQuantTensor: Bool = false) throws(QuantConfigError) {
        try super.init(name: "QuantReLU", activation: .relu, actQuant: actQuant, inputQuant: inputQuant, returnQuantTensor: returnQuantTensor)
    }
}

/// Sigmoid then quantization (Brevitas `QuantSigmoid`); default `Uint8ActPerTensorFloat`.
public final class QuantSigmoid: QuantActivationLayer {
    public init(actQuant: ActQuant? = .uint8ActPerTensorFloat, inputQuant: ActQuant? = nil, returnQuantTensor: Bool = false) throws(QuantConfigError) {
        try super.init(name: "QuantSigmoid", activation: .sigmoid, actQuant: actQuant, inputQuant: inputQuant, returnQuantTensor: returnQuantTensor)
    }
}

/// Tanh then quantization (Brevitas `QuantTanh`); default `Int8ActPerTensorFloat`.
public final class QuantTanh: QuantActivationLayer {
    public init(actQuant: ActQuant? = .int8ActPerTensorFloat, inputQuant: ActQuant? = nil, returnQuantTensor: Bool = false) throws(QuantConfigError) {
        try super.init(name: "QuantTanh", activation: .tanh, actQuant: actQuant, inputQuant: inputQuant, returnQuantTensor: returnQuantTensor)
    }
}

/// Hard tanh on `[minVal, maxVal]` then quantization with a learned range initialised from it
/// (Brevitas `QuantHardTanh`, default `Int8ActPerTensorFloatMinMaxInit`). The range is required;
/// a range-based quantizer that does not set its own `minVal`/`maxVal` takes the layer's.
public final class QuantHardTanh: QuantActivationLayer {
    public let minVal: Float, maxVal: Float

    public init(minVal: Float, maxVal: Float, actQuant: ActQuant? = .int8ActPerTensorFloatMinMaxInit,
                inputQuant: ActQuant? = nil, returnQuantTensor: Bool = false) throws(QuantConfigError) {
        self.minVal = minVal
        self.maxVal = maxVal
        var config = actQuant
        if var c = config, c.scalingImplType == .parameter || c.scalingImplType == .const {
            if c.minVal == nil { c.minVal = minVal }
            if c.maxVal == nil { c.maxVal = maxVal }
            config = c
        }
        try super.init(name: "QuantHardTanh", activation: .hardtanh(min: minVal, max: maxVal), actQuant: config,
                       inputQuant: inputQuant, returnQuantTensor: returnQuantTensor)
    }
}
