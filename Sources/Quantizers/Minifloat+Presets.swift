/// Brevitas's minifloat presets (`brevitas.quant.experimental.float_quant_ocp`,
/// `float_quant_fnuz`, `float`), by Brevitas's class names.
///
/// A name is a format, a convention and a scaling:
///
/// | part | meaning |
/// |---|---|
/// | `Fp8e4m3`, `Fp8e5m2` | 8-bit formats; `Fp` alone takes `bit_width`, `exponent_bit_width`, `mantissa_bit_width` from keywords (FP6, FP4, ...) |
/// | `OCP`, `FNUZ`, none | OCP codes and bias `2^(e−1)−1`; FNUZ bias `2^(e−1)`; plain minifloat |
/// | `Act`, `Weight` (no suffix) | unscaled: scale 1 |
/// | `ActPerTensorFloat`, `ActPerChannelFloat2d` | runtime `max|x|` statistics for `collect_stats_steps` calls, then learned; `s = value / M` |
/// | `WeightPerTensorFloat`, `WeightPerChannelFloat` | `s = max|W| / M`, recomputed every call |
///
/// ```swift
/// QuantIdentity(actQuant: .fp8e4m3OCPActPerTensorFloat)
/// QuantLinear(16, 4, weightQuant: .minifloatWeight("FpOCPWeightPerChannelFloat")!
///     .with(\.bitWidth, 4).with(\.exponentBitWidth, 2).with(\.mantissaBitWidth, 1))
/// ```
enum MinifloatPresetName {
    /// The parsed parts of a preset name: format `(e, m)` (nil for `Fp`), standard, role suffix.
    static func parse(_ name: String, role: String) -> (e: Int?, m: Int?, standard: FloatStandard, scaling: String)? {
        var rest = Substring(name)
        var e: Int? = nil, m: Int? = nil
        if rest.hasPrefix("Fp8e4m3") { (e, m) = (4, 3); rest = rest.dropFirst(7) }
        else if rest.hasPrefix("Fp8e5m2") { (e, m) = (5, 2); rest = rest.dropFirst(7) }
        else if rest.hasPrefix("Fp") { rest = rest.dropFirst(2) } else { return nil }
        var standard = FloatStandard.plain
        if rest.hasPrefix("OCP") { standard = .ocp; rest = rest.dropFirst(3) }
        else if rest.hasPrefix("FNUZ") { standard = .fnuz; rest = rest.dropFirst(4) }
        // Brevitas has no plain `FpAct`: the plain family only exists with an 8-bit format.
        if standard == .plain && e == nil { return nil }
        guard rest.hasPrefix(role) else { return nil }
        let scaling = String(rest.dropFirst(role.count))
        return (e, m, standard, scaling)
    }

    static let formats = ["Fp8e4m3OCP", "Fp8e5m2OCP", "Fp8e4m3FNUZ", "Fp8e5m2FNUZ", "FpOCP", "FpFNUZ", "Fp8e4m3", "Fp8e5m2"]

    /// The preset `name` of `role` (`Act`, `Weight`): the format's fields, then its scaling: no
    /// suffix is unscaled (constant scale), `PerTensorFloat` a `max|x|` statistic, and
    /// `perChannelSuffix` the same per output channel. `nil` when `name` is not such a preset.
    static func quantizer<Q: QuantizerSettings>(_ name: String, role: String, perChannelSuffix: String) -> Q? {
        guard let p = parse(name, role: role) else { return nil }
        var q = Q(preset: name)
        q.quantType = .minifloat
        q.exponentBitWidth = p.e
        q.mantissaBitWidth = p.m
        q.floatStandard = p.standard
        q.narrowRange = false
        switch p.scaling {
        case "":
            q.scalingImplType = .const
        case "PerTensorFloat":
            q.scalingStatsOp = .max
        case perChannelSuffix:
            q.scalingStatsOp = .max
            q.scalingPerOutputChannel = true
        default: return nil
        }
        return q
    }

    /// Every preset name of `role`: each format with each scaling suffix.
    static func names(role: String, perChannelSuffix: String) -> [String] {
        formats.flatMap { f in ["", "PerTensorFloat", perChannelSuffix].map { f + role + $0 } }
    }
}

extension ActQuant {
    /// Brevitas `Fp8e4m3OCPAct`.
    public static let fp8e4m3OCPAct = minifloatAct("Fp8e4m3OCPAct")!
    /// Brevitas `Fp8e5m2OCPAct`.
    public static let fp8e5m2OCPAct = minifloatAct("Fp8e5m2OCPAct")!
    /// Brevitas `Fp8e4m3OCPActPerTensorFloat`.
    public static let fp8e4m3OCPActPerTensorFloat = minifloatAct("Fp8e4m3OCPActPerTensorFloat")!
    /// Brevitas `Fp8e5m2OCPActPerTensorFloat`.
    public static let fp8e5m2OCPActPerTensorFloat = minifloatAct("Fp8e5m2OCPActPerTensorFloat")!
    /// Brevitas `Fp8e4m3FNUZAct`.
    public static let fp8e4m3FNUZAct = minifloatAct("Fp8e4m3FNUZAct")!
    /// Brevitas `Fp8e4m3FNUZActPerTensorFloat`.
    public static let fp8e4m3FNUZActPerTensorFloat = minifloatAct("Fp8e4m3FNUZActPerTensorFloat")!
    /// Brevitas `Fp8e5m2FNUZActPerTensorFloat`.
    public static let fp8e5m2FNUZActPerTensorFloat = minifloatAct("Fp8e5m2FNUZActPerTensorFloat")!

    /// The minifloat activation preset named `name` (e.g. `Fp8e4m3OCPActPerTensorFloat`), or nil.
    public static func minifloatAct(_ name: String) -> ActQuant? {
        guard var q: ActQuant = MinifloatPresetName.quantizer(name, role: "Act", perChannelSuffix: "PerChannelFloat2d") else { return nil }
        if q.scalingPerOutputChannel { q.scalingStatsPermuteDims = [1, 0, 2, 3] }
        return q
    }

    /// Names accepted by `minifloatAct(_:)`.
    public static let minifloatPresetNames: [String] = MinifloatPresetName.names(role: "Act", perChannelSuffix: "PerChannelFloat2d")
}

extension WeightQuant {
    /// Brevitas `Fp8e4m3OCPWeight`.
    public static let fp8e4m3OCPWeight = minifloatWeight("Fp8e4m3OCPWeight")!
    /// Brevitas `Fp8e4m3OCPWeightPerTensorFloat`.
    public static let fp8e4m3OCPWeightPerTensorFloat = minifloatWeight("Fp8e4m3OCPWeightPerTensorFloat")!
    /// Brevitas `Fp8e4m3OCPWeightPerChannelFloat`.
    public static let fp8e4m3OCPWeightPerChannelFloat = minifloatWeight("Fp8e4m3OCPWeightPerChannelFloat")!
    /// Brevitas `Fp8e5m2OCPWeightPerTensorFloat`.
    public static let fp8e5m2OCPWeightPerTensorFloat = minifloatWeight("Fp8e5m2OCPWeightPerTensorFloat")!
    /// Brevitas `Fp8e5m2OCPWeightPerChannelFloat`.
    public static let fp8e5m2OCPWeightPerChannelFloat = minifloatWeight("Fp8e5m2OCPWeightPerChannelFloat")!
    /// Brevitas `Fp8e4m3FNUZWeightPerTensorFloat`.
    public static let fp8e4m3FNUZWeightPerTensorFloat = minifloatWeight("Fp8e4m3FNUZWeightPerTensorFloat")!
    /// Brevitas `Fp8e4m3FNUZWeightPerChannelFloat`.
    public static let fp8e4m3FNUZWeightPerChannelFloat = minifloatWeight("Fp8e4m3FNUZWeightPerChannelFloat")!

    /// The minifloat weight preset named `name` (e.g. `Fp8e4m3OCPWeightPerChannelFloat`), or nil.
    public static func minifloatWeight(_ name: String) -> WeightQuant? {
        guard var q: WeightQuant = MinifloatPresetName.quantizer(name, role: "Weight", perChannelSuffix: "PerChannelFloat") else { return nil }
        if q.scalingImplType == .const { q.scalingConst = 1 }
        return q
    }

    /// Names accepted by `minifloatWeight(_:)`.
    public static let minifloatPresetNames: [String] = MinifloatPresetName.names(role: "Weight", perChannelSuffix: "PerChannelFloat")
}
