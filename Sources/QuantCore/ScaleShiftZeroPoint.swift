import TensorEngine

/// Brevitas `_ScaleShiftZeroPoint`: turns a float zero point `zf` (in the units of the input)
/// into the integer-domain zero point the quantizer adds,
///
///     quantized:  z = clamp(round_ste(zf / s + minInt(b)), minInt(b), maxInt(b))
///     otherwise:  z = zf / s + minInt(b)
///
/// with the quantizer's own clamp (`TensorClamp` for activations, `TensorClampSte` for weights).
public struct ScaleShiftZeroPoint: Equatable, Sendable {
    public let intQuant: IntQuantSpec
    /// Brevitas `quantize_zero_point`.
    public let quantize: Bool

    public init(intQuant: IntQuantSpec, quantize: Bool) {
        self.intQuant = intQuant
        self.quantize = quantize
    }

    public func callAsFunction(_ zf: Tensor, scale: Tensor, bitWidth: Tensor) -> Tensor {
        let lo = intQuant.minInt(bitWidth)
        if quantize { return intQuant.toInt(zf, scale: scale, zeroPoint: lo, bitWidth: bitWidth) }
        return zf / scale + lo
    }
}
