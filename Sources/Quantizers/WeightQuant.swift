import QuantCore
/// The configuration of a weight quantizer (Brevitas's weight injector as a typed value).
///
/// ```swift
/// QuantConv2d(3, 16, kernelSize: 3, weightQuant: .int8WeightPerChannelFloat.with(\.bitWidth, 4))
/// ```
public struct WeightQuant: Equatable, Sendable {
    public var preset: String
    public var quantType: QuantType = .int
    /// `weight_bit_width` / `bit_width`.
    public var bitWidth: Int = 8
    /// A constant or a learned bit width (`bit_width_impl_type`).
    public var bitWidthImplType: BitWidthImplType = .const
    /// Lower bound of a learned bit width (`min_bit_width`).
    public var minBitWidth: Int = 2
    public var signed: Bool = true
    /// `[-(2^(b-1)-1), 2^(b-1)-1]`, threshold `2^(b-1)-1` (127 at 8 bits).
    public var narrowRange: Bool = true
    /// `.stats` (recomputed from the weight every call) or `.const`.
    public var scalingImplType: ScalingImplType = .stats
    /// `.max` (`AbsMax`) or `.minMax` (`AbsMinMax`, for shifted quantizers).
    public var scalingStatsOp: StatsOp = .max
    public var restrictScalingType: RestrictValueType = .fp
    public var restrictValueFloatToInt: FloatToIntImplType = .round
    /// One scale per output channel (`weight_scaling_per_output_channel`).
    public var scalingPerOutputChannel: Bool = false
    public var scalingMinVal: Float? = 1e-10
    /// The constant scale of `.const` scaling (`scaling_const`).
    public var scalingConst: Float? = nil
    /// Threshold of ternary quantization, as a fraction of the scale.
    public var threshold: Float = 0.5
    /// How the zero point is obtained (`zero_point_impl`): `.zero`, `.stats` or `.parameter`.
    public var zeroPointImplType: ZeroPointImplType = .zero
    /// Initial value of a `.parameter` zero point, in the units of the weight (`zero_point_init`).
    public var zeroPointInit: Float? = nil
    /// Round and clamp the zero point to an integer code (`quantize_zero_point`).
    public var quantizeZeroPoint: Bool = true

    /// The zero point comes from the half-quadratic optimizer (Brevitas `HQOActZeroPoint` /
    /// `HQOWeightZeroPoint`, the shifted `*HQO` presets) instead of the negative tail.
    public var zeroPointHQO: Bool = false

    /// The zero point comes from an MSE grid search (Brevitas `MSEActZeroPoint` /
    /// `MSEWeightZeroPoint`, the shifted `*MSE` presets): 20 candidates between
    /// `min(min(x), 0)` and a twentieth of it; see `MSEZeroPointStats`.
    public var zeroPointMSE: Bool = false

    /// One scale per group of `groupSize` consecutive elements along `groupDim`
    /// (`scaling_per_output_type='GROUP'`); group-wise activation scales are recomputed from the
    /// input at every call (Brevitas `RuntimeDynamicGroupStatsScaling`).
    public var scalingPerGroup: Bool = false
    /// Elements per group (`group_size`).
    public var groupSize: Int? = nil
    /// The grouped dimension (`group_dim`); `nil` takes 1 (input features / channels).
    public var groupDim: Int? = nil

    /// The group layout when `scalingPerGroup`.
    public var groupLayout: GroupLayout? {
        scalingPerGroup ? GroupLayout(groupSize: groupSize ?? 0, groupDim: groupDim ?? 1) : nil
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

    /// Accumulator-aware quantization (A2Q or A2Q+, `WeightQuant+AccumulatorAware.swift`);
    /// `nil` for ordinary weight quantizers.
    public var accumulatorAware: AccumulatorAwareKind? = nil
    /// `accumulator_bit_width` (P) of an accumulator-aware quantizer.
    public var accumulatorBitWidth: Int = 32

    public private(set) var overridden: Set<String> = []

    init(preset: String) { self.preset = preset }

    public func with<V>(_ keyPath: WritableKeyPath<WeightQuant, V>, _ value: V) -> WeightQuant {
        var copy = self
        copy[keyPath: keyPath] = value
        if let name = WeightQuant.keyNames[keyPath] { copy.overridden.insert(name) }
        return copy
    }

    mutating func markOverridden(_ key: String) { overridden.insert(key) }

    public func origin(of key: String) -> SettingOrigin { overridden.contains(key) ? .override : .preset(preset) }

    static let keyNames: [PartialKeyPath<WeightQuant>: String] = [
        \WeightQuant.scalingPerGroup: "scaling_per_output_type", \WeightQuant.groupSize: "group_size", \WeightQuant.groupDim: "group_dim",
        \WeightQuant.exponentBitWidth: "exponent_bit_width", \WeightQuant.mantissaBitWidth: "mantissa_bit_width",
        \WeightQuant.exponentBias: "exponent_bias", \WeightQuant.saturating: "saturating", \WeightQuant.floatStandard: "float_standard",
        \WeightQuant.quantType: "quant_type", \WeightQuant.bitWidth: "bit_width", \WeightQuant.signed: "signed",
        \WeightQuant.narrowRange: "narrow_range", \WeightQuant.scalingImplType: "scaling_impl_type",
        \WeightQuant.scalingStatsOp: "scaling_stats_op", \WeightQuant.restrictScalingType: "restrict_scaling_type",
        \WeightQuant.restrictValueFloatToInt: "restrict_value_float_to_int_impl",
        \WeightQuant.scalingPerOutputChannel: "scaling_per_output_channel",
        \WeightQuant.scalingMinVal: "scaling_min_val", \WeightQuant.scalingConst: "scaling_const",
        \WeightQuant.threshold: "threshold", \WeightQuant.bitWidthImplType: "bit_width_impl_type",
        \WeightQuant.minBitWidth: "min_bit_width", \WeightQuant.zeroPointImplType: "zero_point_impl",
        \WeightQuant.zeroPointInit: "zero_point_init", \WeightQuant.quantizeZeroPoint: "quantize_zero_point",
        \WeightQuant.accumulatorBitWidth: "accumulator_bit_width",
    ]

    public func validate(context: String) throws(QuantConfigError) {
        var problems: [QuantConfigError.Problem] = []
        func problem(_ key: String, _ msg: String) { problems.append(.init(key: key, message: msg)) }
        if quantType == .int && (bitWidth < 2 || bitWidth > 32) {
            problem("bit_width", "\(bitWidth) is outside 2...32 for integer quantization")
        }
        switch scalingImplType {
        case .stats:
            if scalingStatsOp != .max && scalingStatsOp != .minMax {
                problem("scaling_stats_op", "weights support 'max' and 'min_max' statistics, got '\(scalingStatsOp.rawValue)'")
            }
            if overridden.contains("scaling_const") { problem("scaling_const", "is not used by scaling_impl_type stats") }
        case .const:
            if scalingConst == nil { problem("scaling_const", "required by scaling_impl_type const") }
        case .parameterFromStats:
            // ParameterFromStatsFromParameterScaling: the statistic initialises a learned scale.
            if scalingStatsOp != .max && scalingStatsOp != .minMax && scalingStatsOp != .mse && scalingStatsOp != .hqo {
                problem("scaling_stats_op", "weights support 'max', 'min_max', 'mse' and 'hqo' statistics, got '\(scalingStatsOp.rawValue)'")
            }
            if scalingPerGroup { problem("scaling_impl_type", "group-wise weight scales are recomputed every call; use 'stats'") }
        case .parameter:
            problem("scaling_impl_type", "'parameter' is not supported for weights; use 'stats', 'parameter_from_stats' or 'const'")
        }
        if quantType != .ternary && overridden.contains("threshold") { problem("threshold", "only used by ternary quantizers") }
        problems += groupProblems(scalingPerGroup: scalingPerGroup, groupSize: groupSize, groupDim: groupDim,
                                  perChannel: scalingPerOutputChannel, overridden: overridden)
        problems += minifloatProblems(quantType: quantType, bitWidth: bitWidth, signed: signed, exponentBitWidth: exponentBitWidth,
                                      mantissaBitWidth: mantissaBitWidth, exponentBias: exponentBias, saturating: saturating,
                                      standard: floatStandard, overridden: overridden)
        problems += bitWidthProblems(quantType: quantType, bitWidth: bitWidth, implType: bitWidthImplType,
                                     minBitWidth: minBitWidth, overridden: overridden)
        problems += zeroPointProblems(quantType: quantType, implType: zeroPointImplType, initial: zeroPointInit,
                                      overridden: overridden)
        if zeroPointImplType == .parameterFromStats && !zeroPointHQO && !zeroPointMSE {
            problem("zero_point_impl", "'parameter_from_stats' collects runtime statistics of activations; for weights use 'stats' (StatsFromParameterZeroPoint), 'parameter', or an HQO or MSE preset (ShiftedUint8WeightPerChannelFloatHQO, ShiftedUint8WeightPerChannelFloatMSE)")
        }
        if zeroPointHQO && zeroPointMSE { problem("zero_point_impl", "the zero point is searched either by HQO or by MSE, not both") }
        if zeroPointMSE {
            if zeroPointImplType != .parameterFromStats {
                problem("zero_point_impl", "the MSE zero point initialises a learned zero point: use 'parameter_from_stats', got '\(zeroPointImplType.rawValue)'")
            }
            if quantType != .int { problem("quant_type", "the MSE zero point is for integer quantizers, got '\(quantType.rawValue)'") }
            if scalingPerGroup { problem("scaling_per_output_type", "group-wise MSE zero points (ShiftedMXUInt8WeightMSE) are not supported; use a per-tensor or per-channel scale") }
            if bitWidthImplType != .const { problem("bit_width_impl_type", "the MSE zero point needs a constant bit width, got '\(bitWidthImplType.rawValue)'") }
        }
        if zeroPointImplType == .parameterFromStats && zeroPointHQO {
            // The search quantizes with the scale the quantizer has at its first forward: one
            // computed from the weight ('stats') or a constant.
            if quantType != .int { problem("quant_type", "the HQO zero point is for integer quantizers, got '\(quantType.rawValue)'") }
            if !scalingPerGroup && scalingImplType != .stats && scalingImplType != .const {
                problem("scaling_impl_type", "the HQO zero point searches with a scale computed from the weight; use 'stats' or 'const', got '\(scalingImplType.rawValue)'")
            }
            if bitWidthImplType != .const { problem("bit_width_impl_type", "the HQO zero point needs a constant bit width, got '\(bitWidthImplType.rawValue)'") }
        }
        problems += accumulatorAwareProblems()
        if !problems.isEmpty { throw QuantConfigError(context: context, problems: problems) }
    }
}

extension WeightQuant {
    /// Signed narrow-range 8-bit, per-tensor scale `max|W| / 127` recomputed every call.
    public static let int8WeightPerTensorFloat = WeightQuant(preset: "Int8WeightPerTensorFloat")

    /// As `int8WeightPerTensorFloat` with one scale per output channel.
    public static let int8WeightPerChannelFloat: WeightQuant = {
        var q = WeightQuant(preset: "Int8WeightPerChannelFloat")
        q.scalingPerOutputChannel = true
        return q
    }()

    /// Power-of-two per-tensor scale, `2^ceil(log2(max|W| / 127))`.
    public static let int8WeightPerTensorFixedPoint: WeightQuant = {
        var q = WeightQuant(preset: "Int8WeightPerTensorFixedPoint")
        q.restrictScalingType = .powerOfTwo
        q.restrictValueFloatToInt = .ceil
        return q
    }()

    /// Power-of-two per-channel scales.
    public static let int8WeightPerChannelFixedPoint: WeightQuant = {
        var q = int8WeightPerTensorFixedPoint
        q.preset = "Int8WeightPerChannelFixedPoint"
        q.scalingPerOutputChannel = true
        return q
    }()

    /// ±0.1 weights (sign with a constant scale).
    public static let signedBinaryWeightPerTensorConst: WeightQuant = {
        var q = WeightQuant(preset: "SignedBinaryWeightPerTensorConst")
        q.quantType = .binary
        q.bitWidth = 1
        q.scalingImplType = .const
        q.scalingConst = 0.1
        return q
    }()

    /// {−0.1, 0, +0.1} weights (threshold half the scale).
    public static let signedTernaryWeightPerTensorConst: WeightQuant = {
        var q = WeightQuant(preset: "SignedTernaryWeightPerTensorConst")
        q.quantType = .ternary
        q.bitWidth = 2
        q.scalingImplType = .const
        q.scalingConst = 0.1
        return q
    }()

    /// Unsigned 8-bit with a zero point, both from the weight at every call (Brevitas
    /// `ShiftedUint8WeightPerTensorFloat`): `s = |max(W) − min(min(W), 0)| / 255` (`AbsMinMax`),
    /// `z = round(−min(min(W), 0) / s)` (`NegativeMinOrZero`).
    public static let shiftedUint8WeightPerTensorFloat: WeightQuant = {
        var q = WeightQuant(preset: "ShiftedUint8WeightPerTensorFloat")
        q.signed = false
        q.narrowRange = false
        q.scalingStatsOp = .minMax
        q.zeroPointImplType = .stats
        return q
    }()

    /// As `shiftedUint8WeightPerTensorFloat` with one scale and zero point per output channel.
    public static let shiftedUint8WeightPerChannelFloat: WeightQuant = {
        var q = shiftedUint8WeightPerTensorFloat
        q.preset = "ShiftedUint8WeightPerChannelFloat"
        q.scalingPerOutputChannel = true
        return q
    }()

    public static func preset(named name: String) -> WeightQuant? {
        switch name {
        case "ShiftedUint8WeightPerTensorFloat": return .shiftedUint8WeightPerTensorFloat
        case "ShiftedUint8WeightPerChannelFloat": return .shiftedUint8WeightPerChannelFloat
        case "Int8WeightPerTensorFloat": return .int8WeightPerTensorFloat
        case "Int8WeightPerChannelFloat": return .int8WeightPerChannelFloat
        case "Int8WeightPerTensorFixedPoint": return .int8WeightPerTensorFixedPoint
        case "Int8WeightPerChannelFixedPoint": return .int8WeightPerChannelFixedPoint
        case "SignedBinaryWeightPerTensorConst": return .signedBinaryWeightPerTensorConst
        case "SignedTernaryWeightPerTensorConst": return .signedTernaryWeightPerTensorConst
        case "Int8AccumulatorAwareWeightQuant": return .int8AccumulatorAwareWeightQuant
        case "Int8AccumulatorAwareZeroCenterWeightQuant": return .int8AccumulatorAwareZeroCenterWeightQuant
        default: return minifloatWeight(name) ?? groupwisePreset(named: name) ?? msePreset(named: name) ?? hqoPreset(named: name)
        }
    }

    public static let presetNames = [
        "Int8WeightPerTensorFloat", "Int8WeightPerChannelFloat", "Int8WeightPerTensorFixedPoint",
        "Int8WeightPerChannelFixedPoint", "SignedBinaryWeightPerTensorConst", "SignedTernaryWeightPerTensorConst",
        "ShiftedUint8WeightPerTensorFloat", "ShiftedUint8WeightPerChannelFloat",
        "Int8AccumulatorAwareWeightQuant", "Int8AccumulatorAwareZeroCenterWeightQuant",
    ] + minifloatPresetNames + groupwisePresetNames + msePresetNames + hqoPresetNames
}
