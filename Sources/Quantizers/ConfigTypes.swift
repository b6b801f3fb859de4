/// Brevitas's configuration enums (`brevitas.inject.enum`), as Swift enums. Their raw values are
/// Brevitas's spellings, accepted case-insensitively at the string-keyed boundary.

/// How a quantizer obtains its scale (`ScalingImplType`).
public enum ScalingImplType: String, CaseIterable, Sendable {
    /// A fixed clipping range (`ConstScaling`).
    case const
    /// A learned clipping range, initialised from `min_val`/`max_val` (`ParameterScaling`).
    case parameter
    /// Statistics collected for `collect_stats_steps` training calls, then a learned parameter
    /// (`ParameterFromRuntimeStatsScaling`, activations).
    case parameterFromStats = "parameter_from_stats"
    /// Statistics of the tensor itself, recomputed at every call (`StatsFromParameterScaling`, weights).
    case stats
}

/// The statistic behind a statistics-based scale (`StatsOp`).
public enum StatsOp: String, CaseIterable, Sendable {
    /// max |x|.
    case max
    /// The `high_percentile_q` percentile of |x| (`AbsPercentile`).
    case percentile
    /// `x_(high) − min(x_(low), 0)` (`PercentileInterval`), for shifted quantizers.
    case percentileInterval = "percentile_interval"
    /// `max(x) − min(min(x), 0)`-style range (`AbsMinMax`/`MinMax`).
    case minMax = "min_max"
    /// The clipping range with the least squared quantization error, on a grid of 20
    /// candidates (`MSE`, Brevitas's `*MSE` presets).
    case mse
    /// A scale from the half-quadratic optimizer (`HalfQuadraticOptimizerScale`, `*HQO`
    /// weight presets).
    case hqo
}

/// How a scale is constrained (`RestrictValueType`).
public enum RestrictValueType: String, CaseIterable, Sendable {
    /// Any positive float.
    case fp
    /// A power of two, learned as log2 (fixed point).
    case powerOfTwo = "power_of_two"
}

/// The rounding of a restricted value or of the quantized integer (`FloatToIntImplType`).
public enum FloatToIntImplType: String, CaseIterable, Sendable {
    case round, ceil, floor
}

/// The integer-quantization family (`QuantType`).
public enum QuantType: String, CaseIterable, Sendable {
    /// Integer quantization at `bit_width` bits.
    case int
    /// Sign quantization to ±scale (1 bit).
    case binary
    /// {−scale, 0, +scale} with a threshold (2 bits).
    case ternary
    /// A minifloat (FP8, FP6, FP4, ...): `exponent_bit_width`, `mantissa_bit_width` and the
    /// standard's bias and codes (Brevitas's `FloatQuant` quantizers).
    case minifloat
}

/// Which convention a minifloat follows: its exponent bias and reserved inf/NaN codes.
public enum FloatStandard: String, CaseIterable, Sendable {
    /// OCP (`FpOCPMixin`): bias `2^(e−1) − 1`; 8-bit e4m3 reserves NaN `111`, 8-bit e5m2 inf `00`
    /// and NaN `01 11 10`; other widths reserve nothing. Declares `max_available_float`.
    case ocp
    /// AMD FNUZ (`FpFNUZMixin`): bias `2^(e−1)`, no reserved codes.
    case fnuz
    /// Brevitas's plain minifloat (`brevitas.quant.experimental.float`): bias `2^(e−1) − 1`,
    /// no reserved codes.
    case plain
}

/// How a zero point is obtained (Brevitas's `zero_point_impl` class).
public enum ZeroPointImplType: String, CaseIterable, Sendable {
    /// No zero point (symmetric quantization, `ZeroZeroPoint`).
    case zero
    /// Collected from the negative tail, then learned (`ParameterFromRuntimeZeroPoint`, activations).
    case parameterFromStats = "parameter_from_stats"
    /// Learned from `zero_point_init` (`ParameterZeroPoint`).
    case parameter
    /// `−min(min(W), 0)` of the weight, recomputed every call (`StatsFromParameterZeroPoint` with
    /// `NegativeMinOrZero`, weights).
    case stats
}

/// How a quantizer obtains its bit width (`BitWidthImplType`).
public enum BitWidthImplType: String, CaseIterable, Sendable {
    /// A fixed bit width (`BitWidthConst`).
    case const
    /// A learned bit width, `round(|offset| + min_bit_width)` (`BitWidthParameter`).
    case parameter
}

/// Rounding of truncation (`TruncTo8bit` floors, `RoundTo8bit` rounds).
public enum TruncRounding: String, CaseIterable, Sendable {
    case round, floor
}

/// Where a resolved setting came from, for `explain()`.
public enum SettingOrigin: Equatable, Sendable, CustomStringConvertible {
    /// The preset's value.
    case preset(String)
    /// A per-layer override (key path or keyword).
    case override
    /// Derived from other settings or from the layer (e.g. the per-channel shape of a weight).
    case derived(String)

    public var description: String {
        switch self {
        case .preset(let p): return "preset \(p)"
        case .override: return "override"
        case .derived(let why): return "derived: \(why)"
        }
    }
}
