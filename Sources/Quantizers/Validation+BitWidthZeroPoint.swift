/// Checks shared by activation and weight quantizers for the bit-width and zero-point settings.

/// Problems with `bit_width_impl_type` / `min_bit_width`: a learned bit width needs integer
/// quantization and `1 <= min_bit_width <= bit_width` (Brevitas raises "Int bit width has to be
/// at least ..."); `min_bit_width` is only used by a learned bit width.
func bitWidthProblems(
    quantType: QuantType, bitWidth: Int, implType: BitWidthImplType, minBitWidth: Int, overridden: Set<String>
) -> [QuantConfigError.Problem] {
    var problems: [QuantConfigError.Problem] = []
    switch implType {
    case .const:
        if overridden.contains("min_bit_width") {
            problems.append(.init(key: "min_bit_width", message: "is only used by a learned bit width; set bit_width_impl_type to 'parameter' or remove it"))
        }
    case .parameter:
        if quantType != .int {
            problems.append(.init(key: "bit_width_impl_type", message: "a learned bit width needs integer quantization, got quant_type '\(quantType.rawValue)'"))
        } else if minBitWidth < 1 {
            problems.append(.init(key: "min_bit_width", message: "must be >= 1, got \(minBitWidth)"))
        } else if bitWidth < minBitWidth {
            problems.append(.init(key: "bit_width", message: "\(bitWidth) is below min_bit_width \(minBitWidth); a learned bit width starts at bit_width and never goes below min_bit_width"))
        }
    }
    return problems
}

/// Problems with `zero_point_impl` / `zero_point_init` / `quantize_zero_point`: a zero point needs
/// integer quantization, a `parameter` zero point needs `zero_point_init`, and the two other keys
/// are errors where nothing uses them.
func zeroPointProblems(
    quantType: QuantType, implType: ZeroPointImplType, initial: Float?, overridden: Set<String>
) -> [QuantConfigError.Problem] {
    var problems: [QuantConfigError.Problem] = []
    if implType != .zero && quantType != .int {
        problems.append(.init(key: "zero_point_impl", message: "\(quantType.rawValue) quantizers have no zero point; remove the setting"))
    }
    if implType == .parameter && initial == nil {
        problems.append(.init(key: "zero_point_init", message: "required by zero_point_impl parameter (ParameterZeroPoint), e.g. 0.0"))
    }
    if implType != .parameter && overridden.contains("zero_point_init") {
        problems.append(.init(key: "zero_point_init", message: "is only used by zero_point_impl parameter"))
    }
    if implType == .zero && overridden.contains("quantize_zero_point") {
        problems.append(.init(key: "quantize_zero_point", message: "is not used by zero_point_impl zero (no zero point to quantize)"))
    }
    return problems
}
