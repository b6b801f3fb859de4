/// A signed minifloat format: exponent and mantissa widths, exponent bias, saturation and the
/// mantissa codes reserved for inf/NaN (Brevitas `FloatQuant` + `FloatClamp` parameters).
///
/// A normal value is `(1 + f / 2^m) · 2^(E − b)` for exponent code `E ≥ 1`, a subnormal one
/// `(f / 2^m) · 2^(1 − b)`. The largest finite value `maxValue` follows Brevitas's
/// `get_max_available_float`: the all-ones code, or the code just below the smallest reserved
/// mantissa of the all-ones exponent.
///
/// | format | e | m | bias | reserved (all-ones exponent) | max |
/// |---|---|---|---|---|---|
/// | OCP e4m3 | 4 | 3 | 7 | NaN `111` | 448 |
/// | OCP e5m2 | 5 | 2 | 15 | inf `00`, NaN `01 11 10` | 57344 |
/// | FNUZ e4m3 | 4 | 3 | 8 | none | 240 |
/// | FNUZ e5m2 | 5 | 2 | 16 | none | 57344 |
/// | FP6 e3m2 / e2m3 | 3 / 2 | 2 / 3 | 3 / 1 | none | 28 / 7.5 |
/// | FP4 e2m1 / e3m0 | 2 / 3 | 1 / 0 | 1 / 3 | none | 6 / 16 |
///
/// ```swift
/// let f = MinifloatFormat.ocp(exponentBitWidth: 4, mantissaBitWidth: 3)
/// f.maxValue          // 448
/// f.minSubnormal      // 2^-9
/// ```
public struct MinifloatFormat: Equatable, Hashable, Sendable, CustomStringConvertible {
    /// Exponent bits `e` (1...8).
    public let exponentBitWidth: Int
    /// Mantissa bits `m` (0...23; `e + m ≥ 2`).
    public let mantissaBitWidth: Int
    /// Exponent bias `b`.
    public let exponentBias: Int
    /// Values past `maxValue` clamp to `±maxValue` (`true`) or become inf/NaN (`false`).
    public let saturating: Bool
    /// Mantissa codes of the all-ones exponent that mean ±inf (`inf_values`), or `nil`.
    public let infValues: [String]?
    /// Mantissa codes of the all-ones exponent that mean NaN (`nan_values`), or `nil`.
    public let nanValues: [String]?

    /// Why a combination of settings cannot be a minifloat format: `(setting, message)` pairs,
    /// empty when the format is valid. Settings are named by Brevitas keyword.
    public static func problems(
        exponentBitWidth e: Int, mantissaBitWidth m: Int, exponentBias b: Int, saturating: Bool,
        infValues: [String]?, nanValues: [String]?
    ) -> [(key: String, message: String)] {
        var out: [(key: String, message: String)] = []
        if e < 1 { out.append(("exponent_bit_width", "must be at least 1 (Brevitas: exponent bit width cannot be 0), got \(e)")) }
        if e > 8 { out.append(("exponent_bit_width", "\(e) bits exceed float32's 8-bit exponent; use at most 8")) }
        if m < 0 || m > 23 { out.append(("mantissa_bit_width", "must be in 0...23 (float32 has 23 mantissa bits), got \(m)")) }
        if e >= 1 && e <= 8 && m >= 0 && m <= 23 {
            if 1 - b - m < -149 { out.append(("exponent_bias", "\(b) makes the smallest subnormal 2^\(1 - b - m), below float32's 2^-149")) }
            if (1 << e) - 1 - b > 127 { out.append(("exponent_bias", "\(b) puts the largest exponent 2^\((1 << e) - 1 - b) beyond float32's range")) }
        }
        for (name, codes) in [("inf_values", infValues), ("nan_values", nanValues)] {
            for c in codes ?? [] where c.count != m || c.contains(where: { $0 != "0" && $0 != "1" }) {
                out.append((name, "code '\(c)' must be a string of \(m) binary digits (one per mantissa bit)"))
            }
        }
        if infValues != nil && nanValues == nil {
            out.append(("inf_values", "a format with inf codes needs NaN codes too (Brevitas: inf value cannot exist without NaN value)"))
        }
        if !saturating && infValues == nil && nanValues == nil {
            out.append(("saturating", "False needs inf or NaN codes to map overflow to; this format has none (use saturating=True)"))
        }
        return out
    }

    /// A format; `precondition`s that `problems(...)` is empty (configurations go through the
    /// quantizer's validation first, which reports the problems as errors).
    public init(exponentBitWidth: Int, mantissaBitWidth: Int, exponentBias: Int, saturating: Bool = true,
                infValues: [String]? = nil, nanValues: [String]? = nil) {
        let p = MinifloatFormat.problems(exponentBitWidth: exponentBitWidth, mantissaBitWidth: mantissaBitWidth,
                                         exponentBias: exponentBias, saturating: saturating, infValues: infValues, nanValues: nanValues)
        precondition(p.isEmpty, "invalid minifloat format e\(exponentBitWidth)m\(mantissaBitWidth) bias \(exponentBias): \(p.map { "\($0.key): \($0.message)" }.joined(separator: "; "))")
        self.exponentBitWidth = exponentBitWidth
        self.mantissaBitWidth = mantissaBitWidth
        self.exponentBias = exponentBias
        self.saturating = saturating
        self.infValues = infValues
        self.nanValues = nanValues
    }

    /// The OCP codes of a format (Brevitas `FpOCPMixin`): 8-bit e4m3 reserves NaN `111`, 8-bit
    /// e5m2 reserves inf `00` and NaN `01 11 10`; every other width has no reserved code.
    public static func ocpCodes(exponentBitWidth e: Int, mantissaBitWidth m: Int) -> (inf: [String]?, nan: [String]?) {
        if e == 4 && m == 3 { return (nil, ["111"]) }
        if e == 5 && m == 2 { return (["00"], ["01", "11", "10"]) }
        return (nil, nil)
    }

    /// An OCP (or plain) minifloat: bias `2^(e−1) − 1` and the OCP codes.
    public static func ocp(exponentBitWidth e: Int, mantissaBitWidth m: Int, saturating: Bool = true) -> MinifloatFormat {
        let codes = ocpCodes(exponentBitWidth: e, mantissaBitWidth: m)
        return MinifloatFormat(exponentBitWidth: e, mantissaBitWidth: m, exponentBias: (1 << (e - 1)) - 1,
                               saturating: saturating, infValues: codes.inf, nanValues: codes.nan)
    }

    /// An AMD FNUZ minifloat: bias `2^(e−1)`, no reserved codes, saturating.
    public static func fnuz(exponentBitWidth e: Int, mantissaBitWidth m: Int) -> MinifloatFormat {
        MinifloatFormat(exponentBitWidth: e, mantissaBitWidth: m, exponentBias: 1 << (e - 1))
    }

    /// Total bits: sign + exponent + mantissa.
    public var bitWidth: Int { 1 + exponentBitWidth + mantissaBitWidth }

    /// `2 − 2^−m`: the all-ones mantissa (Brevitas `compute_max_mantissa`).
    public var maxMantissa: Float { 2 - pow2(-mantissaBitWidth) }

    /// `maxMantissa · 2^(2^e − 1 − b)`: the all-ones code (Brevitas `max_float`).
    public var maxFloat: Float { maxMantissa * pow2((1 << exponentBitWidth) - 1 - exponentBias) }

    /// The largest finite value (Brevitas `get_max_available_float`): `maxFloat` without reserved
    /// codes; otherwise the code just below the smallest reserved mantissa of the top exponent
    /// (or, when all of them are reserved, the all-ones mantissa of the exponent below).
    public var maxValue: Float {
        let special = (nanValues ?? []) + (infValues ?? [])
        if special.isEmpty { return maxFloat }
        let smallest = special.map { Int($0, radix: 2) ?? 0 }.min()!
        let top = (1 << exponentBitWidth) - 1
        if smallest == 0 { return maxMantissa * pow2(top - 1 - exponentBias) }
        let mantissa = 1 + Float(smallest - 1) * pow2(-mantissaBitWidth)
        return mantissa * pow2(top - exponentBias)
    }

    /// Smallest normal magnitude `2^(1−b)`.
    public var minNormal: Float { pow2(1 - exponentBias) }

    /// Smallest subnormal magnitude `2^(1−b−m)`, the fixed step below `minNormal`.
    public var minSubnormal: Float { pow2(minInternalExponent) }

    /// `1 − b − m`: the exponent of the grid step in the subnormal range.
    public var minInternalExponent: Int { 1 - exponentBias - mantissaBitWidth }

    /// The grid step at `v` (unscaled): `2^(max(floor(log2|v|), 1 − b) − m)`.
    public func step(at v: Float) -> Float {
        let a = Swift.abs(v)
        let e = a >= Float.leastNormalMagnitude ? Int(a.exponent) : -127
        return pow2(Swift.max(e - mantissaBitWidth, minInternalExponent))
    }

    /// Brevitas's short name, e.g. `e4m3 (bias 7, NaN 111, saturating)`.
    public var description: String {
        var parts = ["bias \(exponentBias)"]
        if let i = infValues { parts.append("inf \(i.joined(separator: " "))") }
        if let n = nanValues { parts.append("NaN \(n.joined(separator: " "))") }
        parts.append(saturating ? "saturating" : "non-saturating")
        return "e\(exponentBitWidth)m\(mantissaBitWidth) (\(parts.joined(separator: ", ")))"
    }
}

/// `2^e` as a float32 (exact, including subnormals down to 2^-149).
@inline(__always)
func pow2(_ e: Int) -> Float { Float(sign: .plus, exponent: e, significand: 1) }
