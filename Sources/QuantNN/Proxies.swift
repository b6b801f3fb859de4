import NN
import QuantCore
import Quantizers
import TensorEngine

/// The float activation a quantized activation layer applies before quantizing.
public enum ActivationImpl: Equatable, Sendable {
    case identity, relu, sigmoid, tanh
    case hardtanh(min: Float, max: Float)

    func apply(_ x: Tensor) -> Tensor {
        switch self {
        case .identity: return x
        case .relu: return x.relu()
        case .sigmoid: return x.sigmoid()
        case .tanh: return x.tanh()
        case .hardtanh(let lo, let hi): return x.hardtanh(min: lo, max: hi)
        }
    }

    /// Whether a QuantTensor's metadata stays valid through the function (Brevitas
    /// `passthrough_act`): identity, ReLU and hard tanh keep grid values on the grid.
    var isPassthrough: Bool {
        switch self {
        case .identity, .relu, .hardtanh: return true
        case .sigmoid, .tanh: return false
        }
    }

    /// Brevitas skips a hard tanh whose output is quantized: the quantizer's clamp replaces it
    /// (`_is_act_enabled` in `brevitas/proxy/runtime_quant.py`).
    var isHardtanh: Bool {
        if case .hardtanh = self { return true }
        return false
    }

    var typeName: String {
        switch self {
        case .identity: return "Identity"
        case .relu: return "ReLU"
        case .sigmoid: return "Sigmoid"
        case .tanh: return "Tanh"
        case .hardtanh: return "Hardtanh"
        }
    }
}

/// An activation quantizer attached to a layer (Brevitas `ActQuantProxyFromInjector`): applies
/// the activation, then quantizes, and returns a QuantTensor. With no configuration it only
/// applies the activation, passing a QuantTensor input's metadata through when the activation
/// allows it.
public final class ActQuantProxy: Module, QuantProxy {
    /// Receives every output when set (see ``QuantProxy``); off by default.
    public var observer: ((QuantValue) -> Void)? = nil
    /// The configuration, `nil` when quantization is disabled.
    public let config: ActQuant?
    /// The quantizer (`fused_activation_quant_proxy.tensor_quant`), `nil` when disabled.
    public let tensorQuant: TensorQuantizer?
    public let activation: ActivationImpl
    /// Whether this proxy exists only as a placeholder (an input quantizer that is off).
    let hasFusedProxy: Bool

    /// - Parameters:
    ///   - fused: `false` for a disabled input quantizer that has no activation (Brevitas sets
    ///     `fused_activation_quant_proxy` to None).
    ///   - sharing: a quantizer of another proxy to use instead of building one from `config`
    ///     (Brevitas's graph quantization aligns the scales of a concat's inputs this way).
    public init(config: ActQuant?, activation: ActivationImpl, fused: Bool = true, context: String,
                sharing: TensorQuantizer? = nil) throws(QuantConfigError) {
        self.config = config
        self.activation = activation
        self.hasFusedProxy = fused || config != nil || sharing != nil
        if let sharing { tensorQuant = sharing } else { tensorQuant = try config?.makeTensorQuant(context: context) }
        super.init()
        registerModule("_zero_hw_sentinel", StatelessBuffer(0))
        if hasFusedProxy {
            let fusedProxy = DescriptiveNode("FusedActivationQuantProxy")
            fusedProxy.registerModule("activation_impl", DescriptiveNode(activation.typeName))
            if let tensorQuant { fusedProxy.registerModule("tensor_quant", tensorQuant) }
            registerModule("fused_activation_quant_proxy", fusedProxy)
        }
    }

    /// Whether quantization is on.
    public var isQuantEnabled: Bool { tensorQuant != nil }

    public override var typeName: String { "ActQuantProxyFromInjector" }

    public func callAsFunction(_ x: QuantValue) -> QuantValue {
        guard hasFusedProxy else { return x }
        return observed(quantize(x))
    }

    func quantize(_ x: QuantValue) -> QuantValue {
        if activation == .relu, let rq = tensorQuant as? RescalingIntQuant, rq.canFuseActivation {
            // One pass for ReLU and quantization (and one for their backward).
            let o = rq.quantize(x.value, fusedReLU: true)
            return .quant(QuantTensor(value: o.value, scale: o.scale, zeroPoint: o.zeroPoint, bitWidth: o.bitWidth, signed: rq.signed, training: training))
        }
        let y = tensorQuant != nil && activation.isHardtanh ? x.value : activation.apply(x.value)
        guard let tensorQuant else {
            if activation.isPassthrough, case .quant(let q) = x {
                return .quant(q.with(value: y).withTraining(training))
            }
            return .float(y)
        }
        let o = tensorQuant(y)
        return .quant(QuantTensor(value: o.value, scale: o.scale, zeroPoint: o.zeroPoint, bitWidth: o.bitWidth, signed: tensorQuant.isSigned, training: training,
                                  minifloat: o.minifloat, group: o.group))
    }
}

/// A weight quantizer (Brevitas `WeightQuantProxyFromInjector`).
public final class WeightQuantProxy: Module, QuantProxy {
    /// Receives every output when set (see ``QuantProxy``); off by default.
    public var observer: ((QuantValue) -> Void)? = nil
    public let config: WeightQuant?
    public let tensorQuant: TensorQuantizer?
    /// The accumulator-aware quantizer (A2Q / A2Q+), which needs the layer's quantized input
    /// (`WeightQuantProxy+AccumulatorAware.swift`).
    public let accumulatorAware: AccumulatorAwareWeightQuant?

    /// - Parameter weight: the tracked weight; required by accumulator-aware configurations,
    ///   whose parameters are initialised from it.
    /// - Parameter outputChannelDim: where the output channels lie in the weight (1 for transposed
    ///   convolutions), for per-channel scales.
    public init(config: WeightQuant?, weightShape: [Int], weight: Tensor? = nil, outputChannelDim: Int = 0, context: String) throws(QuantConfigError) {
        self.config = config
        if let config, config.accumulatorAware != nil {
            guard let weight else {
                throw QuantConfigError(context: context, problems: [.init(key: "weight_quant", message: "\(config.preset) is only supported on layers with a weight (QuantLinear, QuantConv1d/2d/3d)")])
            }
            accumulatorAware = try config.makeAccumulatorAwareQuant(weight: weight, context: context)
            tensorQuant = nil
        } else {
            accumulatorAware = nil
            tensorQuant = try config?.makeTensorQuant(weightShape: weightShape, outputChannelDim: outputChannelDim, context: context)
        }
        super.init()
        registerModule("_zero_hw_sentinel", StatelessBuffer(0))
        if let tensorQuant { registerModule("tensor_quant", tensorQuant) }
        if let accumulatorAware { registerModule("tensor_quant", accumulatorAware) }
    }

    public var isQuantEnabled: Bool { tensorQuant != nil || accumulatorAware != nil }
    public override var typeName: String { "WeightQuantProxyFromInjector" }

    public func callAsFunction(_ w: Tensor) -> QuantValue {
        precondition(accumulatorAware == nil, "WeightQuantProxy: an accumulator-aware weight quantizer needs the layer's quantized input: call weightQuant(weight, input:layer:)")
        guard let tensorQuant else { return .float(w) }
        let o = tensorQuant(w)
        return observed(.quant(QuantTensor(value: o.value, scale: o.scale, zeroPoint: o.zeroPoint, bitWidth: o.bitWidth, signed: tensorQuant.isSigned, training: training,
                                           minifloat: o.minifloat, group: o.group)))
    }
}

/// A bias quantizer whose scale is the layer's `s_in · s_w` (Brevitas `BiasQuantProxyFromInjector`).
public final class BiasQuantProxy: Module, QuantProxy {
    /// Receives every output when set (see ``QuantProxy``); off by default.
    public var observer: ((QuantValue) -> Void)? = nil
    public let config: BiasQuant?
    public private(set) var tensorQuant: PrescaledRestrictIntQuant?

    /// `hasBias`: whether the layer has a bias to track. As in Brevitas
    /// (`ParameterQuantProxyFromInjector.init_tensor_quant`), a proxy with nothing to track
    /// builds no `tensor_quant` (no state, quantization disabled) until ``initTensorQuant()``
    /// runs when a bias is registered later (bias correction).
    public init(config: BiasQuant?, hasBias: Bool = true, context: String) throws(QuantConfigError) {
        try config?.validate(context: context)
        self.config = config
        super.init()
        registerModule("_zero_hw_sentinel", StatelessBuffer(0))
        if hasBias { initTensorQuant() }
    }

    /// Builds the integer quantizer of `config` (Brevitas re-runs `init_tensor_quant` when a
    /// layer registers a `bias` parameter); nothing when quantization is off or already built.
    public func initTensorQuant() {
        guard tensorQuant == nil, let config else { return }
        let tq = PrescaledRestrictIntQuant(bitWidth: config.bitWidth)
        tensorQuant = tq
        registerModule("tensor_quant", tq)
    }

    public var isQuantEnabled: Bool { tensorQuant != nil }
    public override var typeName: String { "BiasQuantProxyFromInjector" }

    /// Quantizes `bias` with scale `(s_in · s_w).view(-1)`; needs both input and weight quantized.
    public func callAsFunction(_ bias: Tensor, input: QuantValue, weight: QuantValue, layer: String) throws -> QuantValue {
        guard let tensorQuant else { return .float(bias) }
        guard let qi = input.quantTensor, let qw = weight.quantTensor else {
            throw QuantLayerError.missingQuantInput(layer: layer, reason: "the bias quantizer \(config!.preset) needs a quantized input and weight to take its scale from; enable input_quant (e.g. Int8ActPerTensorFloat) or feed a QuantTensor")
        }
        let scale = (qi.scale.reshape([-1]) * qw.scale.reshape([-1]))
        let o = tensorQuant(bias, scale: scale.count == 1 ? scale.reshape([1]) : scale)
        return observed(.quant(QuantTensor(value: o.value, scale: o.scale, zeroPoint: o.zeroPoint, bitWidth: o.bitWidth, signed: true, training: training)))
    }
}

/// Accumulator truncation (Brevitas `TruncQuantProxyFromInjector`).
public final class TruncQuantProxy: Module, QuantProxy {
    /// Receives every output when set (see ``QuantProxy``); off by default.
    public var observer: ((QuantValue) -> Void)? = nil
    public let config: TruncQuant?
    public let tensorQuant: TruncIntQuant?

    public init(config: TruncQuant?) {
        self.config = config
        tensorQuant = config.map { TruncIntQuant(bitWidth: $0.bitWidth, rounding: $0.rounding == .floor ? .floor : .round) }
        super.init()
        registerModule("_zero_hw_sentinel", StatelessBuffer(0))
        if let tensorQuant { registerModule("tensor_quant", tensorQuant) }
    }

    public var isQuantEnabled: Bool { tensorQuant != nil }
    public override var typeName: String { "TruncQuantProxyFromInjector" }

    public func callAsFunction(_ x: QuantValue) -> QuantValue {
        guard let tensorQuant else { return x }
        guard let q = x.quantTensor else { return observed(x) }
        let o = tensorQuant(q.value, scale: q.scale, zeroPoint: q.zeroPoint, inputBitWidth: q.bitWidth, signed: q.signed)
        return observed(.quant(QuantTensor(value: o.value, scale: o.scale, zeroPoint: o.zeroPoint, bitWidth: o.bitWidth, signed: q.signed, training: training)))
    }
}
