import QuantCore

/// The configuration of an activation (or input/output) quantizer: Brevitas's activation
/// injector as a typed value.
///
/// Every field is named after the Brevitas keyword it replaces (`bitWidth` is `bit_width`,
/// `collectStatsSteps` is `collect_stats_steps`, ...). Start from a preset and override per layer
/// with key paths, so a misspelt setting does not compile:
///
/// ```swift
/// let relu = QuantReLU(actQuant: .uint8ActPerTensorFloat.with(\.bitWidth, 4))
/// ```
///
/// `validate()` reports every inconsistent or unused setting at once (Brevitas silently ignores
/// `QuantReLU(max_val=6)`; this does not).
public struct ActQuant: Equatable, Sendable {
    /// The preset this configuration started from.
    public var preset: String
    /// Integer, binary or ternary quantization.
    public var quantType: QuantType = .int
    /// Bits of the integer representation (`bit_width`), 2...32 for integer quantization.
    public var bitWidth: Int = 8
    /// A constant or a learned bit width (`bit_width_impl_type`); a learned one starts at
    /// `bitWidth` and stays at or above `minBitWidth`.
    public var bitWidthImplType: BitWidthImplType = .const
    /// Lower bound of a learned bit width (`min_bit_width`).
    public var minBitWidth: Int = 2
    /// Signed range `[-2^(b-1), 2^(b-1)-1]` or unsigned `[0, 2^b-1]` (`signed`).
    public var signed: Bool = true
    /// Drop the most negative code: `[-(2^(b-1)-1), 2^(b-1)-1]` (`narrow_range`).
    public var narrowRange: Bool = false
    /// How the scale is obtained (`scaling_impl_type`).
    public var scalingImplType: ScalingImplType = .parameterFromStats
    /// The statistic for statistics-based scaling (`scaling_stats_op`).
    public var scalingStatsOp: StatsOp = .percentile
    /// Percentile of |x| for `.percentile`, and the upper one of `.percentileInterval` (`high_percentile_q`).
    public var highPercentileQ: Double = 99.999
    /// Lower percentile of `.percentileInterval` and of the zero-point statistic (`low_percentile_q`).
    public var lowPercentileQ: Double = 0.001
    /// Training calls that collect statistics before the scale becomes a learned parameter
    /// (`collect_stats_steps`).
    public var collectStatsSteps: Int = 300
    /// Moving-average momentum of the collected statistic; `nil` is a true running mean
    /// (`scaling_stats_momentum`).
    public var scalingStatsMomentum: Float? = 0.1
    /// Constraint on the scale (`restrict_scaling_type`).
    public var restrictScalingType: RestrictValueType = .fp
    /// Rounding of a power-of-two exponent (`restrict_value_float_to_int_impl`).
    public var restrictValueFloatToInt: FloatToIntImplType = .round
    /// One scale per channel (`scaling_per_output_channel`).
    public var scalingPerOutputChannel: Bool = false
    /// Shape of a per-channel scale, e.g. `[1, C, 1, 1]` (`per_channel_broadcastable_shape`).
    public var perChannelBroadcastableShape: [Int]? = nil
    /// Permutation that puts the channel first before flattening for statistics
    /// (`scaling_stats_permute_dims`), e.g. `[1, 0, 2, 3]`.
    public var scalingStatsPermuteDims: [Int]? = nil
    /// Lower bound of the scale (`scaling_min_val`); `nil` for none.
    public var scalingMinVal: Float? = 1e-10
    /// Lower end of the range for `.const`/`.parameter` scaling (`min_val`).
    public var minVal: Float? = nil
    /// Upper end of the range for `.const`/`.parameter` scaling (`max_val`).
    public var maxVal: Float? = nil
    /// How the zero point is obtained (`zero_point_impl`).
    public var zeroPointImplType: ZeroPointImplType = .zero
    /// Momentum of the collected zero-point statistic (`zero_point_stats_momentum`).
    public var zeroPointStatsMomentum: Float? = 0.1
    /// Initial value of a `.parameter` zero point, in the units of the input (`zero_point_init`).
    public var zeroPointInit: Float? = nil
    /// Round and clamp the zero point to an integer code (`quantize_zero_point`).
    public var quantizeZeroPoint: Bool = true
    /// Threshold of ternary quantization, as a fraction of the scale (`threshold`).
    public var threshold: Float = 0.5

    /// The zero point comes from the half-quadratic optimizer (Brevitas `HQOActZeroPoint` /
    /// `HQOWeightZeroPoint`, the shifted `*HQO` presets) instead of the negative tail.
    public var zeroPointHQO: Bool = false

    /// The zero point comes from an MSE grid search (Brevitas `MSEActZeroPoint` /
    /// `MSEWeightZeroPoint`, the shifted `*MSE` presets): 20 candidates between
    /// `min(min(x), 0)` and a twentieth of it; see `MSEZeroPointStats`.
    public var zeroPointMSE: Bool = false

    /// The scale (and, with `zero_point_impl` 'stats', the zero point) is computed from the
    /// current input at every call, training and eval alike, with no state (Brevitas
    /// `RuntimeDynamicStatsScaling` / `RuntimeDynamicStatsZeroPoint`, the `*DynamicAct*` presets).
    public var dynamicScaling: Bool = false

    /// One scale per group of `groupSize` consecutive elements along `groupDim`
    /// (`scaling_per_output_type='GROUP'`); group-wise activation scales are recomputed from the
    /// input at every call (Brevitas `RuntimeDynamicGroupStatsScaling`).
    public var scalingPerGroup: Bool = false
    /// Elements per group (`group_size`).
    public var groupSize: Int? = nil
    /// The grouped dimension (`group_dim`); `nil` takes -1 (the last dimension).
    public var groupDim: Int? = nil

    /// The group layout when `scalingPerGroup`.
    public var groupLayout: GroupLayout? {
        scalingPerGroup ? GroupLayout(groupSize: groupSize ?? 0, groupDim: groupDim ?? -1) : nil
    }

    /// Minifloat exponent bits (`exponent_bit_width`); used when `quantType == .minifloat`.
    public var exponentBitWidth: Int? = nil
    /// Minifloat mantissa bits (`mantissa_bit_width`); `bitWidth` must be `1 + e + m`.
    public var mantissaBitWidth: Int? = nil
    /// Minifloat exponent bias (`exponent_bias`); `nil` takes the standard's.
    public var exponentBias: Int? = nil
    /// Clamp past the largest finite value (`saturating`) instead of producing inf/NaN.
    public var saturating: Bool = true
    /// The minifloat convention (OCP, FNUZ, plain): bias and reserved codes.
    public var floatStandard: FloatStandard = .ocp

    /// Settings changed after the preset, by Brevitas keyword name.
    public private(set) var overridden: Set<String> = []

    init(preset: String) { self.preset = preset }

    /// A copy with one setting changed: `.int8ActPerTensorFloat.with(\.bitWidth, 4)`.
    public func with<V>(_ keyPath: WritableKeyPath<ActQuant, V>, _ value: V) -> ActQuant {
        var copy = self
        copy[keyPath: keyPath] = value
        if let name = ActQuant.keyNames[keyPath] { copy.overridden.insert(name) }
        return copy
    }

    /// Marks a setting as overridden by keyword (used by the string-keyed boundary).
    mutating func markOverridden(_ key: String) { overridden.insert(key) }

    /// Where the value of the setting named `key` (a Brevitas keyword) came from.
    public func origin(of key: String) -> SettingOrigin {
        overridden.contains(key) ? .override : .preset(preset)
    }

    static let keyNames: [PartialKeyPath<ActQuant>: String] = [
        \ActQuant.scalingPerGroup: "scaling_per_output_type", \ActQuant.groupSize: "group_size", \ActQuant.groupDim: "group_dim",
        \ActQuant.exponentBitWidth: "exponent_bit_width", \ActQuant.mantissaBitWidth: "mantissa_bit_width",
        \ActQuant.exponentBias: "exponent_bias", \ActQuant.saturating: "saturating", \ActQuant.floatStandard: "float_standard",
        \ActQuant.quantType: "quant_type", \ActQuant.bitWidth: "bit_width", \ActQuant.signed: "signed",
        \ActQuant.bitWidthImplType: "bit_width_impl_type", \ActQuant.minBitWidth: "min_bit_width",
        \ActQuant.zeroPointInit: "zero_point_init", \ActQuant.quantizeZeroPoint: "quantize_zero_point",
        \ActQuant.narrowRange: "narrow_range", \ActQuant.scalingImplType: "scaling_impl_type",
        \ActQuant.scalingStatsOp: "scaling_stats_op", \ActQuant.highPercentileQ: "high_percentile_q",
        \ActQuant.lowPercentileQ: "low_percentile_q", \ActQuant.collectStatsSteps: "collect_stats_steps",
        \ActQuant.scalingStatsMomentum: "scaling_stats_momentum",
        \ActQuant.restrictScalingType: "restrict_scaling_type",
        \ActQuant.restrictValueFloatToInt: "restrict_value_float_to_int_impl",
        \ActQuant.scalingPerOutputChannel: "scaling_per_output_channel",
        \ActQuant.perChannelBroadcastableShape: "per_channel_broadcastable_shape",
        \ActQuant.scalingStatsPermuteDims: "scaling_stats_permute_dims",
        \ActQuant.scalingMinVal: "scaling_min_val", \ActQuant.minVal: "min_val", \ActQuant.maxVal: "max_val",
        \ActQuant.zeroPointImplType: "zero_point_impl",
        \ActQuant.zeroPointStatsMomentum: "zero_point_stats_momentum", \ActQuant.threshold: "threshold",
    ]

    /// The integer codes of an integer quantizer (see `IntRange`).
    public var intRange: IntRange {
        IntRange(bitWidth: bitWidth, signed: signed, narrowRange: narrowRange)
    }

    /// Checks the configuration; every problem is reported at once.
    public func validate(context: String) throws(QuantConfigError) {
        var problems: [QuantConfigError.Problem] = []
        func problem(_ key: String, _ msg: String) { problems.append(.init(key: key, message: msg)) }
        switch quantType {
        case .int:
            if bitWidth < 2 || bitWidth > 32 {
                problem("bit_width", "\(bitWidth) is outside 2...32 for integer quantization")
            }
        case .binary, .ternary:
            if overridden.contains("bit_width") {
                problem("bit_width", "\(quantType.rawValue) quantizers have a fixed bit width; remove the setting")
            }
        case .minifloat:
            if scalingImplType == .parameter {
                problem("scaling_impl_type", "'parameter' is not supported for minifloat activations; use 'parameter_from_stats' (scaled) or 'const' (unscaled)")
            }
        }
        if scalingPerGroup {
            if scalingImplType != .stats {
                problem("scaling_impl_type", "group-wise activation scales are dynamic (recomputed from every input, Brevitas RuntimeDynamicGroupStatsScaling); use 'stats'")
            }
            if scalingStatsOp != .max && scalingStatsOp != .minMax {
                problem("scaling_stats_op", "group-wise scales support 'max' and 'min_max', got '\(scalingStatsOp.rawValue)'")
            }
            if zeroPointImplType != .zero && !(dynamicScaling && zeroPointImplType == .stats) {
                problem("zero_point_impl", "group-wise activations have no zero point (use 'zero'), except the dynamic ones ('stats', ShiftedUint8DynamicActPerGroupFloat)")
            }
        }
        if scalingStatsOp == .hqo {
            problem("scaling_stats_op", "'hqo' scales are for weights (Int8WeightPerChannelFloatHQO); activations use HQO for the zero point (ShiftedUint8ActPerTensorFloatHQO)")
        }
        problems += groupProblems(scalingPerGroup: scalingPerGroup, groupSize: groupSize, groupDim: groupDim,
                                  perChannel: scalingPerOutputChannel, overridden: overridden)
        problems += minifloatProblems(quantType: quantType, bitWidth: bitWidth, signed: signed, exponentBitWidth: exponentBitWidth,
                                      mantissaBitWidth: mantissaBitWidth, exponentBias: exponentBias, saturating: saturating,
                                      standard: floatStandard, overridden: overridden)
        switch scalingImplType {
        case .const where quantType == .minifloat:
            // An unscaled minifloat quantizer: the scale is the constant 1.
            for k in ["min_val", "max_val"] where overridden.contains(k) {
                problem(k, "is not used by an unscaled minifloat quantizer (scale 1)")
            }
        case .const, .parameter:
            if minVal == nil && maxVal == nil {
                problem("max_val", "scaling_impl_type \(scalingImplType.rawValue) needs max_val (and min_val for signed ranges) to set the clipping range")
            } else if maxVal == nil {
                problem("max_val", "required by scaling_impl_type \(scalingImplType.rawValue) (min_val is given)")
            } else if signed && minVal == nil && quantType == .int {
                problem("min_val", "required for a signed range with scaling_impl_type \(scalingImplType.rawValue)")
            }
            if let lo = minVal, let hi = maxVal, lo > hi { problem("min_val", "min_val \(lo) is greater than max_val \(hi)") }
            for k in ["collect_stats_steps", "scaling_stats_momentum", "scaling_stats_op", "high_percentile_q"] where overridden.contains(k) {
                problem(k, "is not used by scaling_impl_type \(scalingImplType.rawValue); it only applies to parameter_from_stats")
            }
        case .parameterFromStats, .stats:
            for k in ["min_val", "max_val"] where overridden.contains(k) {
                problem(k, "is not used by scaling_impl_type \(scalingImplType.rawValue) (the range comes from statistics); set scaling_impl_type to 'parameter' or 'const' to give a range")
            }
            if scalingImplType == .parameterFromStats && collectStatsSteps <= 0 {
                problem("collect_stats_steps", "must be > 0, got \(collectStatsSteps)")
            }
            if scalingImplType == .stats && overridden.contains("collect_stats_steps") {
                problem("collect_stats_steps", "is not used by scaling_impl_type stats (statistics are collected at every training call, never learned); use parameter_from_stats")
            }
            let percentile = scalingStatsOp == .percentile || scalingStatsOp == .percentileInterval
            if !percentile && overridden.contains("high_percentile_q") {
                problem("high_percentile_q", "is only used by scaling_stats_op 'percentile' or 'percentile_interval', not '\(scalingStatsOp.rawValue)'")
            }
            if scalingStatsOp != .percentileInterval && zeroPointImplType != .parameterFromStats && overridden.contains("low_percentile_q") {
                problem("low_percentile_q", "is only used by scaling_stats_op 'percentile_interval' and by zero_point_impl 'parameter_from_stats'")
            }
            if !(0 < highPercentileQ && highPercentileQ <= 100) { problem("high_percentile_q", "must be in (0, 100], got \(highPercentileQ)") }
            if !(0 <= lowPercentileQ && lowPercentileQ < 100) { problem("low_percentile_q", "must be in [0, 100), got \(lowPercentileQ)") }
            if let m = scalingStatsMomentum, !(0 < m && m <= 1) { problem("scaling_stats_momentum", "must be in (0, 1] or None, got \(m)") }
        }
        if scalingPerOutputChannel && !dynamicScaling {
            if perChannelBroadcastableShape == nil {
                problem("per_channel_broadcastable_shape", "required when scaling_per_output_channel is True, e.g. (1, C, 1, 1)")
            }
            if let shape = perChannelBroadcastableShape, shape.filter({ $0 != 1 }).count > 1 {
                problem("per_channel_broadcastable_shape", "\(shape) must have exactly one dimension larger than 1")
            }
            if scalingImplType == .parameterFromStats && scalingStatsPermuteDims == nil {
                problem("scaling_stats_permute_dims", "required for per-channel statistics, e.g. (1, 0, 2, 3) for NCHW")
            }
        } else if !dynamicScaling {
            for k in ["per_channel_broadcastable_shape", "scaling_stats_permute_dims"] where overridden.contains(k) {
                problem(k, "is only used with scaling_per_output_channel=True")
            }
        }
        if let m = scalingMinVal, !(m >= 0) { problem("scaling_min_val", "must be >= 0, got \(m)") }
        problems += bitWidthProblems(quantType: quantType, bitWidth: bitWidth, implType: bitWidthImplType,
                                     minBitWidth: minBitWidth, overridden: overridden)
        problems += zeroPointProblems(quantType: quantType, implType: zeroPointImplType, initial: zeroPointInit,
                                      overridden: overridden)
        if dynamicScaling {
            if scalingImplType != .stats {
                problem("scaling_impl_type", "dynamic activation scales are recomputed from every input: use 'stats', got '\(scalingImplType.rawValue)'")
            }
            if scalingStatsOp != .max && scalingStatsOp != .minMax {
                problem("scaling_stats_op", "dynamic activation scales support 'max' and 'min_max', got '\(scalingStatsOp.rawValue)'")
            }
            if scalingPerOutputChannel && scalingPerGroup {
                problem("scaling_per_output_channel", "a dynamic scale is per tensor, per row or per group, not per row and per group")
            }
            for k in ["per_channel_broadcastable_shape", "scaling_stats_permute_dims"] where overridden.contains(k) {
                problem(k, "is not used by dynamic scales: per row is over the last dimension, the scale has the input's shape with a last dimension of 1")
            }
            if zeroPointImplType != .zero && zeroPointImplType != .stats {
                problem("zero_point_impl", "dynamic activations take their zero point from the current input ('stats') or have none ('zero'), got '\(zeroPointImplType.rawValue)'")
            }
            if zeroPointImplType == .stats && signed {
                problem("zero_point_impl", "a dynamic zero point needs an unsigned range (signed=False)")
            }
        }
        if zeroPointImplType == .stats && !dynamicScaling {
            problem("zero_point_impl", "'stats' (StatsFromParameterZeroPoint) takes statistics of a parameter; it is only supported for weights (use 'parameter_from_stats' or 'parameter' for activations)")
        }
        if zeroPointImplType != .parameterFromStats && overridden.contains("zero_point_stats_momentum") {
            problem("zero_point_stats_momentum", "is only used by zero_point_impl parameter_from_stats")
        }
        if zeroPointImplType == .parameterFromStats && signed {
            problem("zero_point_impl", "a learned zero point needs an unsigned range (signed=False)")
        }
        if zeroPointHQO && zeroPointMSE { problem("zero_point_impl", "the zero point is searched either by HQO or by MSE, not both") }
        if zeroPointMSE {
            if zeroPointImplType != .parameterFromStats {
                problem("zero_point_impl", "the MSE zero point is collected like runtime statistics: use 'parameter_from_stats', got '\(zeroPointImplType.rawValue)'")
            }
            if quantType != .int { problem("quant_type", "the MSE zero point is for integer quantizers, got '\(quantType.rawValue)'") }
            if bitWidthImplType != .const { problem("bit_width_impl_type", "the MSE zero point needs a constant bit width, got '\(bitWidthImplType.rawValue)'") }
        }
        if zeroPointImplType == .parameterFromStats && scalingImplType != .parameterFromStats {
            problem("zero_point_impl", "parameter_from_stats zero points need scaling_impl_type parameter_from_stats")
        }
        if quantType != .ternary && overridden.contains("threshold") {
            problem("threshold", "only used by ternary quantizers")
        }
        if !problems.isEmpty { throw QuantConfigError(context: context, problems: problems) }
    }
}
