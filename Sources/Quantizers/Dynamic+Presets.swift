/// Brevitas's dynamic activation presets (`brevitas_examples.common.generative.quantizers`):
/// the scale, and the zero point of the shifted ones, come from the current input at every call,
/// training and eval alike. Nothing is collected, learned or stored.
///
/// | preset | codes | scale | zero point |
/// |---|---|---|---|
/// | `Int8DynamicActPerTensorFloat` | int8 `[-128, 127]` | `max(max|x|, 1e-10) / 128` | 0 |
/// | `ShiftedUint8DynamicActPerTensorFloat` | uint8 `[0, 255]` | `max(max(x) − min(min(x), 0), 1e-10) / 255` | `round(−min(min(x), 0) / s)` |
/// | `Int8DynamicActPerGroupFloat` | int8 | `max(max|x_g|, 1e-10) / 128` per group of `group_size` along `group_dim` | 0 |
/// | `ShiftedUint8DynamicActPerGroupFloat` | uint8 | `max(max(x_g) − min(min(x_g), 0), 1e-10) / 255` per group | `round(−min(min(x_g), 0) / s_g)` per group |
///
/// The gradient reaches `x` through the statistic too (the scale is not detached).
///
/// ```swift
/// QuantLinear(512, 512, weightQuant: .int8WeightPerTensorFloat, inputQuant: .int8DynamicActPerTensorFloat)
/// QuantIdentity(actQuant: .int8DynamicActPerGroupFloat.with(\.groupSize, 64))
/// ```
///
/// Per row (`Int8DynamicActPerRowFloat`, `ShiftedUint8DynamicActPerRowFloat`): one scale (and zero point) per vector of the last dimension,
/// of shape `[..., 1]`. Brevitas cannot build these presets on their own (they need the
/// `dynamic_scaling_broadcastable_fn` that `brevitas_examples.common.generative.quantize` injects
/// for `input_quant_granularity='per_row'`: `x.view(*shape[:-1], 1)`, `stats_reduce_dim=1`); here
/// they come completed that way. (`Int8DynamicActPerRowFixedPoint` is not provided: on an all-zero
/// row Brevitas's gradient is NaN through `log2(0)`, which this library does not reproduce yet.)
extension ActQuant {
    public static let int8DynamicActPerTensorFloat: ActQuant = {
        var q = ActQuant(preset: "Int8DynamicActPerTensorFloat")
        q.makeDynamic()
        q.scalingStatsOp = .max
        return q
    }()

    public static let shiftedUint8DynamicActPerTensorFloat: ActQuant = {
        var q = ActQuant(preset: "ShiftedUint8DynamicActPerTensorFloat")
        q.makeDynamic()
        q.signed = false
        q.scalingStatsOp = .minMax
        q.zeroPointImplType = .stats
        return q
    }()

    /// `group_size` is required (`.with(\.groupSize, 64)`, or the `group_size` keyword).
    public static let int8DynamicActPerGroupFloat: ActQuant = {
        var q = ActQuant(preset: "Int8DynamicActPerGroupFloat")
        q.makeDynamic()
        q.scalingStatsOp = .max
        q.scalingPerGroup = true
        return q
    }()

    /// Unsigned 8-bit with a scale and a zero point per group (`group_size` is required).
    public static let shiftedUint8DynamicActPerGroupFloat: ActQuant = {
        var q = ActQuant(preset: "ShiftedUint8DynamicActPerGroupFloat")
        q.makeDynamic()
        q.signed = false
        q.scalingStatsOp = .minMax
        q.scalingPerGroup = true
        q.zeroPointImplType = .stats
        return q
    }()

    public static let int8DynamicActPerRowFloat: ActQuant = {
        var q = ActQuant(preset: "Int8DynamicActPerRowFloat")
        q.makeDynamic()
        q.scalingStatsOp = .max
        q.scalingPerOutputChannel = true
        return q
    }()

    public static let shiftedUint8DynamicActPerRowFloat: ActQuant = {
        var q = shiftedUint8DynamicActPerTensorFloat
        q.preset = "ShiftedUint8DynamicActPerRowFloat"
        q.scalingPerOutputChannel = true
        return q
    }()

    mutating func makeDynamic() {
        dynamicScaling = true
        scalingImplType = .stats
    }

    static func dynamicPreset(named name: String) -> ActQuant? {
        switch name {
        case "Int8DynamicActPerTensorFloat": return .int8DynamicActPerTensorFloat
        case "ShiftedUint8DynamicActPerTensorFloat": return .shiftedUint8DynamicActPerTensorFloat
        case "Int8DynamicActPerGroupFloat": return .int8DynamicActPerGroupFloat
        case "ShiftedUint8DynamicActPerGroupFloat": return .shiftedUint8DynamicActPerGroupFloat
        case "Int8DynamicActPerRowFloat": return .int8DynamicActPerRowFloat
        case "ShiftedUint8DynamicActPerRowFloat": return .shiftedUint8DynamicActPerRowFloat
        default: return nil
        }
    }

    public static let dynamicPresetNames = [
        "Int8DynamicActPerTensorFloat", "ShiftedUint8DynamicActPerTensorFloat", "Int8DynamicActPerGroupFloat", "ShiftedUint8DynamicActPerGroupFloat",
        "Int8DynamicActPerRowFloat", "ShiftedUint8DynamicActPerRowFloat",
    ]
}
