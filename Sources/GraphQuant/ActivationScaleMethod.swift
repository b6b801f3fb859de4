import Quantizers

/// How calibration finds activation scales: `ptq_common.create_quant_maps`'s `act_param_method`
/// (`brevitas_examples/imagenet_classification/ptq`).
///
/// | method | quantizer (signed / after ReLU) | per-batch statistic |
/// |---|---|---|
/// | `stats` | `Int8ActPerTensorFloat` / `Uint8ActPerTensorFloat` | the `high_percentile_q`-th percentile of `|x|` (`act_quant_percentile`, 99.999) |
/// | `mse` | `Int8ActPerTensorFloatMSE` / the same with `signed=False` | the range whose fake quantization of the batch has the least squared error (grid search, `MSEStats`) |
///
/// Either way calibration averages the per-batch statistic over the batches and fixes the scale
/// (``calibrate(_:batchCount:batch:progress:)``).
public enum ActivationScaleMethod: String, CaseIterable, Codable, Sendable {
    case stats
    case mse
}

extension QuantizeMaps {
    /// The recipes of activation quantizers that calibration fits: the activation map's
    /// statistics-based entries (not the ReLU6 one with its learned `max_val`) and the two
    /// requantizers, with the key of their quantizer.
    private var calibratedActivations: [WritableKeyPath<QuantizeMaps, LayerRecipe>] {
        [\.signedIdentity, \.unsignedIdentity]
    }

    /// `act_param_method`: with `.mse`, every calibrated activation quantizer becomes
    /// `Int8ActPerTensorFloatMSE`, unsigned (`signed=False`) where the default was unsigned, as
    /// `create_quant_maps` builds them; `.stats` leaves the maps as they are.
    public mutating func setActivationScaleMethod(_ method: ActivationScaleMethod) {
        guard method == .mse else { return }
        func mse(_ r: LayerRecipe) -> LayerRecipe {
            guard case .quantizer(let preset)? = r.kwargs["act_quant"], Self.percentilePresets.contains(preset) else { return r }
            let mse = r.with("act_quant", .quantizer("Int8ActPerTensorFloatMSE"))
            return preset.hasPrefix("Uint") ? mse.with("signed", .bool(false)) : mse
        }
        for (k, r) in quantActMap { if let r { quantActMap[k] = mse(r) } }
        for p in calibratedActivations { self[keyPath: p] = mse(self[keyPath: p]) }
    }

    /// `act_quant_percentile`: `high_percentile_q` of every percentile-based activation
    /// quantizer (Brevitas's default 99.999; for fewer than 50 000 values that is the maximum).
    public mutating func setActivationPercentile(_ q: Double) {
        func set(_ r: LayerRecipe) -> LayerRecipe {
            guard case .quantizer(let preset)? = r.kwargs["act_quant"], Self.percentilePresets.contains(preset) else { return r }
            return r.with("high_percentile_q", .number(q))
        }
        for (k, r) in quantActMap { if let r { quantActMap[k] = set(r) } }
        for p in calibratedActivations { self[keyPath: p] = set(self[keyPath: p]) }
    }

    /// The activation presets whose scale is a percentile statistic collected in calibration.
    static let percentilePresets: Set<String> = ["Int8ActPerTensorFloat", "Uint8ActPerTensorFloat"]

    /// A `layerwise_quantize` map's input quantizers with `act_param_method` and
    /// `act_quant_percentile` (`input_quant`, `input_high_percentile_q`); `percentile` is ignored
    /// with `.mse`, as Brevitas's MSE statistic ignores it.
    public static func layerwiseMap(_ map: [String: LayerRecipe?], method: ActivationScaleMethod, percentile: Double?) -> [String: LayerRecipe?] {
        map.mapValues { r in
            guard var r, case .quantizer(let preset)? = r.kwargs["input_quant"], percentilePresets.contains(preset) else { return r }
            switch method {
            case .mse: r = r.with("input_quant", .quantizer("Int8ActPerTensorFloatMSE"))
            case .stats: if let percentile { r = r.with("input_high_percentile_q", .number(percentile)) }
            }
            return r
        }
    }
}
