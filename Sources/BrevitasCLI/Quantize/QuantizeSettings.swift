import Foundation
import Graph
import GraphQuant
import Models
import PTQ
import NN
import Quantizers

/// What `brevitas quantize` was asked to do, as recorded in a graph run's `config.json`: the
/// quantizer maps (bit widths, per-channel weights, layerwise or graph quantization, per-layer
/// overrides) and which post-training stages run. A run folder is rebuilt from it.
///
/// The maps are those of Brevitas's PTQ example (`ptq_common.quantize_model`, fx backend, int,
/// float scales, stats): Brevitas's `quantize()` defaults (``QuantizeMaps/default``:
/// `Int8WeightPerTensorFloat` weights, `Int32Bias`, `Int8ActPerTensorFloat` /
/// `Uint8ActPerTensorFloat` activations, 99.999th-percentile statistics) or, with `layerwise`,
/// `layerwise_quantize`'s map, with the weights made as `create_quant_maps` makes them:
/// `narrow_range=False` (range `[-2^(b-1), 2^(b-1)-1]`, scale `max|w| / 2^(b-1)`; `weightNarrowRange`
/// for `[-(2^(b-1)-1), 2^(b-1)-1]`) and `ParameterFromStatsFromParameterScaling` (the scale is taken
/// from the weights once, at the first quantized forward, then fixed for GPTQ/GPFQ and learned in
/// QAT). The only departure: weights are per tensor unless `perChannel` (ptq_evaluate.py defaults
/// to per channel).
struct QuantizeSettings: Codable, Equatable {
    var weightBits = 8
    var actBits = 8
    var biasBits = 32
    /// `Int8WeightPerChannelFloat` (one scale per output channel) instead of per-tensor weights.
    var perChannel = false
    /// Weights on the narrow signed range `[-(2^(b-1)-1), 2^(b-1)-1]` (`narrow_range=True`).
    var weightNarrowRange = false
    /// `layerwise_quantize` (each compute layer quantizes its own input) instead of `quantize`.
    var layerwise = false
    /// Per-layer keyword overrides, in the order given.
    var overrides: [LayerOverride] = []
    /// Examples per calibration batch (Brevitas's `--batch-size-calibration`, 64).
    var calibrationBatchSize = 64
    var biasCorrection = false
    var gptq = false
    /// GPTQ/GPFQ process the columns in decreasing Hessian-diagonal order (`act_order`).
    var actOrder = false
    var gpfq = false
    /// Cross-layer equalization iterations after preprocessing (`--equalize N`, Brevitas's
    /// `equalize_iters`); `nil` or 0: off.
    var equalize: Int?
    /// SmoothQuant alpha of activation equalization before `quantize` (`--act-equalization ALPHA`);
    /// `nil`: off.
    var actEqualization: Double?
    /// Where activation equalization acts (`--act-equalization-scope`); `nil`: `layerwise` with
    /// `layerwise`, else `graph`.
    var actEqualizationScope: ActivationEqualizationScope?
    /// How calibration finds activation scales (`--act-param-method`, ptq_common's
    /// `act_param_method`); `nil`: `stats`.
    var actParamMethod: ActivationScaleMethod?
    /// The percentile of `|x|` the `stats` method takes (`--act-quant-percentile`); `nil`: 99.999.
    var actQuantPercentile: Double?
    /// Learned rounding (AdaRound) after GPFQ/GPTQ (`--learned-round ITERS`); `nil`: off.
    var learnedRound: LearnedRoundSettings?
    /// The number format (`--format`, the names of `brevitas train --format`); `nil`: `int`.
    /// Minifloat and MX formats take their quantizers from
    /// `QuantizeSettings+Format.swift` (Brevitas's ptq_common float/MX maps).
    var format: QuantFormat?
    /// Group size of the MX formats (`--group-size`); `nil`: 32.
    var groupSize: Int?

    /// The activation-equalization scope in effect.
    var effectiveActEqualizationScope: ActivationEqualizationScope {
        actEqualizationScope ?? (layerwise ? .layerwise : .graph)
    }

    /// Whether the layers stay float after `quantize`: layerwise activation equalization wraps
    /// each layer, and Brevitas's graph `quantize` matches layers by class (the `w4a8+act_eq` row
    /// of ptq_brevitas.py).
    var weightsStayFloat: Bool { actEqualization != nil && effectiveActEqualizationScope == .layerwise && !layerwise }

    /// One `--override LAYER:key=value`.
    struct LayerOverride: Codable, Equatable {
        var layer: String
        var key: String
        var value: String

        /// Parses `LAYER:key=value`; a ``CLIError`` showing the expected form otherwise.
        init(parsing text: String) throws {
            guard let colon = text.lastIndex(of: ":"), let eq = text[colon...].firstIndex(of: "="),
                  colon > text.startIndex, text.index(after: colon) < eq, text.index(after: eq) < text.endIndex
            else {
                throw CLIError("--override '\(text)' is not LAYER:key=value (e.g. --override fc:weight_bit_width=8 or conv1:per_channel=true)")
            }
            layer = String(text[..<colon])
            key = String(text[text.index(after: colon)..<eq])
            value = String(text[text.index(after: eq)...])
        }

        init(layer: String, key: String, value: String) {
            (self.layer, self.key, self.value) = (layer, key, value)
        }

        var text: String { "\(layer):\(key)=\(value)" }

        /// The value as a keyword value: `None`, `true`/`false`, a number, a quantizer preset
        /// for keys naming a quantizer (`weight_quant=Int8WeightPerChannelFloat`), else a string.
        var configValue: ConfigValue {
            if value == "None" || value == "null" { return .null }
            if key.hasSuffix("_quant") { return .quantizer(value) }
            switch value.lowercased() {
            case "true": return .bool(true)
            case "false": return .bool(false)
            default: break
            }
            if let d = Double(value) { return .number(d) }
            return .string(value)
        }
    }

    /// The stages after `quantize`, in Brevitas's order, for summaries.
    var algorithmNames: [String] {
        var out: [String] = []
        if let n = equalize, n > 0 { out.append("equalize \(n)") }
        if let a = actEqualization { out.append("act equalization \(a) (\(effectiveActEqualizationScope.rawValue))") }
        if gpfq { out.append("gpfq") }
        if gptq { out.append(actOrder ? "gptq (act_order)" : "gptq") }
        if let lr = learnedRound { out.append(lr.summary) }
        if biasCorrection { out.append("bias correction") }
        return out
    }

    /// `w8a8 per-tensor`, `w4a8 per-channel layerwise + gptq`, ...
    var summary: String {
        var s: String
        switch effectiveFormat {
        case .int:
            s = "w\(weightBits)a\(actBits)" + (biasBits == 32 ? "" : " bias \(biasBits)") + (perChannel ? " per-channel" : " per-tensor")
        case .mxint8, .mxfp8:
            s = "\(effectiveFormat) g\(groupSize ?? 32)"
        case .minifloat:
            s = "\(effectiveFormat)" + (perChannel ? " per-channel" : " per-tensor")
        }
        s += weightNarrowRange ? " narrow-range" : ""
        if actParamMethod == .mse { s += " act-mse" }
        if let p = actQuantPercentile { s += " act-p\(p)" }
        if layerwise { s += " layerwise" }
        if !overrides.isEmpty { s += ", \(overrides.count) override\(overrides.count == 1 ? "" : "s")" }
        if !algorithmNames.isEmpty { s += " + " + algorithmNames.joined(separator: " + ") }
        return s
    }

    /// Problems with the values, all at once.
    func problems() -> [String] {
        var out: [String] = []
        for (name, bits) in [("--weight-bits", weightBits), ("--act-bits", actBits)] where !(2...16).contains(bits) {
            out.append("\(name) must be in 2...16, got \(bits)")
        }
        if !(2...32).contains(biasBits) { out.append("--bias-bits must be in 2...32, got \(biasBits)") }
        if calibrationBatchSize < 1 { out.append("--calibration-batch-size must be >= 1, got \(calibrationBatchSize)") }
        if actOrder && !(gptq || gpfq) { out.append("--act-order needs --gptq or --gpfq") }
        if let n = equalize, n < 0 { out.append("--equalize must be >= 0 iterations, got \(n)") }
        if let a = actEqualization, !(a.isFinite && (0...1).contains(a)) {
            out.append("--act-equalization takes alpha in [0, 1] (SmoothQuant uses 0.5), got \(a)")
        }
        if actEqualizationScope != nil && actEqualization == nil { out.append("--act-equalization-scope needs --act-equalization ALPHA") }
        if weightsStayFloat && (gptq || gpfq || biasCorrection) {
            out.append("--act-equalization-scope layerwise wraps every layer, and graph quantization (Brevitas's quantize()) leaves wrapped layers float: GPTQ, GPFQ and bias correction would have no quantized weights (use --act-equalization-scope graph, or --layerwise)")
        }
        if effectiveFormat != .int && (actParamMethod != nil || actQuantPercentile != nil) {
            out.append("--act-param-method and --act-quant-percentile apply to --format int (the integer activation quantizers)")
        }
        if let p = actQuantPercentile {
            if !(p.isFinite && p > 0 && p <= 100) { out.append("--act-quant-percentile must be in (0, 100] (Brevitas uses 99.999), got \(p)") }
            if actParamMethod == .mse { out.append("--act-quant-percentile applies to --act-param-method stats; the mse method searches the range itself") }
        }
        if let lr = learnedRound {
            out += lr.options.problems()
            if weightsStayFloat {
                out.append("--learned-round: --act-equalization-scope layerwise leaves the layers float under graph quantization, so there are no quantized weights to round (use --act-equalization-scope graph, or --layerwise)")
            }
        }
        out += formatProblems(explicitBits: [])
        if learnedRound != nil && effectiveFormat != .int {
            out.append("--learned-round learns the rounding of integer weights (AdaRound); --format \(effectiveFormat) has none (use --gptq or --gpfq)")
        }
        if layerwise && (gptq || gpfq || biasCorrection) {
            // Brevitas runs them on any quantized graph; ours need the quantize() form's layer outputs.
            out.append("--layerwise quantizes each layer's own input: GPTQ, GPFQ and bias correction run on graph quantization (drop --layerwise)")
        }
        return out
    }

    // MARK: Maps

    /// The `quantize()` maps these settings describe, with the overrides checked against `graph`
    /// (the preprocessed float graph): an unknown layer is a ``GraphQuantError/unknownLayer(_:known:)``,
    /// an option that does not apply to the layer a ``CLIError`` naming it.
    func maps(for graph: GraphModule) throws -> QuantizeMaps {
        var maps = QuantizeMaps.default
        if effectiveFormat != .int {
            maps = formatMaps()
        } else {
            maps.setWeightBitWidth(weightBits)
            maps.setBiasBitWidth(biasBits)
            maps.setActivationBitWidth(actBits)
            if let m = actParamMethod { maps.setActivationScaleMethod(m) }
            if let p = actQuantPercentile { maps.setActivationPercentile(p) }
            if perChannel { maps.setPerChannelWeights() }
            for (k, r) in maps.computeLayerMap {
                if let r { maps.computeLayerMap[k] = weightOptions(r) }
            }
        }
        let classes = Dictionary(graph.moduleNodes.map { ($0.node.name, torchClassName(of: $0.module)) }, uniquingKeysWith: { a, _ in a })
        let compute = Set(graph.moduleNodes.compactMap { n, m in torchClassName(of: m).flatMap { maps.computeLayerMap[$0] ?? nil } != nil ? n.name : nil })
        let activations = Set(graph.moduleNodes.compactMap { n, m in torchClassName(of: m).flatMap { maps.quantActMap[$0] ?? nil } != nil ? n.name : nil })
        let known = graph.moduleNodes.map(\.node.name).filter { compute.contains($0) || activations.contains($0) }
        for o in overrides {
            guard compute.contains(o.layer) || activations.contains(o.layer) else {
                throw GraphQuantError.unknownLayer(o.layer, known: known)
            }
            let cls = (classes[o.layer] ?? nil) ?? "?"
            let (key, value) = try translate(o, isCompute: compute.contains(o.layer), className: cls)
            maps.layerOverrides[o.layer, default: [:]][key] = value
        }
        return maps
    }

    /// The `layerwise_quantize` map and overrides (by module path) these settings describe.
    func layerwiseMap(for graph: GraphModule) throws -> (map: [String: LayerRecipe?], overrides: [String: [String: ConfigValue]]) {
        let groupProblems = groupShapeProblems(for: graph)
        if !groupProblems.isEmpty { throw CLIError(groupProblems.joined(separator: "\n")) }
        var map = QuantizeMaps.layerwiseMap(QuantizeMaps.defaultLayerwiseMap, method: actParamMethod ?? .stats, percentile: actQuantPercentile)
        for (k, r) in map {
            guard var r else { continue }
            if effectiveFormat != .int {
                map[k] = formatLayerwiseRecipe(r)
                continue
            }
            r = r.with("weight_bit_width", .number(Double(weightBits))).with("bias_bit_width", .number(Double(biasBits)))
                .with("input_bit_width", .number(Double(actBits)))
            if perChannel { r = r.with("weight_quant", .quantizer("Int8WeightPerChannelFloat")) }
            map[k] = weightOptions(r)
        }
        var known: [String] = []
        var classes: [String: String] = [:]
        for (path, m) in graph.namedModules() where !path.isEmpty {
            guard let cls = torchClassName(of: m), (map[cls] ?? nil) != nil else { continue }
            known.append(path)
            classes[path] = cls
        }
        var byLayer = groupKeywords(layers: known)
        for o in overrides {
            guard let cls = classes[o.layer] else { throw GraphQuantError.unknownLayer(o.layer, known: known) }
            let (key, value) = try translate(o, isCompute: true, className: cls)
            byLayer[o.layer, default: [:]][key] = value
        }
        return (map, byLayer)
    }

    /// `create_quant_maps`'s weight keywords: `narrow_range` and the scale taken once from the
    /// weights (`ParameterFromStatsFromParameterScaling`).
    func weightOptions(_ r: LayerRecipe) -> LayerRecipe {
        r.with("weight_narrow_range", .bool(weightNarrowRange)).with("weight_scaling_impl_type", .string("parameter_from_stats"))
    }

    /// The shorthands: `bits` is `weight_bit_width` on a compute layer and `bit_width` on an
    /// activation; `per_channel=true|false` picks per-channel or per-tensor weight scales and
    /// exists only on layers with weight channels. Any other key goes to the layer as is.
    func translate(_ o: LayerOverride, isCompute: Bool, className: String) throws -> (String, ConfigValue) {
        switch o.key {
        case "bits":
            guard let bits = Int(o.value) else { throw CLIError("--override \(o.text): bits must be an integer") }
            return (isCompute ? "weight_bit_width" : "bit_width", .number(Double(bits)))
        case "per_channel":
            guard isCompute else {
                throw CLIError("--override \(o.text): layer '\(o.layer)' is a \(className) (an activation, one scale per tensor); per-channel scales apply to layers with weight channels (Conv, Linear)")
            }
            guard let on = ["true": true, "false": false][o.value.lowercased()] else {
                throw CLIError("--override \(o.text): per_channel must be true or false")
            }
            switch effectiveFormat {
            case .int: return ("weight_quant", .quantizer(on ? "Int8WeightPerChannelFloat" : "Int8WeightPerTensorFloat"))
            case .mxint8, .mxfp8:
                throw CLIError("--override \(o.text): --format \(effectiveFormat) has one weight scale per group, not per tensor or channel")
            case .minifloat:
                var s = self
                s.perChannel = on
                return ("weight_quant", s.formatKeywords(prefix: "weight_", quantKey: "weight_quant")["weight_quant"]!)
            }
        default:
            return (o.key, o.configValue)
        }
    }
}
