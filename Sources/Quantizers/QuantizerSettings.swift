import QuantCore

/// The settings activation and weight quantizers share, under the same Brevitas keywords
/// (`bit_width`, `scaling_impl_type`, `exponent_bit_width`, ...): what the string-keyed boundary
/// (``KeywordSetter``) and the minifloat presets are written against once, for both roles.
///
/// ``ActQuant`` and ``WeightQuant`` stay distinct types (the wrong role does not compile); this
/// protocol only names what they have in common.
protocol QuantizerSettings {
    init(preset: String)
    var quantType: QuantType { get set }
    var bitWidth: Int { get set }
    var bitWidthImplType: BitWidthImplType { get set }
    var minBitWidth: Int { get set }
    var signed: Bool { get set }
    var narrowRange: Bool { get set }
    var scalingImplType: ScalingImplType { get set }
    var scalingStatsOp: StatsOp { get set }
    var restrictScalingType: RestrictValueType { get set }
    var restrictValueFloatToInt: FloatToIntImplType { get set }
    var scalingPerOutputChannel: Bool { get set }
    var scalingMinVal: Float? { get set }
    var threshold: Float { get set }
    var zeroPointImplType: ZeroPointImplType { get set }
    var zeroPointInit: Float? { get set }
    var quantizeZeroPoint: Bool { get set }
    var scalingPerGroup: Bool { get set }
    var groupSize: Int? { get set }
    var groupDim: Int? { get set }
    var exponentBitWidth: Int? { get set }
    var mantissaBitWidth: Int? { get set }
    var exponentBias: Int? { get set }
    var saturating: Bool { get set }
    var floatStandard: FloatStandard { get set }

    /// Marks a setting as overridden by keyword.
    mutating func markOverridden(_ key: String)

    /// The keywords only this role has (`collect_stats_steps`, `scaling_const`, ...).
    static var roleKeywordSetters: [String: KeywordSetter<Self>] { get }
    /// How errors name the role's keywords: `quantizer keyword`, `weight quantizer keyword`.
    static var keywordNoun: String { get }
}

extension QuantizerSettings {
    /// Every keyword the role accepts: the shared ones and its own.
    static var keywordSetters: [String: KeywordSetter<Self>] {
        sharedKeywordSetters.merging(roleKeywordSetters) { _, own in own }
    }

    /// The keywords both roles accept.
    static var sharedKeywordSetters: [String: KeywordSetter<Self>] {
        [
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
            "zero_point_impl": enumSetter(\.zeroPointImplType),
            "zero_point_init": optionalFloatSetter(\.zeroPointInit),
            "quantize_zero_point": boolSetter(\.quantizeZeroPoint),
            "threshold": floatSetter(\.threshold),
            "quant_type": enumSetter(\.quantType),
            "bit_width_impl_type": enumSetter(\.bitWidthImplType),
            "min_bit_width": intSetter(\.minBitWidth),
        ]
    }

    /// A copy with Brevitas keyword overrides applied, in key order; every problem (an unknown
    /// key, with the valid ones listed, or a value of the wrong kind) is reported at once.
    func applyingKeywords(_ keywords: [String: ConfigValue], context: String) throws(QuantConfigError) -> Self {
        let setters = Self.keywordSetters
        var copy = self
        var problems: [QuantConfigError.Problem] = []
        for (key, value) in keywords.sorted(by: { $0.key < $1.key }) {
            guard let setter = setters[key] else {
                problems.append(.init(key: key, message: "unknown \(Self.keywordNoun); valid keywords: \(setters.keys.sorted().joined(separator: ", "))"))
                continue
            }
            if let err = setter.apply(&copy, value) { problems.append(.init(key: key, message: err)) } else { copy.markOverridden(key) }
        }
        if !problems.isEmpty { throw QuantConfigError(context: context, problems: problems) }
        return copy
    }
}
