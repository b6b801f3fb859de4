/// Human-readable explanations of resolved quantizer settings: every setting, its value and
/// where it came from (the preset, an override, or derived).
public protocol ExplainableQuantizer {
    /// `(keyword, value, origin)` for every setting, in a stable order.
    var settings: [(key: String, value: String, origin: SettingOrigin)] { get }
}

extension ExplainableQuantizer {
    /// A table of the settings, one per line: `bit_width = 4   (override)`.
    public func explain() -> String {
        let rows = settings
        let width = rows.map { $0.key.count + $0.value.count + 3 }.max() ?? 0
        return rows.map { r in
            let left = "\(r.key) = \(r.value)"
            return left + String(repeating: " ", count: Swift.max(1, width - left.count + 2)) + "(\(r.origin))"
        }.joined(separator: "\n")
    }
}

func fmt(_ v: Float?) -> String { v.map { "\($0)" } ?? "None" }
func fmt(_ v: [Int]?) -> String { v.map { "(" + $0.map(String.init).joined(separator: ", ") + ")" } ?? "None" }
func fmt(_ b: Bool) -> String { b ? "True" : "False" }

/// `bit_width_impl_type`, and `min_bit_width` when the bit width is learned.
func bitWidthRows(_ type: BitWidthImplType, _ minBitWidth: Int) -> [(String, String)] {
    type == .parameter ? [("bit_width_impl_type", type.rawValue), ("min_bit_width", "\(minBitWidth)")] : [("bit_width_impl_type", type.rawValue)]
}

/// `zero_point_impl`, with `zero_point_init` and `quantize_zero_point` where they are used.
func zeroPointRows(_ type: ZeroPointImplType, _ initial: Float?, _ quantize: Bool) -> [(String, String)] {
    var rows = [("zero_point_impl", type.rawValue)]
    if type == .parameter { rows.append(("zero_point_init", fmt(initial))) }
    if type != .zero { rows.append(("quantize_zero_point", fmt(quantize))) }
    return rows
}

/// The minifloat settings, with the bias the standard gives when none is set.
func minifloatRows(_ standard: FloatStandard, _ e: Int?, _ m: Int?, _ bias: Int?, _ saturating: Bool) -> [(String, String)] {
    let b = bias ?? e.map { defaultExponentBias(standard, $0) }
    return [("float_standard", standard.rawValue), ("exponent_bit_width", e.map(String.init) ?? "None"),
            ("mantissa_bit_width", m.map(String.init) ?? "None"), ("exponent_bias", b.map(String.init) ?? "None"),
            ("saturating", fmt(saturating))]
}

extension QuantizerSettings {
    /// The rows both roles start with: type and bit width, the minifloat format, sign, range and
    /// the kind of scaling.
    var leadingRows: [(String, String)] {
        var rows: [(String, String)] = [
            ("quant_type", quantType.rawValue), ("bit_width", "\(bitWidth)"),
        ]
        rows += bitWidthRows(bitWidthImplType, minBitWidth)
        if quantType == .minifloat {
            rows += minifloatRows(floatStandard, exponentBitWidth, mantissaBitWidth, exponentBias, saturating)
        }
        rows += [("signed", fmt(signed)), ("narrow_range", fmt(narrowRange)), ("scaling_impl_type", scalingImplType.rawValue)]
        return rows
    }
}

extension ActQuant: ExplainableQuantizer {
    public var settings: [(key: String, value: String, origin: SettingOrigin)] {
        var rows = leadingRows
        if scalingImplType == .parameterFromStats {
            rows += [("scaling_stats_op", scalingStatsOp.rawValue), ("high_percentile_q", "\(highPercentileQ)")]
            if scalingStatsOp == .percentileInterval || zeroPointImplType == .parameterFromStats {
                rows.append(("low_percentile_q", "\(lowPercentileQ)"))
            }
            rows += [("collect_stats_steps", "\(collectStatsSteps)"), ("scaling_stats_momentum", fmt(scalingStatsMomentum))]
        } else {
            rows += [("min_val", fmt(minVal)), ("max_val", fmt(maxVal))]
        }
        rows += [("restrict_scaling_type", restrictScalingType.rawValue)]
        if restrictScalingType == .powerOfTwo { rows.append(("restrict_value_float_to_int_impl", restrictValueFloatToInt.rawValue)) }
        rows += [("scaling_per_output_channel", fmt(scalingPerOutputChannel))]
        if scalingPerOutputChannel {
            rows += [("per_channel_broadcastable_shape", fmt(perChannelBroadcastableShape)), ("scaling_stats_permute_dims", fmt(scalingStatsPermuteDims))]
        }
        rows += [("scaling_min_val", fmt(scalingMinVal))]
        rows += zeroPointRows(zeroPointImplType, zeroPointInit, quantizeZeroPoint)
        if zeroPointImplType == .parameterFromStats { rows.append(("zero_point_stats_momentum", fmt(zeroPointStatsMomentum))) }
        if quantType == .ternary { rows.append(("threshold", "\(threshold)")) }
        return rows.map { ($0.0, $0.1, origin(of: $0.0)) }
    }
}

extension WeightQuant: ExplainableQuantizer {
    public var settings: [(key: String, value: String, origin: SettingOrigin)] {
        var rows = leadingRows
        if scalingImplType != .const { rows.append(("scaling_stats_op", scalingStatsOp.rawValue)) } else { rows.append(("scaling_const", fmt(scalingConst))) }
        rows += [("restrict_scaling_type", restrictScalingType.rawValue), ("scaling_per_output_channel", fmt(scalingPerOutputChannel)),
                 ("scaling_min_val", fmt(scalingMinVal))]
        rows += zeroPointRows(zeroPointImplType, zeroPointInit, quantizeZeroPoint)
        return rows.map { ($0.0, $0.1, origin(of: $0.0)) }
    }
}

extension BiasQuant: ExplainableQuantizer {
    public var settings: [(key: String, value: String, origin: SettingOrigin)] {
        [("bit_width", "\(bitWidth)", origin(of: "bit_width")), ("scale", "input scale × weight scale", .derived("requires_input_scale"))]
    }
}
