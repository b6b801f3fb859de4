import Foundation

/// Maps integers of one grid (an accumulator, or codes of a quantizer) onto the codes of the
/// next quantizer, per channel `c`:
///
///     exact:        q = clamp(roundHalfEven(x · M_c + B_c) + z, min, max)
///     fixed point:  q = clamp(roundShiftHalfEven(x · m_c + b_c, shift_c) + z, min, max)
///
/// with the real multiplier `M_c = s_x,c · a_c / s_out` and offset `B_c = o_c / s_out`, where the
/// input's real value is `x · s_x,c` and `a_c`, `o_c` are a float affine map applied to it before
/// the quantizer (an eval-mode BatchNorm folded in: `a = γ/√(σ²+ε)`, `o = β − μ·a`; otherwise
/// `a = 1, o = 0`). A ReLU before the quantizer only raises `min` to `z` (`relu` commutes with
/// the monotone rounding: `round(max(v, 0)) = max(round(v), 0)`).
///
/// The fixed-point form is what deployment runtimes run: `m_c` is `M_c` with a `p`-bit mantissa
/// (`2^(p−1) ≤ |m_c| < 2^p`, `p ≤ 31`) and `M_c ≈ m_c · 2^−shift_c`; the offset is
/// `b_c = roundHalfEven(B_c · 2^shift_c)`; everything is computed in 64 bits, exactly. The
/// rounding is half to even (as `torch.round` in the fake-quantized model), done on the integer
/// `t = x·m + b` as: `q = t >> shift` (floor), `r = t − q·2^shift`; `q += 1` when
/// `r > 2^(shift−1)`, or `r = 2^(shift−1)` and `q` is odd. (TFLite and gemmlowp round half away
/// from zero instead; ties then differ from the trained model.)
///
/// Power-of-two scales make `M_c` a power of two and both forms exact. Otherwise the mantissa
/// error is below `2^−p` relative, far below float32's, so the two forms and the fake-quantized
/// model differ only where `x·M_c + B_c` is within rounding error of a tie (`k + ½`).
public struct Requantization: Equatable, Sendable, Codable {
    /// Real multipliers `M_c` (one, or one per channel).
    public var multipliers: [Double]
    /// Real offsets `B_c`, in output steps (same count as `multipliers`).
    public var offsets: [Double]
    /// Fixed-point mantissas `m_c`.
    public var fixedMultipliers: [Int64]
    /// Right shifts `shift_c` (`≥ 0`).
    public var shifts: [Int]
    /// Fixed-point offsets `b_c = roundHalfEven(B_c · 2^shift_c)`.
    public var fixedOffsets: [Int64]
    /// Subtracted from the input first (the input grid's zero point).
    public var inputZeroPoint: Int64
    /// The output grid (its zero point is added, its range clamps; a ReLU raised `min`).
    public var output: IntegerGrid
    /// Whether a ReLU precedes the quantizer (`output.min` is then at least the zero point).
    public var relu: Bool

    /// Builds both forms. `inputBound` bounds `|x − inputZeroPoint|`; the mantissa width is
    /// chosen so that `|x·m| + |b|` stays below `2^62`.
    ///
    /// Throws ``IntegerLoweringError/notExpressible(layer:reason:fix:)`` when a multiplier is not
    /// finite or too large for a 64-bit product.
    public init(multipliers: [Double], offsets: [Double], inputZeroPoint: Int64, inputBound: Int64,
                output: IntegerGrid, relu: Bool, layer: String) throws {
        precondition(multipliers.count == offsets.count && !multipliers.isEmpty,
                     "Requantization: \(multipliers.count) multipliers, \(offsets.count) offsets")
        self.multipliers = multipliers
        self.offsets = offsets
        self.inputZeroPoint = inputZeroPoint
        var out = output
        if relu { out.min = Swift.max(out.min, out.zeroPoint) }
        self.output = out
        self.relu = relu
        let boundBits = 64 - UInt64(Swift.max(1, inputBound)).leadingZeroBitCount
        let mantissa = Swift.min(31, 61 - boundBits)
        guard mantissa >= 8 else {
            throw IntegerLoweringError.notExpressible(
                layer: layer, reason: "its input reaches \(inputBound), too wide for a 64-bit fixed-point requantization",
                fix: "use narrower weights or activations")
        }
        var ms: [Int64] = [], ss: [Int] = [], bs: [Int64] = []
        for (M, B) in zip(multipliers, offsets) {
            guard M.isFinite, B.isFinite else {
                throw IntegerLoweringError.notExpressible(layer: layer, reason: "a requantization multiplier or offset is not finite (\(M), \(B))",
                                                          fix: "check the quantizer scales and BatchNorm statistics for zeros and NaNs")
            }
            if M == 0 {
                ms.append(0)
                ss.append(0)
                bs.append(Int64(B.rounded(.toNearestOrEven)))
                continue
            }
            let e = Int(Foundation.floor(Foundation.log2(Swift.abs(M))))
            var shift = mantissa - 1 - e
            var m = (Swift.abs(M) * Foundation.pow(2, Double(shift))).rounded(.toNearestOrEven)
            if m >= Foundation.pow(2, Double(mantissa)) {
                m /= 2
                shift -= 1
            }
            guard shift >= 0, shift <= 62 else {
                throw IntegerLoweringError.notExpressible(
                    layer: layer, reason: "the requantization multiplier \(M) needs a shift of \(shift), outside 0...62",
                    fix: "keep the ratio of input to output scales between 2^-30 and 2^30")
            }
            let b = B * Foundation.pow(2, Double(shift))
            guard Swift.abs(b) < Foundation.pow(2, 61) else {
                throw IntegerLoweringError.notExpressible(
                    layer: layer, reason: "the requantization offset \(B) steps does not fit 64 bits at shift \(shift)",
                    fix: "check the BatchNorm statistics (a huge shift relative to the output scale)")
            }
            ms.append(M < 0 ? -Int64(m) : Int64(m))
            ss.append(shift)
            bs.append(Int64(b.rounded(.toNearestOrEven)))
        }
        fixedMultipliers = ms
        shifts = ss
        fixedOffsets = bs
    }

    /// Whether one constant serves every channel.
    public var isPerTensor: Bool { multipliers.count == 1 }

    /// The exact (float) form for input `x` of channel `c`, before the zero point and clamp.
    @inline(__always)
    public func exactValue(_ x: Int64, channel c: Int) -> Double {
        Double(x - inputZeroPoint) * multipliers[c] + offsets[c]
    }

    /// Requantizes one integer of channel `c`.
    @inline(__always)
    public func apply(_ x: Int64, channel c: Int, fixedPoint: Bool) -> Int64 {
        let q: Int64
        if fixedPoint {
            q = Requantization.roundShiftHalfEven((x - inputZeroPoint) * fixedMultipliers[c] + fixedOffsets[c], shifts[c])
        } else {
            q = Int64(exactValue(x, channel: c).rounded(.toNearestOrEven))
        }
        return Swift.min(Swift.max(q + output.zeroPoint, output.min), output.max)
    }

    /// `t / 2^shift` rounded half to even, exactly, for any sign of `t`.
    ///
    /// | t  | shift | result |
    /// |----|-------|--------|
    /// | 5  | 1     | 2      |
    /// | 7  | 1     | 4      |
    /// | −5 | 1     | −2     |
    /// | −7 | 1     | −4     |
    /// | 6  | 2     | 2      |
    @inline(__always)
    public static func roundShiftHalfEven(_ t: Int64, _ shift: Int) -> Int64 {
        if shift == 0 { return t }
        var q = t >> Int64(shift)
        let r = t &- (q << Int64(shift))
        let half = Int64(1) << Int64(shift - 1)
        if r > half || (r == half && (q & 1) == 1) { q += 1 }
        return q
    }
}
