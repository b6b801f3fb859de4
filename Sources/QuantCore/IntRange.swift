import TensorEngine

/// The integer codes of a `bitWidth`-bit quantizer and the threshold its clipping range is
/// divided by: Brevitas's `brevitas.function.min_int` / `max_int` and the `IntScaling` /
/// `PowerOfTwoIntScaling` thresholds, in one place.
///
/// | | `minInt` | `maxInt` | `threshold` (`IntScaling`) | `powerOfTwoThreshold` |
/// |---|---|---|---|---|
/// | signed | `−2^(b−1)` | `2^(b−1) − 1` | `2^(b−1)` | `2^(b−1)` |
/// | signed, narrow | `−2^(b−1) + 1` | `2^(b−1) − 1` | `2^(b−1) − 1` | `2^(b−1)` |
/// | unsigned | `0` | `2^b − 1` | `2^b − 1` | `2^b` |
/// | unsigned, narrow | `0` | `2^b − 2` | `2^b − 2` | `2^b` |
///
/// The `IntScaling` threshold is `−minInt` for signed ranges and `maxInt` for unsigned ones; the
/// `PowerOfTwoIntScaling` threshold (fixed-point quantizers) is `maxInt + 1` of the range without
/// `narrowRange`. Example: `IntRange(bitWidth: 4, signed: false, narrowRange: true)` holds the
/// codes `0...14` and divides the range by 14.
///
/// The same table is available for a bit-width *tensor* (`IntRange.minInt(_:signed:narrowRange:)`
/// and friends, below), where the bit width may be learned and gets its gradient through every
/// bound.
public struct IntRange: Equatable, Hashable, Sendable, CustomStringConvertible {
    /// Bits per code, at least 1. Codes are exact up to 53 bits (the bounds are `Double`s, as
    /// Brevitas's are float tensors; wider accumulators round to the nearest double).
    public let bitWidth: Int
    public let signed: Bool
    /// Brevitas `narrow_range`: the code `−2^(b−1)` (signed) or `2^b − 1` (unsigned) is left out.
    public let narrowRange: Bool

    public init(bitWidth: Int, signed: Bool, narrowRange: Bool) {
        precondition(bitWidth >= 1, "IntRange: bit width \(bitWidth) is below 1")
        self.bitWidth = bitWidth
        self.signed = signed
        self.narrowRange = narrowRange
    }

    /// `2^(b−1)`, half the number of codes of the full range.
    private var half: Double { Double(sign: .plus, exponent: bitWidth - 1, significand: 1) }

    /// The smallest code.
    public var minInt: Double { signed ? (narrowRange ? 1 - half : -half) : 0 }

    /// The largest code.
    public var maxInt: Double { signed ? half - 1 : 2 * half - (narrowRange ? 2 : 1) }

    /// Brevitas `IntScaling`'s threshold: `−minInt` (signed) or `maxInt` (unsigned).
    public var threshold: Double { signed ? -minInt : maxInt }

    /// Brevitas `PowerOfTwoIntScaling`'s threshold: `maxInt + 1` of the range without
    /// `narrowRange` (`2^(b−1)` signed, `2^b` unsigned).
    public var powerOfTwoThreshold: Double { signed ? half : 2 * half }

    /// The threshold of `IntScaling` or, when `powerOfTwo`, of `PowerOfTwoIntScaling`.
    public func threshold(powerOfTwo: Bool) -> Double { powerOfTwo ? powerOfTwoThreshold : threshold }

    /// `[minInt, maxInt]` as floats, the bounds of the fused fake-quantization kernel (rounded to
    /// the nearest float beyond 24 bits).
    public var bounds: (min: Float, max: Float) { (Float(minInt), Float(maxInt)) }

    /// `[minInt, maxInt]` as 64-bit integers (ONNX constants); requires `bitWidth <= 53`.
    public var integerBounds: (min: Int64, max: Int64) {
        precondition(bitWidth <= 53, "IntRange: the codes of a \(bitWidth)-bit range are not exact integers")
        return (Int64(minInt), Int64(maxInt))
    }

    /// Whether `code` lies in `[minInt, maxInt]`.
    public func contains(_ code: Double) -> Bool { minInt <= code && code <= maxInt }

    public var description: String {
        func code(_ v: Double) -> String { Swift.abs(v) < 0x1p53 ? String(Int64(v)) : String(v) }
        return "\(bitWidth)-bit \(signed ? "signed" : "unsigned")\(narrowRange ? " narrow" : "") [\(code(minInt)), \(code(maxInt))]"
    }
}

extension IntRange {
    /// `minInt` for a bit-width tensor `b` (differentiable in `b`; `0·b` when unsigned, so the
    /// result keeps `b`'s shape and graph).
    public static func minInt(_ b: Tensor, signed: Bool, narrowRange: Bool) -> Tensor {
        guard signed else { return b * 0 }
        let half = (b - 1).exp2()
        return narrowRange ? 1 - half : -half
    }

    /// `maxInt` for a bit-width tensor `b`.
    public static func maxInt(_ b: Tensor, signed: Bool, narrowRange: Bool) -> Tensor {
        if signed { return (b - 1).exp2() - 1 }
        return b.exp2() - (narrowRange ? 2 : 1)
    }

    /// The `IntScaling` threshold for a bit-width tensor `b` or, when `powerOfTwo`, the
    /// `PowerOfTwoIntScaling` one (`maxInt + 1` without the narrow range).
    public static func threshold(_ b: Tensor, signed: Bool, narrowRange: Bool, powerOfTwo: Bool) -> Tensor {
        if powerOfTwo { return maxInt(b, signed: signed, narrowRange: false) + 1 }
        return signed ? -minInt(b, signed: true, narrowRange: narrowRange) : maxInt(b, signed: false, narrowRange: narrowRange)
    }
}
