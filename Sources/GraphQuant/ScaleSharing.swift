import NN
import QuantCore
import QuantNN
import TensorEngine

/// A `scaling_impl` borrowed from another quantizer together with its `int_scaling_impl`: what
/// Brevitas's `residual_handler` gives a `QuantReLU` feeding an add, so that both add operands
/// have one scale (`align_input_quant` with `scaling_impl=Q.scaling_impl,
/// int_scaling_impl=Q.int_scaling_impl`).
///
/// The borrowing quantizer keeps its own sign and bit width; the scale is the source's range over
/// the source's integer threshold at the borrower's bit width:
///
///     scale = range_Q / threshold(bits, signed_Q, narrow_Q)
///
/// e.g. an unsigned 8-bit ReLU aligned to a signed 8-bit add quantizer has codes 0...255 and
/// scale `buffer / 128`. The statistics buffer is the source's: calibration updates it from
/// every quantizer that uses it.
///
/// In Brevitas the borrower's `scaling_impl` *is* the source's module, so its state-dict keys are
/// the source's under the borrower's path (`relu.act_quant.fused_activation_quant_proxy.
/// tensor_quant.scaling_impl.value`). This module registers the source's parameters, buffers and
/// children (the same objects) under their own names, and answers for them as the source does
/// (the saved `value` while collecting, the end of collection on load), so the keys are Brevitas's.
public final class SharedScaling: Module, ScalingImpl {
    /// The quantizer whose scaling and integer threshold are borrowed.
    public let source: RescalingIntQuant
    /// The borrower's bit width.
    public let bits: Int

    public init(source: RescalingIntQuant, bits: Int) {
        self.source = source
        self.bits = bits
        super.init()
        let scaling = source.scaling
        for (name, t) in scaling.localParameters { registerParameter(name, t) }
        for (name, t) in scaling.localBuffers { registerBuffer(name, t, persistent: scaling.isPersistentBuffer(name)) }
        for (name, child) in scaling.children { registerModule(name, child) }
    }

    public override func stateDictValue(forLocal name: String, _ tensor: Tensor) -> Tensor {
        source.scaling.stateDictValue(forLocal: name, tensor)
    }

    /// The source's module is this one's in Brevitas: it takes the mode set here (calibration
    /// runs the borrower in training mode to collect statistics into the shared buffer).
    public override func didSetTraining(_ on: Bool) {
        if source.scaling.training != on { source.scaling.train(on) }
    }

    public override func didLoadState(localNames: Set<String>) {
        source.scaling.didLoadState(localNames: localNames)
    }

    public var readsInput: Bool { source.scaling.readsInput }

    /// The borrowed integer threshold (`IntScaling` of the source at the borrower's bit width).
    public var threshold: Float {
        Float(IntRange(bitWidth: bits, signed: source.signed, narrowRange: source.narrowRange)
            .threshold(powerOfTwo: source.powerOfTwoIntScaling))
    }

    public func callAsFunction(_ x: Tensor, threshold _: Tensor) -> Tensor {
        source.scaling(x, threshold: Tensor(threshold))
    }

    public override var typeName: String { "SharedScaling" }
}

/// Object identities that decide whether two activation quantizers are aligned
/// (`_tensor_quant_in_list`): the scaling module and the owner of the integer threshold.
enum ScaleIdentity {
    static func scaling(_ tq: TensorQuantizer?) -> ObjectIdentifier? {
        guard let tq else { return nil }
        guard let r = tq as? RescalingIntQuant else { return ObjectIdentifier(tq) }
        if let s = r.scaling as? SharedScaling { return ObjectIdentifier(s.source.scaling) }
        return ObjectIdentifier(r.scaling)
    }

    static func intScaling(_ tq: TensorQuantizer?) -> ObjectIdentifier? {
        guard let tq else { return nil }
        if let r = tq as? RescalingIntQuant, let s = r.scaling as? SharedScaling { return ObjectIdentifier(s.source) }
        return ObjectIdentifier(tq)
    }
}
