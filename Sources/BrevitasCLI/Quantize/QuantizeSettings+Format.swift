import Graph
import GraphQuant
import Models
import NN
import Quantizers

/// `brevitas quantize --format`: the quantizers of a minifloat or MX format, as Brevitas's
/// `ptq_common.create_quant_maps` makes them for `quant_format='float_ocp'` (`float_scale`) and
/// for the MX entries (`po2_scale`, `per_group`), with this port's FNUZ and `eXmY` presets of
/// the same families:
///
/// | format | weights | activations, requantizers, layerwise inputs | biases |
/// |---|---|---|---|
/// | `fp8e4m3`, `fp8e5m2` (+`fnuz`) | `Fp8e4m3OCPWeightPerTensorFloat`, ... (`PerChannelFloat` with `--per-channel`) | `Fp8e4m3OCPActPerTensorFloat`, ... (max statistics, calibrated) | float |
/// | `fp6`, `fp4`, `eXmY` | `FpOCPWeightPerTensorFloat` with `weight_bit_width`, `weight_exponent_bit_width`, `weight_mantissa_bit_width` | `FpOCPActPerTensorFloat` likewise | float |
/// | `mxint8`, `mxfp8` (`--layerwise` only) | `MXInt8Weight`, `MXFloat8e4m3Weight` with `weight_group_size` | `MXInt8Act`, `MXFloat8e4m3Act`, `group_dim` 1, dynamic | float |
///
/// Minifloat weights get `create_quant_maps`'s `narrow_range` and scale taken once from the
/// weights, as integer ones. Biases stay float: Brevitas's `Int32Bias` needs an integer input
/// scale, which a minifloat or MX input does not give ("Input scale required"), so ptq_common
/// runs these formats with `bias_bit_width=None`. MX needs `--layerwise`: Brevitas's graph
/// `quantize` cannot place group-wise activation quantizers ("Cannot determine automatically
/// group_dim for QuantIdentity").
extension QuantizeSettings {
    /// The format in effect (`int` when not given).
    var effectiveFormat: QuantFormat { format ?? .int }

    /// Keywords of one role (`weight_`, `input_`, or none for an activation layer) for a
    /// non-integer format: the preset under `quantKey` and the format's widths or group.
    func formatKeywords(prefix: String, quantKey: String) -> [String: ConfigValue] {
        func n(_ v: Int) -> ConfigValue { .number(Double(v)) }
        let isWeight = prefix == "weight_"
        switch effectiveFormat {
        case .int: return [:]
        case .minifloat(let e, let m, let fnuz):
            let named = (e == 4 && m == 3) || (e == 5 && m == 2)
            let family = named ? "Fp8e\(e)m\(m)\(fnuz ? "FNUZ" : "OCP")" : (fnuz ? "FpFNUZ" : "FpOCP")
            let preset = family + (isWeight ? (perChannel ? "WeightPerChannelFloat" : "WeightPerTensorFloat") : "ActPerTensorFloat")
            var out: [String: ConfigValue] = [quantKey: .quantizer(preset)]
            if !named {
                out[prefix + "bit_width"] = n(1 + e + m)
                out[prefix + "exponent_bit_width"] = n(e)
                out[prefix + "mantissa_bit_width"] = n(m)
            }
            return out
        case .mxint8, .mxfp8:
            let int = effectiveFormat == .mxint8
            let preset = isWeight ? (int ? "MXInt8Weight" : "MXFloat8e4m3Weight") : (int ? "MXInt8Act" : "MXFloat8e4m3Act")
            var out: [String: ConfigValue] = [quantKey: .quantizer(preset), prefix + "group_size": n(groupSize ?? 32)]
            if !isWeight { out[prefix + "group_dim"] = n(1) }
            return out
        }
    }

    /// With an MX format, the group keywords of each compute layer (`layers`: module paths) as
    /// per-layer overrides rather than map entries, so that an `--override LAYER:weight_quant=...`
    /// or `input_quant=...` that moves a layer off the format leaves it no group keyword (an
    /// integer preset takes none).
    func groupKeywords(layers: [String]) -> [String: [String: ConfigValue]] {
        guard effectiveFormat.isGroupwise else { return [:] }
        var out: [String: [String: ConfigValue]] = [:]
        for path in layers {
            let replaced = Set(overrides.filter { $0.layer == path }.map(\.key))
            for (prefix, quantKey) in [("weight_", "weight_quant"), ("input_", "input_quant")] where !replaced.contains(quantKey) {
                for (k, v) in formatKeywords(prefix: prefix, quantKey: quantKey) where k != quantKey { out[path, default: [:]][k] = v }
            }
        }
        return out
    }

    /// The graph `quantize()` maps of a minifloat format (see the type's table).
    func formatMaps() -> QuantizeMaps {
        var maps = QuantizeMaps.default
        for (k, r) in maps.computeLayerMap {
            guard var r else { continue }
            r.kwargs["bias_quant"] = .null
            // ptq_common's compute layers return plain tensors (`return_quant_tensor=False`):
            // a minifloat input has no integer accumulator whose metadata could be returned.
            r.kwargs["return_quant_tensor"] = .bool(false)
            for (key, v) in formatKeywords(prefix: "weight_", quantKey: "weight_quant") { r.kwargs[key] = v }
            maps.computeLayerMap[k] = weightOptions(r)
        }
        let act = formatKeywords(prefix: "", quantKey: "act_quant")
        for (k, r) in maps.quantActMap {
            guard let r else { continue }
            var kw = act
            kw["return_quant_tensor"] = .bool(true)
            maps.quantActMap[k] = LayerRecipe(r.className, kw)
        }
        var identity = act
        identity["return_quant_tensor"] = .bool(true)
        maps.signedIdentity = LayerRecipe("QuantIdentity", identity)
        maps.unsignedIdentity = LayerRecipe("QuantIdentity", identity)
        return maps
    }

    /// The `layerwise_quantize` recipe of one compute layer in a non-integer format.
    func formatLayerwiseRecipe(_ r: LayerRecipe) -> LayerRecipe {
        var r = r
        r.kwargs["bias_quant"] = .null
        for key in ["weight_bit_width", "bias_bit_width", "input_bit_width"] { r.kwargs[key] = nil }
        // MX: the presets here, their group keywords per layer (``groupKeywords(layers:)``).
        let mx = effectiveFormat.isGroupwise
        for (key, v) in formatKeywords(prefix: "weight_", quantKey: "weight_quant") where !mx || key == "weight_quant" { r.kwargs[key] = v }
        for (key, v) in formatKeywords(prefix: "input_", quantKey: "input_quant") where !mx || key == "input_quant" { r.kwargs[key] = v }
        return mx ? r : weightOptions(r)
    }

    /// Problems of `--format` with the other options, all at once (Brevitas's rules: see the
    /// type documentation). `explicitBits` names the bit-width options given on the command line.
    func formatProblems(explicitBits: [String]) -> [String] {
        let f = effectiveFormat
        var out: [String] = []
        for p in f.problems(groupSize: groupSize) {
            out.append("\(p.key == "group_size" ? "--group-size" : "--format \(f)"): \(p.key): \(p.message)")
        }
        guard f != .int else { return out }
        for option in explicitBits {
            out.append("\(option) applies to --format int; --format \(f) fixes the widths (use --format eXmY for other minifloat widths)")
        }
        if f.isGroupwise {
            if !layerwise {
                out.append("--format \(f) needs --layerwise: Brevitas's graph quantize cannot place group-wise activation quantizers (\"Cannot determine automatically group_dim for QuantIdentity\"); with --layerwise each conv/linear quantizes its own input in groups along channels")
            }
            if perChannel { out.append("--per-channel: --format \(f) has one scale per group of \(groupSize ?? 32) (drop --per-channel)") }
        }
        for o in overrides where o.key == "bits" {
            out.append("--override \(o.text): bits sets an integer width; with --format \(f) set the layer's preset instead (e.g. \(o.layer):weight_quant=Int8WeightPerTensorFloat)")
        }
        if case .minifloat(let e, let m, _) = f, !((e == 4 && m == 3) || (e == 5 && m == 2)) {
            // eXmY sets its widths on every quantizer, which a replacing preset would inherit.
            for o in overrides where ["weight_quant", "input_quant", "act_quant"].contains(o.key) {
                out.append("--override \(o.text): --format \(f) sets its exponent and mantissa widths on every quantizer; another preset per layer works with --format int, fp8e4m3, fp8e5m2 (and fnuz) or MX")
            }
        }
        return out
    }

    /// With an MX format, the compute layers whose input channels (per convolution group) the
    /// group size does not divide, and that no override moves off the format.
    func groupShapeProblems(for graph: GraphModule) -> [String] {
        guard effectiveFormat.isGroupwise else { return [] }
        let g = groupSize ?? 32
        var out: [String] = []
        for (path, m) in graph.namedModules() where !path.isEmpty {
            let channels: Int
            switch m {
            case let c as Conv2d: channels = c.inChannels / c.groups
            case let c as Conv1d: channels = c.inChannels / c.groups
            case let l as Linear: channels = l.inFeatures
            default: continue
            }
            let replaced = Set(overrides.filter { $0.layer == path }.map(\.key))
            let roles = ["weight_quant", "input_quant"].filter { !replaced.contains($0) }
            if channels % g != 0, !roles.isEmpty {
                out.append("--group-size: group_size \(g) does not divide the \(channels) input channels of '\(path)'; use a divisor, or keep that layer integer: \(roles.map { "--override \(path):\($0)=\($0 == "weight_quant" ? "Int8WeightPerTensorFloat" : "Int8ActPerTensorFloat")" }.joined(separator: " "))")
            }
        }
        return out
    }
}
