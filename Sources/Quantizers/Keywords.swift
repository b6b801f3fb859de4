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

extension ActQuant: QuantizerSettings {
    static let roleKeywordSetters: [String: KeywordSetter<ActQuant>] = [
        "high_percentile_q": doubleSetter(\.highPercentileQ),
        "low_percentile_q": doubleSetter(\.lowPercentileQ),
        "collect_stats_steps": intSetter(\.collectStatsSteps),
        "scaling_stats_momentum": optionalFloatSetter(\.scalingStatsMomentum),
        "per_channel_broadcastable_shape": shapeSetter(\.perChannelBroadcastableShape),
        "scaling_stats_permute_dims": shapeSetter(\.scalingStatsPermuteDims),
        "min_val": optionalFloatSetter(\.minVal),
        "max_val": optionalFloatSetter(\.maxVal),
        "zero_point_stats_momentum": optionalFloatSetter(\.zeroPointStatsMomentum),
    ]
    static let keywordNoun = "quantizer keyword"

    /// Keywords accepted by `applying(_:context:)`.
    public static var keywords: [String] { keywordSetters.keys.sorted() }

    /// A copy with Brevitas keyword overrides applied; every problem is reported at once.
    public func applying(_ keywords: [String: ConfigValue], context: String) throws(QuantConfigError) -> ActQuant {
        try applyingKeywords(keywords, context: context)
    }
}

extension WeightQuant: QuantizerSettings {
    static let roleKeywordSetters: [String: KeywordSetter<WeightQuant>] = [
        "scaling_const": optionalFloatSetter(\.scalingConst),
        "accumulator_bit_width": intSetter(\.accumulatorBitWidth),
    ]
    static let keywordNoun = "weight quantizer keyword"

    /// Keywords accepted by `applying(_:context:)`.
    public static var keywords: [String] { keywordSetters.keys.sorted() }

    /// A copy with Brevitas keyword overrides applied; every problem is reported at once.
    public func applying(_ keywords: [String: ConfigValue], context: String) throws(QuantConfigError) -> WeightQuant {
        try applyingKeywords(keywords, context: context)
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
