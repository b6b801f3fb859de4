import NN
import QuantCore
import TensorEngine

/// The tail of a quantized residual block, `relu(add(bn(conv(y)), shortcut))`, in two fused ops
/// where the quantizers allow (training and evaluation):
///
/// | unfused | fused op |
/// |---|---|
/// | `bn` → the add's input quantizer (signed, per tensor) | `Tensor.batchNormFakeQuant(relu: false)` (`batchNormQuant`) |
/// | the add's input quantizer on the shortcut → `+` → `QuantReLU` | `Tensor.quantAddReLUFakeQuant` (`quantAddReLU`) |
///
/// A quantizer runs inside a fused op only when it is a per-tensor `RescalingIntQuant` with a
/// constant bit width and its statistics collection over (`RescalingIntQuant.epilogueParameters`),
/// unobserved; the add has no output quantizer and the ReLU no input quantizer. Otherwise the
/// layers run one by one, with the same calls in the same order. The shared input quantizer is
/// called once per operand, as unfused, so its learned scale receives both operands'
/// contributions through autograd exactly as in the unfused graph.
///
/// Outputs (values and QuantTensor metadata) and gradients equal the unfused path's bit for bit;
/// for planes whose size is not a multiple of 8 dividing 16384 (or made of 16384-element blocks),
/// the add scale's share from the BatchNorm operand agrees to float rounding (`batchNormFakeQuant`).
extension LayerFusion {
    /// The per-tensor integer quantizer of `proxy` when it can run in a producer's epilogue: no
    /// observer, a `RescalingIntQuant` without groups that reads no statistic of its input and
    /// has a constant bit width; `nil` otherwise. Does not step the quantizer.
    static func epilogueQuantizer(_ proxy: ActQuantProxy, activation: ActivationImpl) -> RescalingIntQuant? {
        guard proxy.activation == activation, proxy.observer == nil, let rq = proxy.tensorQuant as? RescalingIntQuant,
              rq.canFuseActivation, rq.group == nil
        else { return nil }
        return rq
    }

    /// `quant(bn(x))` in one op (`BatchNorm.forwardFakeQuant`) when `bn` is a `FloatLayer` around
    /// a `BatchNorm` (not synchronised in training) and `quant` an identity activation quantizer
    /// that fits an epilogue (`epilogueQuantizer`); the QuantTensor `quant` would return, or `nil`
    /// when the pair does not fuse (nothing stepped then).
    public static func batchNormQuant(_ bn: QuantLayer, _ quant: ActQuantProxy, _ x: QuantValue) -> QuantValue? {
        guard let f = bn as? FloatLayer, let norm = f.layer as? BatchNorm,
              !(norm.training && norm.synchronizedNormalization != nil),
              let rq = epilogueQuantizer(quant, activation: .identity), let p = rq.epilogueParameters(x.value)
        else { return nil }
        let epilogue = FakeQuantEpilogue(scale: p.scale, zeroPoint: p.zeroPoint, minInt: p.minInt, maxInt: p.maxInt)
        guard let y = norm.forwardFakeQuant(x.value, quant: epilogue) else { return nil }
        return .quant(QuantTensor(value: y, scale: p.scale, zeroPoint: p.zeroPoint, bitWidth: p.bitWidth, signed: rq.signed,
                                  training: quant.training))
    }

    /// Whether `quantAddReLU` can fuse `add` and `relu` (their quantizers and observers; the
    /// operands are checked when it runs).
    static func canFuseAddReLU(_ add: QuantEltwiseAdd, _ relu: QuantReLU) -> Bool {
        !add.outputQuant.isQuantEnabled && add.outputQuant.observer == nil && !relu.inputQuant.isQuantEnabled
            && relu.inputQuant.observer == nil && epilogueQuantizer(add.inputQuant, activation: .identity) != nil
            && epilogueQuantizer(relu.actQuant, activation: .relu) != nil
    }

    /// `relu(add.sum(a, add.inputQuant(s)))` in one op (`Tensor.quantAddReLUFakeQuant`), where
    /// `a` is the other operand already quantized by `add.inputQuant` (an integer QuantTensor of
    /// the shape of `s`), when `canFuseAddReLU`; what `relu` would return, or `nil` (nothing
    /// stepped then).
    public static func quantAddReLU(_ add: QuantEltwiseAdd, _ relu: QuantReLU, _ a: QuantValue, _ s: QuantValue) -> QuantValue? {
        guard canFuseAddReLU(add, relu), let qa = a.quantTensor, qa.minifloat == nil, qa.group == nil,
              qa.value.shape == s.value.shape, let ri = add.inputQuant.tensorQuant as? RescalingIntQuant,
              let ro = relu.actQuant.tensorQuant as? RescalingIntQuant,
              let pi = ri.epilogueParameters(s.value)
        else { return nil }
        // The output quantizer reads no statistic of its input (canFuseActivation): `a` stands in
        // for the sum it has not been given yet.
        guard let po = ro.epilogueParameters(qa.value) else { return nil }
        // Unfused, eval-mode QuantTensor addition requires equal scales; a shared quantizer whose
        // scale does not read its input gives equal ones (checked, as that path would).
        if !qa.training, !QuantTensor.allClose(qa.scale, pi.scale) { return nil }
        let y = Tensor.quantAddReLUFakeQuant(
            qa.value, s.value,
            inputQuant: FakeQuantEpilogue(scale: pi.scale, zeroPoint: pi.zeroPoint, minInt: pi.minInt, maxInt: pi.maxInt),
            outputQuant: FakeQuantEpilogue(scale: po.scale, zeroPoint: po.zeroPoint, minInt: po.minInt, maxInt: po.maxInt))
        guard relu.returnQuantTensor else { return .float(y) }
        return .quant(QuantTensor(value: y, scale: po.scale, zeroPoint: po.zeroPoint, bitWidth: po.bitWidth, signed: ro.signed,
                                  training: relu.actQuant.training))
    }

    /// `relu(add([bn(conv(y)), shortcut()]))`, the tail of a residual block: the convolution and
    /// BatchNorm folded in evaluation (`convBatchNorm`), else the BatchNorm fused with the add's
    /// input quantizer (`batchNormQuant`), then the add and the ReLU in one op (`quantAddReLU`),
    /// each where it fuses; with `isEnabled` off or nothing fusing, the layers one by one.
    public static func residualTail(conv: QuantLayer, bn: QuantLayer, add: QuantEltwiseAdd, relu: QuantReLU, _ y: QuantValue,
                                    shortcut: () throws -> QuantValue) throws -> QuantValue {
        guard isEnabled, canFuseAddReLU(add, relu) else {
            let c = try apply([conv, bn], to: y)
            return try relu.forward(add.forward([c, try shortcut()]))
        }
        let a: QuantValue
        if let folded = try convBatchNorm(conv, bn, y) {
            a = add.inputQuant(folded)
        } else {
            let c = try conv.forward(y)
            a = try batchNormQuant(bn, add.inputQuant, c) ?? add.inputQuant(bn.forward(c))
        }
        let s = try shortcut()
        if let out = quantAddReLU(add, relu, a, s) { return out }
        return try relu.forward(add.sum(quantized: a, add.inputQuant(s)))
    }
}
