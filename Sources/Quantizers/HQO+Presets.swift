import QuantCore
import TensorEngine

/// Brevitas's half-quadratic (`*HQO`) weight presets.
extension WeightQuant {
    /// The HQO scale statistic with this quantizer's integer threshold and fake quantization.
    func hqoScaleStats() -> HQOScaleStats {
        let r = IntRange(bitWidth: bitWidth, signed: signed, narrowRange: narrowRange), b = r.bounds
        return HQOScaleStats(threshold: Float(r.threshold), bitWidth: bitWidth, scalingMinVal: scalingMinVal) { x, s in
            FakeQuantize.apply(x, scale: s, zeroPoint: Tensor(0), minInt: b.min, maxInt: b.max, clampSte: true)
        }
    }

    /// This quantizer named `preset`, its scale initialised by the half-quadratic optimizer at
    /// the first forward (`parameter_from_stats` with the `hqo` statistic), then learned.
    func withHQOScale(preset: String) -> WeightQuant {
        var q = self
        q.preset = preset
        q.scalingImplType = .parameterFromStats
        q.scalingStatsOp = .hqo
        return q
    }

    /// This quantizer named `preset`, its zero point initialised by the HQO search at the first
    /// forward (`parameter_from_stats`), then learned and not rounded.
    func withHQOZeroPoint(preset: String) -> WeightQuant {
        var q = self
        q.preset = preset
        q.zeroPointImplType = .parameterFromStats
        q.zeroPointHQO = true
        q.quantizeZeroPoint = false
        return q
    }

    /// Signed narrow int8, one scale for the whole weight from the half-quadratic optimizer
    /// (over the flattened weight) at the first forward, then learned.
    public static let int8WeightPerTensorFloatHQO = int8WeightPerTensorFloat.withHQOScale(preset: "Int8WeightPerTensorFloatHQO")

    /// Signed narrow int8, one scale per output channel from the half-quadratic optimizer at
    /// the first forward, then learned.
    public static let int8WeightPerChannelFloatHQO = int8WeightPerChannelFloat.withHQOScale(preset: "Int8WeightPerChannelFloatHQO")

    static func hqoPreset(named name: String) -> WeightQuant? {
        switch name {
        case "Int8WeightPerTensorFloatHQO": return .int8WeightPerTensorFloatHQO
        case "Int8WeightPerChannelFloatHQO": return .int8WeightPerChannelFloatHQO
        case "ShiftedUint8WeightPerTensorFloatHQO": return .shiftedUint8WeightPerTensorFloatHQO
        case "ShiftedUint8WeightPerChannelFloatHQO": return .shiftedUint8WeightPerChannelFloatHQO
        case "ShiftedUint8WeightPerGroupFloatHQO": return .shiftedUint8WeightPerGroupFloatHQO
        default: return nil
        }
    }

    public static let hqoPresetNames = [
        "Int8WeightPerTensorFloatHQO", "Int8WeightPerChannelFloatHQO", "ShiftedUint8WeightPerTensorFloatHQO", "ShiftedUint8WeightPerChannelFloatHQO",
        "ShiftedUint8WeightPerGroupFloatHQO",
    ]
}

/// The shifted presets whose zero point comes from the half-quadratic optimizer.
extension ActQuant {
    /// `ShiftedUint8ActPerTensorFloat` with the HQO zero point (not rounded), one search per
    /// collection call.
    public static let shiftedUint8ActPerTensorFloatHQO: ActQuant = {
        var q = shiftedUint8ActPerTensorFloat
        q.preset = "ShiftedUint8ActPerTensorFloatHQO"
        q.zeroPointHQO = true
        q.quantizeZeroPoint = false
        return q
    }()

    static func hqoPreset(named name: String) -> ActQuant? {
        name == "ShiftedUint8ActPerTensorFloatHQO" ? .shiftedUint8ActPerTensorFloatHQO : nil
    }

    public static let hqoPresetNames = ["ShiftedUint8ActPerTensorFloatHQO"]
}

extension WeightQuant {
    /// Unsigned 8-bit, min/max scale of the whole weight recomputed every call
    /// (`ShiftedUint8WeightPerTensorFloat`), one zero point initialised by the HQO search over
    /// the flattened weight at the first forward, then learned (not rounded):
    /// `zero_point_impl.value` of shape `[]`.
    public static let shiftedUint8WeightPerTensorFloatHQO =
        shiftedUint8WeightPerTensorFloat.withHQOZeroPoint(preset: "ShiftedUint8WeightPerTensorFloatHQO")

    /// As `shiftedUint8WeightPerTensorFloatHQO` with one scale and one searched zero point per
    /// output channel (`zero_point_impl.value` of the scale's shape, `[C, 1]` for a linear weight).
    public static let shiftedUint8WeightPerChannelFloatHQO =
        shiftedUint8WeightPerChannelFloat.withHQOZeroPoint(preset: "ShiftedUint8WeightPerChannelFloatHQO")

    /// Unsigned 8-bit per group (default 32): scale from the group's min/max, zero point
    /// initialised by the HQO search at the first forward, then learned (not rounded).
    public static let shiftedUint8WeightPerGroupFloatHQO: WeightQuant = {
        var q = shiftedUint8WeightGroupQuantFloat.withHQOZeroPoint(preset: "ShiftedUint8WeightPerGroupFloatHQO")
        q.groupSize = 32
        return q
    }()
}
