/// The string-keyed boundary: Brevitas keyword arguments (`bit_width=4`,
/// `scaling_per_output_channel=True`, ...) applied to typed configurations. Used for config files
/// and conformance specs; Swift code uses key paths instead.
///
/// An unknown key, a value of the wrong type or an out-of-range value is an error that names the
/// key and lists the valid ones.
struct KeywordSetter<Config> {
    let apply: (inout Config, ConfigValue) -> String?
}

func intSetter<C>(_ kp: WritableKeyPath<C, Int>) -> KeywordSetter<C> {
    KeywordSetter { c, v in
        guard let i = v.intValue else { return "expects an integer, got \(v)" }
        c[keyPath: kp] = i
        return nil
    }
}

func optionalIntSetter<C>(_ kp: WritableKeyPath<C, Int?>) -> KeywordSetter<C> {
    KeywordSetter { c, v in
        if case .null = v { c[keyPath: kp] = nil; return nil }
        guard let i = v.intValue else { return "expects an integer or None, got \(v)" }
        c[keyPath: kp] = i
        return nil
    }
}

func boolSetter<C>(_ kp: WritableKeyPath<C, Bool>) -> KeywordSetter<C> {
    KeywordSetter { c, v in
        guard case .bool(let b) = v else { return "expects True or False, got \(v)" }
        c[keyPath: kp] = b
        return nil
    }
}

func floatSetter<C>(_ kp: WritableKeyPath<C, Float>) -> KeywordSetter<C> {
    KeywordSetter { c, v in
        guard let f = v.floatValue else { return "expects a number, got \(v)" }
        c[keyPath: kp] = f
        return nil
    }
}

func optionalFloatSetter<C>(_ kp: WritableKeyPath<C, Float?>) -> KeywordSetter<C> {
    KeywordSetter { c, v in
        if case .null = v { c[keyPath: kp] = nil; return nil }
        guard let f = v.floatValue else { return "expects a number or None, got \(v)" }
        c[keyPath: kp] = f
        return nil
    }
}

func doubleSetter<C>(_ kp: WritableKeyPath<C, Double>) -> KeywordSetter<C> {
    KeywordSetter { c, v in
        guard case .number(let d) = v else { return "expects a number, got \(v)" }
        c[keyPath: kp] = d
        return nil
    }
}

func shapeSetter<C>(_ kp: WritableKeyPath<C, [Int]?>) -> KeywordSetter<C> {
    KeywordSetter { c, v in
        if case .null = v { c[keyPath: kp] = nil; return nil }
        guard case .array = v, let list = v.intList else { return "expects a tuple of integers, got \(v)" }
        c[keyPath: kp] = list
        return nil
    }
}

func enumSetter<C, E: RawRepresentable & CaseIterable>(_ kp: WritableKeyPath<C, E>) -> KeywordSetter<C> where E.RawValue == String {
    KeywordSetter { c, v in
        guard case .string(let s) = v, let e = E.allCases.first(where: { $0.rawValue.lowercased() == s.lowercased() }) else {
            return "expects one of \(E.allCases.map { "'\($0.rawValue)'" }.joined(separator: ", ")), got \(v)"
        }
        c[keyPath: kp] = e
        return nil
    }
}

extension ActQuant {
    static let keywordSetters: [String: KeywordSetter<ActQuant>] = [
        "group_size": optionalIntSetter(\.groupSize),
        "group_dim": optionalIntSetter(\.groupDim),
        "scaling_per_output_type": KeywordSetter { c, v in
            guard case .string(let t) = v, ["TENSOR", "CHANNEL", "GROUP"].contains(t.uppercased()) else {
                return "expects 'TENSOR', 'CHANNEL' or 'GROUP', got \(v)"
            }
            c.scalingPerGroup = t.uppercased() == "GROUP"
            c.scalingPerOutputChannel = t.uppercased() == "CHANNEL"
            return nil
        },
        "exponent_bit_width": optionalIntSetter(\.exponentBitWidth),
        "mantissa_bit_width": optionalIntSetter(\.mantissaBitWidth),
        "exponent_bias": optionalIntSetter(\.exponentBias),
        "saturating": boolSetter(\.saturating),
        "float_standard": enumSetter(\.floatStandard),
        "bit_width": intSetter(\.bitWidth),
        "signed": boolSetter(\.signed),
        "narrow_range": boolSetter(\.narrowRange),
        "scaling_impl_type": enumSetter(\.scalingImplType),
        "scaling_stats_op": enumSetter(\.scalingStatsOp),
        "high_percentile_q": doubleSetter(\.highPercentileQ),
        "low_percentile_q": doubleSetter(\.lowPercentileQ),
        "collect_stats_steps": intSetter(\.collectStatsSteps),
        "scaling_stats_momentum": optionalFloatSetter(\.scalingStatsMomentum),
        "restrict_scaling_type": enumSetter(\.restrictScalingType),
        "restrict_value_float_to_int_impl": enumSetter(\.restrictValueFloatToInt),
        "scaling_per_output_channel": boolSetter(\.scalingPerOutputChannel),
        "per_channel_broadcastable_shape": shapeSetter(\.perChannelBroadcastableShape),
        "scaling_stats_permute_dims": shapeSetter(\.scalingStatsPermuteDims),
        "scaling_min_val": optionalFloatSetter(\.scalingMinVal),
        "min_val": optionalFloatSetter(\.minVal),
        "max_val": optionalFloatSetter(\.maxVal),
        "zero_point_impl": enumSetter(\.zeroPointImplType),
        "zero_point_stats_momentum": optionalFloatSetter(\.zeroPointStatsMomentum),
        "zero_point_init": optionalFloatSetter(\.zeroPointInit),
        "quantize_zero_point": boolSetter(\.quantizeZeroPoint),
        "threshold": floatSetter(\.threshold),
        "quant_type": enumSetter(\.quantType),
        "bit_width_impl_type": enumSetter(\.bitWidthImplType),
        "min_bit_width": intSetter(\.minBitWidth),
    ]

    /// Keywords accepted by `applying(_:context:)`.
    public static var keywords: [String] { keywordSetters.keys.sorted() }

    /// A copy with Brevitas keyword overrides applied; every problem is reported at once.
    public func applying(_ keywords: [String: ConfigValue], context: String) throws(QuantConfigError) -> ActQuant {
        var copy = self
        var problems: [QuantConfigError.Problem] = []
        for (key, value) in keywords.sorted(by: { $0.key < $1.key }) {
            guard let setter = ActQuant.keywordSetters[key] else {
                problems.append(.init(key: key, message: "unknown quantizer keyword; valid keywords: \(ActQuant.keywords.joined(separator: ", "))"))
                continue
            }
            if let err = setter.apply(&copy, value) { problems.append(.init(key: key, message: err)) } else { copy.markOverridden(key) }
        }
        if !problems.isEmpty { throw QuantConfigError(context: context, problems: problems) }
        return copy
    }
}

extension WeightQuant {
    static let keywordSetters: [String: KeywordSetter<WeightQuant>] = [
        "group_size": optionalIntSetter(\.groupSize),
        "group_dim": optionalIntSetter(\.groupDim),
        "scaling_per_output_type": KeywordSetter { c, v in
            guard case .string(let t) = v, ["TENSOR", "CHANNEL", "GROUP"].contains(t.uppercased()) else {
                return "expects 'TENSOR', 'CHANNEL' or 'GROUP', got \(v)"
            }
            c.scalingPerGroup = t.uppercased() == "GROUP"
            c.scalingPerOutputChannel = t.uppercased() == "CHANNEL"
            return nil
        },
        "exponent_bit_width": optionalIntSetter(\.exponentBitWidth),
        "mantissa_bit_width": optionalIntSetter(\.mantissaBitWidth),
        "exponent_bias": optionalIntSetter(\.exponentBias),
        "saturating": boolSetter(\.saturating),
        "float_standard": enumSetter(\.floatStandard),
        "bit_width": intSetter(\.bitWidth),
        "signed": boolSetter(\.signed),
        "narrow_range": boolSetter(\.narrowRange),
        "scaling_impl_type": enumSetter(\.scalingImplType),
        "scaling_stats_op": enumSetter(\.scalingStatsOp),
        "restrict_scaling_type": enumSetter(\.restrictScalingType),
        "restrict_value_float_to_int_impl": enumSetter(\.restrictValueFloatToInt),
        "scaling_per_output_channel": boolSetter(\.scalingPerOutputChannel),
        "scaling_min_val": optionalFloatSetter(\.scalingMinVal),
        "scaling_const": optionalFloatSetter(\.scalingConst),
        "threshold": floatSetter(\.threshold),
        "quant_type": enumSetter(\.quantType),
        "bit_width_impl_type": enumSetter(\.bitWidthImplType),
        "min_bit_width": intSetter(\.minBitWidth),
        "zero_point_impl": enumSetter(\.zeroPointImplType),
        "zero_point_init": optionalFloatSetter(\.zeroPointInit),
        "quantize_zero_point": boolSetter(\.quantizeZeroPoint),
        "accumulator_bit_width": intSetter(\.accumulatorBitWidth),
    ]

    public static var keywords: [String] { keywordSetters.keys.sorted() }

    public func applying(_ keywords: [String: ConfigValue], context: String) throws(QuantConfigError) -> WeightQuant {
        var copy = self
        var problems: [QuantConfigError.Problem] = []
        for (key, value) in keywords.sorted(by: { $0.key < $1.key }) {
            guard let setter = WeightQuant.keywordSetters[key] else {
                problems.append(.init(key: key, message: "unknown weight quantizer keyword; valid keywords: \(WeightQuant.keywords.joined(separator: ", "))"))
                continue
            }
            if let err = setter.apply(&copy, value) { problems.append(.init(key: key, message: err)) } else { copy.markOverridden(key) }
        }
        if !problems.isEmpty { throw QuantConfigError(context: context, problems: problems) }
        return copy
    }
}

extension BiasQuant {
    public func applying(_ keywords: [String: ConfigValue], context: String) throws(QuantConfigError) -> BiasQuant {
        var copy = self
        var problems: [QuantConfigError.Problem] = []
        for (key, value) in keywords.sorted(by: { $0.key < $1.key }) {
            if key == "bit_width", let b = value.intValue {
                copy.bitWidth = b
                copy.markOverridden(key)
            } else {
                problems.append(.init(key: key, message: key == "bit_width" ? "expects an integer, got \(value)" : "unknown bias quantizer keyword; valid keywords: bit_width"))
            }
        }
        if !problems.isEmpty { throw QuantConfigError(context: context, problems: problems) }
        return copy
    }
}
