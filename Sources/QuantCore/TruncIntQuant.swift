import Foundation
import NN
import TensorEngine

/// Requantization of an accumulator to fewer bits by dropping least-significant bits (Brevitas
/// `TruncIntQuant` with `TruncMsbScaling`):
///
///     q = round(x/s + z);  shift = inputBits − outputBits (negative shifts scale up)
///     y_int = clamp(r(q / 2^shift)), r = round (`RoundTo8bit`) or floor (`TruncTo8bit`)
///     output scale s·2^shift, zero point z / 2^shift
public final class TruncIntQuant: Module {
    public let bitWidthImpl: BitWidthConst
    public let rounding: RestrictRounding

    public init(bitWidth: Int, rounding: RestrictRounding) {
        bitWidthImpl = BitWidthConst(bitWidth)
        self.rounding = rounding
        super.init()
        registerModule("msb_clamp_bit_width_impl", bitWidthImpl)
        registerModule("float_to_int_impl", DescriptiveNode(rounding == .floor ? "FloorSte" : "RoundSte"))
    }

    public func callAsFunction(_ x: Tensor, scale: Tensor, zeroPoint: Tensor, inputBitWidth: Tensor, signed: Bool) -> QuantOutput {
        var y = STE.roundSte(x / scale + zeroPoint)
        let outBits = bitWidthImpl()
        // Brevitas TruncMsbScaling: 2^(in − out), also below 1 when the input has fewer bits.
        let shift = inputBitWidth.item() - outBits.item()
        let truncScale = Tensor(Float(pow(2.0, Double(shift))))
        y = y / truncScale
        y = rounding == .floor ? STE.floorSte(y) : STE.roundSte(y)
        let r = IntRange(bitWidth: bitWidthImpl.bits, signed: signed, narrowRange: false).bounds
        y = STE.tensorClampSte(y, min: Tensor(r.min), max: Tensor(r.max))
        let outScale = scale * truncScale
        let outZero = zeroPoint / truncScale
        return QuantOutput(value: (y - outZero) * outScale, scale: outScale, zeroPoint: outZero, bitWidth: outBits)
    }
}
