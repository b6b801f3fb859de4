import NN
import QuantCore
import Quantizers
import TensorEngine

/// Truncation of an accumulator QuantTensor to fewer bits (Brevitas `TruncQuantAccumulator`,
/// `nn/quant_accumulator.py`): `trunc_quant` drops the `b_in − b_out` least significant bits of
/// the integer value and multiplies the scale by `2^(b_in − b_out)`:
/// ```
/// q = x / s − z                       (the integer accumulator, b_in bits)
/// y = (floor|round(q / 2^(b_in − b_out)) + z) · s · 2^(b_in − b_out)   clamped to b_out bits
/// ```
/// `TruncTo8bit` floors, `RoundTo8bit` rounds half to even. The input must be a QuantTensor
/// (e.g. a convolution's output with `returnQuantTensor: true`); without `trunc_quant` (the
/// default, Brevitas `NoneTruncQuant`) the layer passes its input through.
///
/// ```swift
/// let conv = try QuantConv2d(2, 3, kernelSize: 3, bias: false, inputQuant: .int8ActPerTensorFloat, returnQuantTensor: true)
/// let acc = TruncQuantAccumulator(truncQuant: .truncTo8bit)
/// let y = try acc.forward(conv.forward(.float(x)))   // 8-bit QuantTensor, scale · 2^(b − 8)
/// ```
///
/// Brevitas 0.13.4 cannot build this class (`TruncQuantAccumulator.__init__` calls
/// `QuantLayerMixin.__init__` before `Module.__init__`); this port builds what its code means.
public final class TruncQuantAccumulator: Module, QuantLayer {
    public let truncQuant: TruncQuantProxy
    public let returnQuantTensor: Bool

    public init(truncQuant: TruncQuant? = nil, returnQuantTensor: Bool = true) {
        self.truncQuant = TruncQuantProxy(config: truncQuant)
        self.returnQuantTensor = returnQuantTensor
        super.init()
        registerModule("trunc_quant", self.truncQuant)
    }

    public override var typeName: String { "TruncQuantAccumulator" }

    /// Truncates `input` (a QuantTensor; a plain tensor is an error when truncation is on).
    public func forward(_ input: QuantValue) throws -> QuantValue {
        guard truncQuant.isQuantEnabled else { return try pack(input, returnQuantTensor, typeName) }
        guard input.quantTensor != nil else {
            throw QuantLayerError.missingQuantInput(
                layer: typeName,
                reason: "truncation needs a QuantTensor input (an accumulator with its scale and bit width); give the layer before it returnQuantTensor: true")
        }
        return try pack(truncQuant(input), returnQuantTensor, typeName)
    }
}

/// Clamping of an accumulator QuantTensor (Brevitas `ClampQuantAccumulator`). Brevitas 0.13.4
/// ships no clamp quantizer, only `NoneClampQuant`, so the layer passes its input through
/// (its QuantTensor metadata unchanged); Brevitas 0.13.4 itself fails to build it
/// (`ClampQuantProxyFromInjector.__init__` takes no quantizer arguments).
public final class ClampQuantAccumulator: Module, QuantLayer {
    public let returnQuantTensor: Bool

    public init(returnQuantTensor: Bool = true) {
        self.returnQuantTensor = returnQuantTensor
        super.init()
    }

    public override var typeName: String { "ClampQuantAccumulator" }

    public func forward(_ input: QuantValue) throws -> QuantValue { try pack(input, returnQuantTensor, typeName) }
}
