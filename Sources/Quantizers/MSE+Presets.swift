import QuantCore
import TensorEngine

/// Brevitas's loss-driven (`*MSE`) presets and the MSE statistic of a configuration.
///
/// | preset | scale |
/// |---|---|
/// | `Int8ActPerTensorFloatMSE`, `Fp8e4m3OCPActPerTensorFloatMSE`, ... | runtime statistics whose statistic is the MSE grid search (`MSEStats`), then learned |
/// | `Int8WeightPerTensorFloatMSE`, `Int8WeightPerChannelFloatMSE`, `Fp8e4m3OCPWeightPerChannelFloatMSE`, ... | the search at the first forward initialises a learned scale (`ParameterFromStatsFromParameterScaling`) |
extension ActQuant {
    /// The MSE statistic with this quantizer's threshold and fake quantization.
    func mseStats() -> MSEStats {
        if quantType == .minifloat {
            let f = minifloatFormat
            return MSEStats(threshold: f.maxValue) { x, s in MinifloatQuantize.apply(x, scale: s, format: f) }
        }
        let r = intRange, b = r.bounds
        return MSEStats(threshold: Float(r.threshold)) { x, s in
            FakeQuantize.apply(x, scale: s, zeroPoint: Tensor(0), minInt: b.min, maxInt: b.max)
        }
    }

    public static let int8ActPerTensorFloatMSE: ActQuant = {
        var q = ActQuant(preset: "Int8ActPerTensorFloatMSE")
        q.scalingStatsOp = .mse
        return q
    }()

    static func msePreset(named name: String) -> ActQuant? {
        if name == "Int8ActPerTensorFloatMSE" { return .int8ActPerTensorFloatMSE }
        guard name.hasSuffix("MSE"), var q = minifloatAct(String(name.dropLast(3))), q.scalingImplType == .parameterFromStats else { return nil }
        q.preset = name
        q.scalingStatsOp = .mse
        return q
    }

    public static let msePresetNames = ["Int8ActPerTensorFloatMSE"]
        + MinifloatPresetName.formats.flatMap { ["\($0)ActPerTensorFloatMSE", "\($0)ActPerChannelFloat2dMSE"] }
}

extension WeightQuant {
    /// The MSE statistic with this quantizer's threshold and fake quantization.
    func mseStats() -> MSEStats {
        if quantType == .minifloat {
            let f = minifloatFormat
            return MSEStats(threshold: f.maxValue) { x, s in MinifloatQuantize.apply(x, scale: s, format: f) }
        }
        let r = IntRange(bitWidth: bitWidth, signed: signed, narrowRange: narrowRange), b = r.bounds
        return MSEStats(threshold: Float(r.threshold)) { x, s in
            FakeQuantize.apply(x, scale: s, zeroPoint: Tensor(0), minInt: b.min, maxInt: b.max, clampSte: true)
        }
    }

    static func msePreset(named name: String) -> WeightQuant? {
        guard name.hasSuffix("MSE") else { return nil }
        let base = String(name.dropLast(3))
        guard var q = base == "Int8WeightPerTensorFloat" ? .int8WeightPerTensorFloat
            : base == "Int8WeightPerChannelFloat" ? .int8WeightPerChannelFloat : minifloatWeight(base),
            q.scalingImplType == .stats
        else { return nil }
        q.preset = name
        q.scalingImplType = .parameterFromStats
        q.scalingStatsOp = .mse
        return q
    }

    public static let msePresetNames = ["Int8WeightPerTensorFloatMSE", "Int8WeightPerChannelFloatMSE"]
        + MinifloatPresetName.formats.flatMap { ["\($0)WeightPerTensorFloatMSE", "\($0)WeightPerChannelFloatMSE"] }
}
