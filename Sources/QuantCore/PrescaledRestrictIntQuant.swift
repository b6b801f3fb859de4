import Foundation
import NN
import TensorEngine

/// Bias quantization with the scale given by the layer, `s_in · s_w` (Brevitas
/// `PrescaledRestrictIntQuant`): buffers `msb_clamp_bit_width_impl.bit_width.value` and
/// `zero_point.value`. Signed, not narrow range; the clamp is a plain clamp (`TensorClamp`, as
/// Brevitas `IntBias`): clipped elements pass no gradient to the bias.
public final class PrescaledRestrictIntQuant: Module {
    public let bitWidthImpl: BitWidthConst
    let zero = StatelessBuffer(0)

    public init(bitWidth: Int) {
        bitWidthImpl = BitWidthConst(bitWidth)
        super.init()
        registerModule("int_quant", DescriptiveNode("IntQuant", "narrow_range=False, signed=True"))
        registerModule("msb_clamp_bit_width_impl", bitWidthImpl)
        registerModule("zero_point", zero)
    }

    public func callAsFunction(_ x: Tensor, scale: Tensor) -> QuantOutput {
        let r = IntRange(bitWidth: bitWidthImpl.bits, signed: true, narrowRange: false).bounds
        let y = FakeQuantize.apply(x, scale: scale, zeroPoint: zero.value, minInt: r.min, maxInt: r.max, clampSte: false)
        return QuantOutput(value: y, scale: scale, zeroPoint: zero.value, bitWidth: bitWidthImpl())
    }
}
