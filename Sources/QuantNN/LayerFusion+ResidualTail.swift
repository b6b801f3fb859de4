import NN
import QuantCore
import TensorEngine

/// The tail of a quantized residual block, `relu(add(bn(conv(y)), shortcut))`, in two fused ops
/// where the quantizers allow (training and evaluation):
///
/// | unfused | fused op |
/// |---|---|
/// | `bn` → the add's input quantizer (signed, per tensor) | `Tensor.batchNormFakeQuant(relu: false)` (`batchNormQuant`) |
/// | the add's input quantizer on an identity shortcut → `+` → `QuantReLU` | `Tensor.quantAddReLUFakeQuant` (`quantAddReLU`) |
/// | `+` of two operands quantized in their BatchNorms' epilogues → `QuantReLU` | `Tensor.quantAddReLUFakeQuant(inputQuant: nil)` (`addReLU`) |
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

    /// `relu(add.sum(a, b))` in one op (`Tensor.quantAddReLUFakeQuant` without an input
    /// quantizer) where both operands went through `add.inputQuant` already (each in its
    /// BatchNorm's epilogue), when `canFuseAddReLU`; what `relu` would return, or `nil`.
    public static func addReLU(_ add: QuantEltwiseAdd, _ relu: QuantReLU, _ a: QuantValue, _ b: QuantValue) -> QuantValue? {
        guard canFuseAddReLU(add, relu), let qa = a.quantTensor, let qb = b.quantTensor, qa.minifloat == nil, qa.group == nil,
              qb.minifloat == nil, qb.group == nil, qa.value.shape == qb.value.shape,
              let ro = relu.actQuant.tensorQuant as? RescalingIntQuant
        else { return nil }
        // Unfused, eval-mode QuantTensor addition requires equal scales (see `quantAddReLU`).
        if !qa.training, !QuantTensor.allClose(qa.scale, qb.scale) { return nil }
        guard let po = ro.epilogueParameters(qa.value) else { return nil }
        let y = Tensor.quantAddReLUFakeQuant(
            qa.value, qb.value, inputQuant: nil,
            outputQuant: FakeQuantEpilogue(scale: po.scale, zeroPoint: po.zeroPoint, minInt: po.minInt, maxInt: po.maxInt))
        guard relu.returnQuantTensor else { return .float(y) }
        return .quant(QuantTensor(value: y, scale: po.scale, zeroPoint: po.zeroPoint, bitWidth: po.bitWidth, signed: ro.signed,
                                  training: relu.actQuant.training))
    }

    /// `quant(bn(conv(x)))`: the BatchNorm folded into the convolution in evaluation
    /// (`convBatchNorm`), else BatchNorm and quantizer in one op (`batchNormQuant`), else one by one.
    static func quantizedOperand(_ conv: QuantLayer, _ bn: QuantLayer, _ quant: ActQuantProxy, _ x: QuantValue) throws -> QuantValue {
        if let folded = try convBatchNorm(conv, bn, x) { return quant(folded) }
        let c = try conv.forward(x)
        return try batchNormQuant(bn, quant, c) ?? quant(bn.forward(c))
    }

    /// `relu(add([bn(conv(y)), shortcut(input)]))`, the tail of a residual block, where
    /// `shortcut` is a layer sequence (`nil`: the identity). Each operand's BatchNorm runs with
    /// the add's input quantizer in its epilogue (or folded into its convolution in evaluation),
    /// then the add and the ReLU run as one op (`addReLU`; with an identity shortcut,
    /// `quantAddReLU` quantizes it), each where it fuses; with `isEnabled` off or the add and
    /// ReLU unfusable, the layers one by one, as `relu.forward(add.forward([...]))`.
    public static func residualTail(conv: QuantLayer, bn: QuantLayer, add: QuantEltwiseAdd, relu: QuantReLU, _ y: QuantValue,
                                    shortcut: [QuantLayer]?, input: QuantValue) throws -> QuantValue {
        guard isEnabled, canFuseAddReLU(add, relu) else {
            let c = try apply([conv, bn], to: y)
            let s = try shortcut.map { try apply($0, to: input) } ?? input
            return try relu.forward(add.forward([c, s]))
        }
        let a = try quantizedOperand(conv, bn, add.inputQuant, y)
        guard let layers = shortcut else {
            if let out = quantAddReLU(add, relu, a, input) { return out }
            return try relu.forward(add.sum(quantized: a, add.inputQuant(input)))
        }
        let b: QuantValue
        if layers.count == 2, ((layers[1] as? FloatLayer)?.layer as? BatchNorm) != nil {
            b = try quantizedOperand(layers[0], layers[1], add.inputQuant, input)
        } else {
            b = add.inputQuant(try apply(layers, to: input))
        }
        if let out = addReLU(add, relu, a, b) { return out }
        return try relu.forward(add.sum(quantized: a, b))
    }
}
