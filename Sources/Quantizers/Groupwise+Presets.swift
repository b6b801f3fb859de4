/// Brevitas's group-wise presets: OCP microscaling (`brevitas.quant.experimental.mx_quant_ocp`)
/// and the group-wise shifted integer weight (`shifted_scaled_int`).
///
/// | preset | codes | scale per group of `group_size` (default 32) |
/// |---|---|---|
/// | `MXInt8Weight`, `MXInt8Act` | int8 `[-128, 127]` | `2^(floor(log2 max|x_g|) − 7)` (E8M0) |
/// | `MXFloat8e4m3Weight`, `MXFloat8e4m3Act` | OCP e4m3 | `2^(floor(log2 max|x_g|) − 8)` (E8M0; `floor(log2 448) = 8`) |
/// | `ShiftedUint8WeightGroupQuantFloat` | uint8, zero point per group | `(max(x_g) − min(min(x_g), 0)) / 255` |
/// | `ShiftedMXUInt8Weight` | uint8, zero point per group | `2^floor(log2(max(x_g) − min(min(x_g), 0))) / 2^8` (E8M0) |
///
/// Weights group along dim 1 (input features, or input channels of a conv weight);
/// activations along `group_dim` (default −1, the last dimension). Activation scales are
/// recomputed from every input (dynamic); there is no state.
///
/// ```swift
/// QuantLinear(1024, 1024, weightQuant: .mxInt8Weight, inputQuant: .mxInt8Act)
/// QuantConv2d(64, 8, kernelSize: 3, weightQuant: .mxInt8Weight.with(\.groupSize, 16),
///             inputQuant: .mxInt8Act.with(\.groupSize, 16).with(\.groupDim, 1))
/// ```
extension WeightQuant {
    public static let mxInt8Weight: WeightQuant = {
        var q = WeightQuant(preset: "MXInt8Weight")
        q.narrowRange = false
        q.makeMX()
        return q
    }()

    public static let mxFloat8e4m3Weight: WeightQuant = {
        var q = minifloatWeight("Fp8e4m3OCPWeightPerTensorFloat")!
        q.preset = "MXFloat8e4m3Weight"
        q.makeMX()
        return q
    }()

    /// Unsigned 8-bit with a scale and a zero point per group (`group_size` is required).
    public static let shiftedUint8WeightGroupQuantFloat: WeightQuant = {
        var q = shiftedUint8WeightPerTensorFloat
        q.preset = "ShiftedUint8WeightGroupQuantFloat"
        q.scalingPerGroup = true
        return q
    }()

    /// Unsigned 8-bit with a zero point per group of 32 and an E8M0 scale from the group's
    /// min/max (`ShiftedMXUInt8Weight`): `2^floor(log2((max(x_g) − min(min(x_g), 0)))) / 2^8`.
    public static let shiftedMXUInt8Weight: WeightQuant = {
        var q = shiftedUint8WeightGroupQuantFloat
        q.preset = "ShiftedMXUInt8Weight"
        q.makeMX()
        q.scalingStatsOp = .minMax
        return q
    }()

    mutating func makeMX() {
        scalingStatsOp = .max
        restrictScalingType = .powerOfTwo
        restrictValueFloatToInt = .floor
        scalingPerGroup = true
        groupSize = 32
    }

    static func groupwisePreset(named name: String) -> WeightQuant? {
        switch name {
        case "MXInt8Weight": return .mxInt8Weight
        case "MXFloat8e4m3Weight": return .mxFloat8e4m3Weight
        case "ShiftedUint8WeightGroupQuantFloat": return .shiftedUint8WeightGroupQuantFloat
        case "ShiftedMXUInt8Weight": return .shiftedMXUInt8Weight
        default: return nil
        }
    }

    public static let groupwisePresetNames = ["MXInt8Weight", "MXFloat8e4m3Weight", "ShiftedUint8WeightGroupQuantFloat", "ShiftedMXUInt8Weight"]
}

extension ActQuant {
    public static let mxInt8Act: ActQuant = {
        var q = ActQuant(preset: "MXInt8Act")
        q.makeMX()
        return q
    }()

    public static let mxFloat8e4m3Act: ActQuant = {
        var q = minifloatAct("Fp8e4m3OCPActPerTensorFloat")!
        q.preset = "MXFloat8e4m3Act"
        q.makeMX()
        return q
    }()

    mutating func makeMX() {
        scalingImplType = .stats
        scalingStatsOp = .max
        restrictScalingType = .powerOfTwo
        restrictValueFloatToInt = .floor
        scalingPerGroup = true
        groupSize = 32
    }

    static func groupwisePreset(named name: String) -> ActQuant? {
        switch name {
        case "MXInt8Act": return .mxInt8Act
        case "MXFloat8e4m3Act": return .mxFloat8e4m3Act
        default: return nil
        }
    }

    public static let groupwisePresetNames = ["MXInt8Act", "MXFloat8e4m3Act"]
}
