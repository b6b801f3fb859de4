import TensorEngine

/// Brevitas's `IntQuant` as a function of a bit-width *tensor*: the integer range
/// (`brevitas.function.min_int` / `max_int`), the integer threshold of `IntScaling` /
/// `PowerOfTwoIntScaling`, and `to_int`. Used where the bit width may be learned (its gradient
/// flows through every bound) and by zero points, which Brevitas quantizes with the quantizer's
/// own `IntQuant`. The table of bounds and thresholds is `IntRange`'s.
public struct IntQuantSpec: Equatable, Sendable {
    public let signed: Bool
    public let narrowRange: Bool
    /// `TensorClampSte` (gradient straight through to the input, none to the bounds) instead of
    /// `TensorClamp` (a select: clipped elements pass their gradient to the bound).
    public let clampSte: Bool

    public init(signed: Bool, narrowRange: Bool, clampSte: Bool) {
        self.signed = signed
        self.narrowRange = narrowRange
        self.clampSte = clampSte
    }

    /// The smallest integer code for bit width `b` (a scalar tensor; see `IntRange`).
    public func minInt(_ b: Tensor) -> Tensor {
        IntRange.minInt(b, signed: signed, narrowRange: narrowRange)
    }

    /// The largest integer code for bit width `b`.
    public func maxInt(_ b: Tensor) -> Tensor {
        IntRange.maxInt(b, signed: signed, narrowRange: narrowRange)
    }

    /// The integer threshold the range is divided by: `IntScaling` (signed `−minInt(b)`, unsigned
    /// `maxInt(b)`), or `PowerOfTwoIntScaling` (`maxInt(b) + 1` without the narrow range).
    public func threshold(_ b: Tensor, powerOfTwo: Bool) -> Tensor {
        IntRange.threshold(b, signed: signed, narrowRange: narrowRange, powerOfTwo: powerOfTwo)
    }

    /// Brevitas `TensorClamp` or `TensorClampSte`, by `clampSte`.
    public func clamp(_ y: Tensor, min lo: Tensor, max hi: Tensor) -> Tensor {
        clampSte ? STE.tensorClampSte(y, min: lo, max: hi) : STE.tensorClamp(y, min: lo, max: hi)
    }

    /// Brevitas `IntQuant.to_int`: `clamp(round_ste(x/s + z), minInt(b), maxInt(b))`.
    public func toInt(_ x: Tensor, scale: Tensor, zeroPoint: Tensor, bitWidth: Tensor) -> Tensor {
        clamp(STE.roundSte(x / scale + zeroPoint), min: minInt(bitWidth), max: maxInt(bitWidth))
    }

    /// Brevitas `IntQuant.forward`, composed of differentiable pieces:
    /// `(toInt(x) − z) · s`. The fused `FakeQuantize.apply` computes the same for a constant bit
    /// width in one pass.
    public func fakeQuantize(_ x: Tensor, scale: Tensor, zeroPoint: Tensor, bitWidth: Tensor) -> Tensor {
        (toInt(x, scale: scale, zeroPoint: zeroPoint, bitWidth: bitWidth) - zeroPoint) * scale
    }
}
