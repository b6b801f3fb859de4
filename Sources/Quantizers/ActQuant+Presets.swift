/// Brevitas's activation presets (`brevitas.quant.scaled_int`, `shifted_scaled_int`,
/// `fixed_point`, `binary`, `ternary`), with Brevitas's names.
extension ActQuant {
    /// Signed 8-bit, per-tensor float scale from the 99.999th percentile of |x| collected over 300
    /// training calls, then learned. Threshold 128.
    public static let int8ActPerTensorFloat = ActQuant(preset: "Int8ActPerTensorFloat")

    /// Unsigned 8-bit version of `int8ActPerTensorFloat` (threshold 255): `QuantReLU`'s default.
    public static let uint8ActPerTensorFloat: ActQuant = {
        var q = ActQuant(preset: "Uint8ActPerTensorFloat")
        q.signed = false
        return q
    }()

    /// Unsigned 8-bit with a learned zero point: range from the 0.001st..99.999th percentile
    /// interval, zero point from the negative tail.
    public static let shiftedUint8ActPerTensorFloat: ActQuant = {
        var q = ActQuant(preset: "ShiftedUint8ActPerTensorFloat")
        q.signed = false
        q.scalingStatsOp = .percentileInterval
        q.zeroPointImplType = .parameterFromStats
        return q
    }()

    /// `shiftedUint8ActPerTensorFloat` with a power-of-two scale (threshold 2^8, learned log2
    /// scale rounded up once collection ends).
    public static let shiftedUint8ActPerTensorFixedPoint: ActQuant = {
        var q = shiftedUint8ActPerTensorFloat
        q.preset = "ShiftedUint8ActPerTensorFixedPoint"
        q.restrictScalingType = .powerOfTwo
        q.restrictValueFloatToInt = .ceil
        return q
    }()

    /// Signed 8-bit with power-of-two scales (`2^ceil(log2 ...)`).
    public static let int8ActPerTensorFixedPoint: ActQuant = {
        var q = ActQuant(preset: "Int8ActPerTensorFixedPoint")
        q.restrictScalingType = .powerOfTwo
        q.restrictValueFloatToInt = .ceil
        return q
    }()

    /// Unsigned 8-bit with power-of-two scales.
    public static let uint8ActPerTensorFixedPoint: ActQuant = {
        var q = int8ActPerTensorFixedPoint
        q.preset = "Uint8ActPerTensorFixedPoint"
        q.signed = false
        return q
    }()

    /// Signed 8-bit with a learned range: `QuantHardTanh`'s default, which fills in the layer's
    /// `minVal`/`maxVal`. Used elsewhere, validation requires both to be set.
    public static let int8ActPerTensorFloatMinMaxInit: ActQuant = {
        var q = ActQuant(preset: "Int8ActPerTensorFloatMinMaxInit")
        q.scalingImplType = .parameter
        q.scalingMinVal = nil
        return q
    }()

    /// Signed 8-bit with a learned range initialised to `max(|minVal|, |maxVal|)`.
    public static func int8ActPerTensorFloatMinMaxInit(minVal: Float, maxVal: Float) -> ActQuant {
        var q = ActQuant(preset: "Int8ActPerTensorFloatMinMaxInit")
        q.scalingImplType = .parameter
        q.scalingMinVal = nil
        q.minVal = minVal
        q.maxVal = maxVal
        return q
    }

    /// Unsigned 8-bit with a learned range initialised to `maxVal`.
    public static func uint8ActPerTensorFloatMaxInit(maxVal: Float) -> ActQuant {
        var q = ActQuant(preset: "Uint8ActPerTensorFloatMaxInit")
        q.signed = false
        q.scalingImplType = .parameter
        q.scalingMinVal = nil
        q.maxVal = maxVal
        return q
    }

    /// Signed 8-bit with a learned power-of-two scale initialised from `max(|minVal|, |maxVal|)`
    /// (`2^ceil(log2 ·) / 128`).
    public static let int8ActPerTensorFixedPointMinMaxInit: ActQuant = {
        var q = int8ActPerTensorFloatMinMaxInit
        q.preset = "Int8ActPerTensorFixedPointMinMaxInit"
        q.restrictScalingType = .powerOfTwo
        q.restrictValueFloatToInt = .ceil
        return q
    }()

    /// Unsigned 8-bit with a learned power-of-two scale initialised from `maxVal`
    /// (`2^ceil(log2 ·) / 256`; Brevitas's example: `max_val = 0.5` gives a range of
    /// 255 · 0.5 / 256 = 0.498).
    public static let uint8ActPerTensorFixedPointMaxInit: ActQuant = {
        var q = ActQuant(preset: "Uint8ActPerTensorFixedPointMaxInit")
        q.signed = false
        q.scalingImplType = .parameter
        q.scalingMinVal = nil
        q.minVal = 0
        q.restrictScalingType = .powerOfTwo
        q.restrictValueFloatToInt = .ceil
        return q
    }()

    /// ±1 sign activations with a constant scale of 1.
    public static let signedBinaryActPerTensorConst: ActQuant = {
        var q = ActQuant(preset: "SignedBinaryActPerTensorConst")
        q.quantType = .binary
        q.bitWidth = 1
        q.scalingImplType = .const
        q.minVal = -1
        q.maxVal = 1
        return q
    }()

    /// {−1, 0, +1} activations (threshold 0.5 of the scale) with a constant scale of 1.
    public static let signedTernaryActPerTensorConst: ActQuant = {
        var q = ActQuant(preset: "SignedTernaryActPerTensorConst")
        q.quantType = .ternary
        q.bitWidth = 2
        q.scalingImplType = .const
        q.minVal = -1
        q.maxVal = 1
        return q
    }()

    /// Presets by Brevitas class name, for the string-keyed boundary. Presets that need values
    /// (`...MinMaxInit`) are built from `min_val`/`max_val` keywords.
    public static func preset(named name: String, minVal: Float? = nil, maxVal: Float? = nil) -> ActQuant? {
        switch name {
        case "Int8ActPerTensorFloat": return .int8ActPerTensorFloat
        case "Uint8ActPerTensorFloat": return .uint8ActPerTensorFloat
        case "ShiftedUint8ActPerTensorFloat": return .shiftedUint8ActPerTensorFloat
        case "ShiftedUint8ActPerTensorFixedPoint": return .shiftedUint8ActPerTensorFixedPoint
        case "Int8ActPerTensorFixedPoint": return .int8ActPerTensorFixedPoint
        case "Uint8ActPerTensorFixedPoint": return .uint8ActPerTensorFixedPoint
        case "Int8ActPerTensorFloatMinMaxInit":
            var q = ActQuant.int8ActPerTensorFloatMinMaxInit
            q.minVal = minVal
            q.maxVal = maxVal
            return q
        case "Uint8ActPerTensorFloatMaxInit":
            var q = uint8ActPerTensorFloatMaxInit(maxVal: maxVal ?? .nan)
            q.maxVal = maxVal
            return q
        case "Int8ActPerTensorFixedPointMinMaxInit":
            var q = ActQuant.int8ActPerTensorFixedPointMinMaxInit
            q.minVal = minVal
            q.maxVal = maxVal
            return q
        case "Uint8ActPerTensorFixedPointMaxInit":
            var q = ActQuant.uint8ActPerTensorFixedPointMaxInit
            q.maxVal = maxVal
            if let minVal { q.minVal = minVal }
            return q
        case "SignedBinaryActPerTensorConst": return .signedBinaryActPerTensorConst
        case "SignedTernaryActPerTensorConst": return .signedTernaryActPerTensorConst
        default: return minifloatAct(name) ?? groupwisePreset(named: name) ?? msePreset(named: name) ?? hqoPreset(named: name) ?? dynamicPreset(named: name)
        }
    }

    /// Names accepted by `preset(named:)`.
    public static let presetNames = [
        "Int8ActPerTensorFloat", "Uint8ActPerTensorFloat", "ShiftedUint8ActPerTensorFloat", "ShiftedUint8ActPerTensorFixedPoint",
        "Int8ActPerTensorFixedPoint", "Uint8ActPerTensorFixedPoint", "Int8ActPerTensorFloatMinMaxInit",
        "Uint8ActPerTensorFloatMaxInit", "Int8ActPerTensorFixedPointMinMaxInit", "Uint8ActPerTensorFixedPointMaxInit",
        "SignedBinaryActPerTensorConst", "SignedTernaryActPerTensorConst",
    ] + minifloatPresetNames + groupwisePresetNames + msePresetNames + hqoPresetNames + dynamicPresetNames
}
