import QuantCore

/// Checks of the minifloat settings shared by activation and weight quantizers, and the format
/// they resolve to.
///
/// A minifloat quantizer needs `exponent_bit_width` and `mantissa_bit_width` with
/// `bit_width = 1 + e + m` (Brevitas: "Mismatch between total bit-width, exponent, mantissa and
/// sign"), a format that float32 can carry (`MinifloatFormat.problems`), and a signed range.
/// Integer, binary and ternary quantizers must not set the minifloat keywords.
func minifloatProblems(
    quantType: QuantType, bitWidth: Int, signed: Bool, exponentBitWidth: Int?, mantissaBitWidth: Int?,
    exponentBias: Int?, saturating: Bool, standard: FloatStandard, overridden: Set<String>
) -> [QuantConfigError.Problem] {
    var problems: [QuantConfigError.Problem] = []
    let keys = ["exponent_bit_width", "mantissa_bit_width", "exponent_bias", "saturating", "float_standard"]
    guard quantType == .minifloat else {
        for k in keys where overridden.contains(k) {
            problems.append(.init(key: k, message: "is only used by minifloat quantizers (e.g. Fp8e4m3OCPActPerTensorFloat), not by quant_type '\(quantType.rawValue)'"))
        }
        return problems
    }
    guard let e = exponentBitWidth else {
        return [.init(key: "exponent_bit_width", message: "required by a minifloat quantizer (e.g. exponent_bit_width=4 with mantissa_bit_width=3 and bit_width=8)")]
    }
    guard let m = mantissaBitWidth else {
        return [.init(key: "mantissa_bit_width", message: "required by a minifloat quantizer (e.g. mantissa_bit_width=3 with exponent_bit_width=4 and bit_width=8)")]
    }
    if !signed { problems.append(.init(key: "signed", message: "minifloat quantizers are signed; remove signed=False")) }
    if bitWidth != 1 + e + m {
        problems.append(.init(key: "bit_width", message: "\(bitWidth) must equal 1 (sign) + exponent_bit_width \(e) + mantissa_bit_width \(m) = \(1 + e + m)"))
    }
    let codes = minifloatCodes(standard, e, m)
    let bias = exponentBias ?? defaultExponentBias(standard, e)
    for p in MinifloatFormat.problems(exponentBitWidth: e, mantissaBitWidth: m, exponentBias: bias, saturating: saturating,
                                      infValues: codes.inf, nanValues: codes.nan) {
        problems.append(.init(key: p.key, message: p.message))
    }
    return problems
}

/// The standard's exponent bias: `2^(e−1)` for FNUZ, `2^(e−1) − 1` otherwise.
func defaultExponentBias(_ standard: FloatStandard, _ e: Int) -> Int {
    guard e >= 1 && e <= 30 else { return 0 }
    return standard == .fnuz ? 1 << (e - 1) : (1 << (e - 1)) - 1
}

/// The standard's reserved codes (only OCP 8-bit formats have some).
func minifloatCodes(_ standard: FloatStandard, _ e: Int, _ m: Int) -> (inf: [String]?, nan: [String]?) {
    standard == .ocp ? MinifloatFormat.ocpCodes(exponentBitWidth: e, mantissaBitWidth: m) : (nil, nil)
}

/// The resolved minifloat format of a validated configuration.
func resolvedMinifloat(_ standard: FloatStandard, e: Int?, m: Int?, bias: Int?, saturating: Bool) -> MinifloatFormat {
    guard let e, let m else { preconditionFailure("validate() requires exponent_bit_width and mantissa_bit_width for minifloat quantizers") }
    let codes = minifloatCodes(standard, e, m)
    return MinifloatFormat(exponentBitWidth: e, mantissaBitWidth: m, exponentBias: bias ?? defaultExponentBias(standard, e),
                           saturating: saturating, infValues: codes.inf, nanValues: codes.nan)
}

extension ActQuant {
    /// The minifloat format (`quantType == .minifloat`, after `validate`).
    public var minifloatFormat: MinifloatFormat {
        resolvedMinifloat(floatStandard, e: exponentBitWidth, m: mantissaBitWidth, bias: exponentBias, saturating: saturating)
    }
}

extension WeightQuant {
    /// The minifloat format (`quantType == .minifloat`, after `validate`).
    public var minifloatFormat: MinifloatFormat {
        resolvedMinifloat(floatStandard, e: exponentBitWidth, m: mantissaBitWidth, bias: exponentBias, saturating: saturating)
    }
}
