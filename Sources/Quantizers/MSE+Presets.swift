import QuantCore
import TensorEngine

/// Brevitas's loss-driven (`*MSE`) presets and the MSE statistic of a configuration.
///
/// | preset | scale |
/// |---|---|
/// | `Int8ActPerTensorFloatMSE`, `Fp8e4m3OCPActPerTensorFloatMSE`, ... | runtime statistics whose statistic is the MSE grid search (`MSEStats`), then learned |
/// | `Int8WeightPerTensorFloatMSE`, `Int8WeightPerChannelFloatMSE`, `Fp8e4m3OCPWeightPerChannelFloatMSE`, ... | the search at the first forward initialises a learned scale (`ParameterFromStatsFromParameterScaling`) |
extension ActQuant {
    /// The MSE statistic with this quantizer's threshold and fake quantization. With the shifted
    /// presets' MSE zero point `zeroPoint`, every scale candidate quantizes with that search's
    /// current candidate (see `MSEZeroPointStats`). While statistics are collected the scale is
    /// `max(c, scaling_min_val) / threshold` even for power-of-two presets (Brevitas restricts
    /// only the learned value), with the power-of-two threshold 2^(b−1) / 2^b for those.
    func mseStats(zeroPoint zp: MSEZeroPointStats? = nil) -> MSEStats {
        if quantType == .minifloat {
            let f = minifloatFormat
            return MSEStats(threshold: f.maxValue) { x, s in MinifloatQuantize.apply(x, scale: s, format: f) }
        }
        let r = intRange, b = r.bounds
        let bw = Tensor(Float(bitWidth))
        return MSEStats(threshold: Float(r.threshold(powerOfTwo: restrictScalingType == .powerOfTwo)), scalingMinVal: scalingMinVal,
                        initOp: zp == nil ? nil : AbsMinMax()) { x, s in
            FakeQuantize.apply(x, scale: s, zeroPoint: zp?.localLossZeroPoint(x, scale: s, bitWidth: bw) ?? Tensor(0),
                               minInt: b.min, maxInt: b.max)
        }
    }

    public static let int8ActPerTensorFloatMSE: ActQuant = {
        var q = ActQuant(preset: "Int8ActPerTensorFloatMSE")
        q.scalingStatsOp = .mse
        return q
    }()

    /// `Uint8ActPerTensorFloat` with the MSE search of `max|x|` (threshold 255).
    public static let uint8ActPerTensorFloatMSE = mse(of: .uint8ActPerTensorFloat, "Uint8ActPerTensorFloatMSE")

    /// `Int8ActPerTensorFixedPoint` with the MSE search (float scales while collecting, then a
    /// learned power-of-two scale).
    public static let int8ActPerTensorFixedPointMSE = mse(of: .int8ActPerTensorFixedPoint, "Int8ActPerTensorFixedPointMSE")

    /// `Uint8ActPerTensorFixedPoint` with the MSE search (threshold 256 = 2^8).
    public static let uint8ActPerTensorFixedPointMSE = mse(of: .uint8ActPerTensorFixedPoint, "Uint8ActPerTensorFixedPointMSE")

    /// Unsigned 8-bit with a learned zero point, both found by MSE on every collection call
    /// (`MSEAsymmetricScale` + `MSEActZeroPoint`): the scale from a grid over `|max − min|`,
    /// then the zero point from a grid over `min(min(x), 0)` (see `MSEZeroPointStats`).
    public static let shiftedUint8ActPerTensorFloatMSE = mse(of: .shiftedUint8ActPerTensorFloat, "ShiftedUint8ActPerTensorFloatMSE")

    /// `ShiftedUint8ActPerTensorFixedPoint` with the MSE scale and zero point.
    public static let shiftedUint8ActPerTensorFixedPointMSE = mse(of: .shiftedUint8ActPerTensorFixedPoint, "ShiftedUint8ActPerTensorFixedPointMSE")

    /// `base` with Brevitas's MSE mixins: `MSESymmetricScale`, or for a shifted base also
    /// `MSEAsymmetricScale` + `MSEActZeroPoint`.
    static func mse(of base: ActQuant, _ name: String) -> ActQuant {
        var q = base
        q.preset = name
        q.scalingStatsOp = .mse
        if base.zeroPointImplType == .parameterFromStats { q.zeroPointMSE = true }
        return q
    }

    static func msePreset(named name: String) -> ActQuant? {
        switch name {
        case "Int8ActPerTensorFloatMSE": return .int8ActPerTensorFloatMSE
        case "Uint8ActPerTensorFloatMSE": return .uint8ActPerTensorFloatMSE
        case "Int8ActPerTensorFixedPointMSE": return .int8ActPerTensorFixedPointMSE
        case "Uint8ActPerTensorFixedPointMSE": return .uint8ActPerTensorFixedPointMSE
        case "ShiftedUint8ActPerTensorFloatMSE": return .shiftedUint8ActPerTensorFloatMSE
        case "ShiftedUint8ActPerTensorFixedPointMSE": return .shiftedUint8ActPerTensorFixedPointMSE
        default: break
        }
        guard name.hasSuffix("MSE"), var q = minifloatAct(String(name.dropLast(3))), q.scalingImplType == .parameterFromStats else { return nil }
        q.preset = name
        q.scalingStatsOp = .mse
        return q
    }

    public static let msePresetNames = [
        "Int8ActPerTensorFloatMSE", "Uint8ActPerTensorFloatMSE", "Int8ActPerTensorFixedPointMSE", "Uint8ActPerTensorFixedPointMSE",
        "ShiftedUint8ActPerTensorFloatMSE", "ShiftedUint8ActPerTensorFixedPointMSE",
    ] + MinifloatPresetName.formats.flatMap { ["\($0)ActPerTensorFloatMSE", "\($0)ActPerChannelFloat2dMSE"] }
}

extension WeightQuant {
    /// The MSE statistic with this quantizer's threshold and fake quantization. Each candidate
    /// range `c` becomes the scale the quantizer would compute from it (Brevitas's local-loss
    /// forward of `ParameterFromStatsFromParameterScaling`): `max(c, scaling_min_val) / threshold`,
    /// or `2^ceil(log2 c) / 2^ceil(log2 threshold)` for power-of-two presets. With the shifted
    /// presets' MSE zero point `zeroPoint`, every candidate quantizes with that search's current
    /// candidate (see `MSEZeroPointStats`).
    func mseStats(zeroPoint zp: MSEZeroPointStats? = nil) -> MSEStats {
        if quantType == .minifloat {
            let f = minifloatFormat
            return MSEStats(threshold: f.maxValue) { x, s in MinifloatQuantize.apply(x, scale: s, format: f) }
        }
        let r = IntRange(bitWidth: bitWidth, signed: signed, narrowRange: narrowRange), b = r.bounds
        let threshold = Float(r.threshold(powerOfTwo: restrictScalingType == .powerOfTwo))
        let restrict = self.restrict, minVal = scalingMinVal
        let candidateScale: ((Tensor) -> Tensor)? = restrictScalingType == .fp ? nil : { c in
            signedClampMin(restrict.restrict(restrict.pre(signedClampMin(c, minVal))), minVal)
                / restrict.restrict(restrict.pre(Tensor(threshold)))
        }
        let bw = Tensor(Float(bitWidth))
        return MSEStats(threshold: threshold, scalingMinVal: minVal, candidateScale: candidateScale,
                        initOp: zp == nil ? nil : AbsMinMax()) { x, s in
            FakeQuantize.apply(x, scale: s, zeroPoint: zp?.localLossZeroPoint(x, scale: s, bitWidth: bw) ?? Tensor(0),
                               minInt: b.min, maxInt: b.max, clampSte: true)
        }
    }

    /// Unsigned 8-bit, one scale and one zero point for the whole weight, both found by MSE at
    /// the first forward, then learned (`MSEAsymmetricScale` + `MSEWeightZeroPoint`): the scale
    /// from a grid over `|max − min|` quantizing with `z = round(−min(min(W), 0) / s)`, then the
    /// zero point from a grid over `min(min(W), 0)` with the scale found.
    public static let shiftedUint8WeightPerTensorFloatMSE = msePreset(named: "ShiftedUint8WeightPerTensorFloatMSE")!

    /// As `shiftedUint8WeightPerTensorFloatMSE` per output channel.
    public static let shiftedUint8WeightPerChannelFloatMSE = msePreset(named: "ShiftedUint8WeightPerChannelFloatMSE")!

    /// Brevitas's MSE weight presets: a base preset whose scale is recomputed from the weight
    /// (`stats`) becomes a learned scale initialised by the MSE search (`MSESymmetricScale`);
    /// a shifted base also gets the MSE zero point (`MSEAsymmetricScale` + `MSEWeightZeroPoint`).
    static func msePreset(named name: String) -> WeightQuant? {
        guard name.hasSuffix("MSE") else { return nil }
        let base = String(name.dropLast(3))
        let named: WeightQuant?
        switch base {
        case "Int8WeightPerTensorFloat": named = .int8WeightPerTensorFloat
        case "Int8WeightPerChannelFloat": named = .int8WeightPerChannelFloat
        case "Int8WeightPerTensorFixedPoint": named = .int8WeightPerTensorFixedPoint
        case "Int8WeightPerChannelFixedPoint": named = .int8WeightPerChannelFixedPoint
        case "ShiftedUint8WeightPerTensorFloat": named = .shiftedUint8WeightPerTensorFloat
        case "ShiftedUint8WeightPerChannelFloat": named = .shiftedUint8WeightPerChannelFloat
        default: named = minifloatWeight(base)
        }
        guard var q = named, q.scalingImplType == .stats else { return nil }
        q.preset = name
        q.scalingImplType = .parameterFromStats
        q.scalingStatsOp = .mse
        if q.zeroPointImplType == .stats {
            q.zeroPointImplType = .parameterFromStats
            q.zeroPointMSE = true
        }
        return q
    }

    public static let msePresetNames = [
        "Int8WeightPerTensorFloatMSE", "Int8WeightPerChannelFloatMSE", "Int8WeightPerTensorFixedPointMSE", "Int8WeightPerChannelFixedPointMSE",
        "ShiftedUint8WeightPerTensorFloatMSE", "ShiftedUint8WeightPerChannelFloatMSE",
    ]
        + MinifloatPresetName.formats.flatMap { ["\($0)WeightPerTensorFloatMSE", "\($0)WeightPerChannelFloatMSE"] }
}
