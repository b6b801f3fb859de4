import Foundation
import GraphQuant
import NN
import QuantCore
import QuantNN
import TensorEngine

/// What learned rounding did to one layer.
public struct LearnedRoundLayerReport: Equatable, Sendable {
    /// The layer's node name.
    public var layer: String
    /// Weights whose rounding was learned.
    public var weights: Int
    /// Weights now rounded the other way than round-to-nearest.
    public var flipped: Int
    /// Weights whose soft offset had not reached 0 or 1 when training ended (hardened at 0.5).
    public var undecided: Int
    /// The loss of the first and of the last iteration (Brevitas prints both).
    public var initialLoss: Double
    public var finalLoss: Double
}

/// Where training stands, for progress lines.
public struct LearnedRoundProgress: Sendable {
    public var layer: String
    /// 1-based index of the layer and the number of layers.
    public var layerIndex: Int, layerCount: Int
    /// Iterations done in this layer.
    public var iteration: Int, iterations: Int
    /// The loss of the last iteration.
    public var loss: Double
}

/// The outcome of ``learnedRoundMode(_:batches:options:progress:)``.
public struct LearnedRoundResult {
    public var layers: [LearnedRoundLayerReport]
    /// Each processed layer's float weight from before the stage (the stored weight is now the
    /// rounded one), keyed by `ObjectIdentifier(layer)`: Brevitas keeps the float weight and
    /// rounds inside the quantizer, so later stages that need the float output (bias
    /// correction) take it from here.
    public var floatWeights: [ObjectIdentifier: Tensor]
}

/// Learned rounding (AdaRound) on a quantized graph, as Brevitas's example runs it
/// (`brevitas_examples/common/learned_round`, `--learned-round hard_sigmoid
/// --learned-round-mode layerwise`): every QuantConv/QuantLinear is a block, optimised alone,
/// in the order the forward reaches them.
///
/// For each layer:
/// 1. **cache**: every calibration batch runs through the quantized model (layers already
///    processed use their learned rounding, hardened) up to the layer; its input is kept,
///    quantized as it arrives (Brevitas keeps only the values, so its graph backend fails with
///    "Input scale required"; here the input keeps its scale, so `quantize()` graphs work as
///    well as `layerwise_quantize()` ones). Every batch runs again with all quantization off;
///    the layer's float output is the target.
/// 2. **parameterise**: with the weight's fixed scale `s` and zero point `z`, the integer code of
///    each weight is `floor(w/s + z) + h(v)` with ``QuantCore/LearnedRoundHardSigmoid``; `v`
///    starts where `h(v)` equals the fraction `w/s − floor(w/s)`, i.e. at the float weight.
/// 3. **train**: `iterations` Adam steps on `v` alone; each draws `batchSize` cached examples
///    with replacement, runs the layer (its input, bias and output quantizers as configured, the
///    soft-rounded weight) and minimises the ``LearnedRoundOptions/Loss`` between its output and
///    the float target (plus ``RoundRegularisation`` for `regularised_mse`).
/// 4. **harden**: `h` becomes 0 or 1 (`h > 0.5`, Brevitas's eval mode) and the weight is stored
///    as `(clamp(floor(w/s + z) + h) − z) · s`: a plain weight that the layer's own quantizer maps
///    to exactly those codes. Checkpoints, exports and the integer program need nothing new.
///
/// Departures from Brevitas, all documented: the sampler's random stream (Brevitas: torch's
/// global generator; here ``LearnedRoundOptions/seed``), float32 training (Brevitas's example
/// trains under float16 autocast with a gradient scaler), and forward order (Brevitas: module
/// order; the same for imported graphs).
///
/// The weight quantizer must be integer with a scale and zero point fixed once initialised
/// (`parameter_from_stats`, `brevitas quantize`'s weights, or constant/learned parameters);
/// others are refused before anything changes.
///
/// ```swift
/// let r = try learnedRoundMode(q, batches: calib, options: LearnedRoundOptions(iterations: 1000))
/// print(r.layers.map { "\($0.layer): \($0.flipped) flipped" })
/// ```
public func learnedRoundMode(_ graph: QuantGraphModule, batches: [Tensor], options: LearnedRoundOptions = LearnedRoundOptions(),
                             progress: ((LearnedRoundProgress) throws -> Void)? = nil) throws -> LearnedRoundResult {
    if let p = options.problems().first { throw PTQError.invalidOption(p) }
    let wasTraining = graph.training
    graph.eval()
    defer { graph.train(wasTraining) }
    let names = try LearnedRoundLayers.inForwardOrder(graph, batches.first)
    var layers: [(String, QuantWeightBiasLayer, RescalingIntQuant)] = []
    for name in names {
        guard let l = graph.module(atNode: name) else { continue }
        guard l.weightQuant.isQuantEnabled else { continue }
        layers.append((name, l, try LearnedRoundLayers.checkedQuantizer(l, name)))
    }
    var floatWeights: [ObjectIdentifier: Tensor] = [:]
    for (_, l, _) in layers { floatWeights[ObjectIdentifier(l)] = l.weight.copy() }
    var reports: [LearnedRoundLayerReport] = []
    for (index, (name, l, tq)) in layers.enumerated() {
        let cache = try LearnedRoundCache(graph, layer: name, batches: batches, floatWeights: floatWeights)
        var trainer = try LearnedRoundTrainer(layer: l, quantizer: tq, name: name, options: options)
        try trainer.train(cache) { iteration, loss in
            try progress?(LearnedRoundProgress(layer: name, layerIndex: index + 1, layerCount: layers.count,
                                               iteration: iteration, iterations: options.iterations, loss: loss))
        }
        reports.append(try trainer.harden())
    }
    return LearnedRoundResult(layers: reports, floatWeights: floatWeights)
}

/// The layers learned rounding visits and the checks it makes before any work.
enum LearnedRoundLayers {
    /// Node names of the weight layers (QuantConv1d/2d, QuantLinear) in forward order.
    static func inForwardOrder(_ graph: QuantGraphModule, _ batch: Tensor?) throws -> [String] {
        guard let batch else { return [] }
        var names: [String] = []
        _ = try Autograd.noGrad {
            try graph.forwardIntercepting([.float(batch)]) { node, m, _, _ in
                if m is QuantConv2d || m is QuantConv1d || m is QuantLinear { names.append(node) }
                return nil
            }
        }
        return names
    }

    /// The layer's weight quantizer, initialised, if learned rounding can train it; otherwise an
    /// error naming the layer and what to change.
    static func checkedQuantizer(_ l: QuantWeightBiasLayer, _ name: String) throws -> RescalingIntQuant {
        guard l.weightQuant.accumulatorAware == nil, let tq = l.weightQuant.tensorQuant as? RescalingIntQuant else {
            throw PTQError.unsupportedLayer(layer: name, reason: "learned rounding needs an integer weight quantizer (scaled int), not \(l.weightQuant.config?.preset ?? "this one")")
        }
        guard tq.group == nil, !tq.bitWidthImpl.isLearned else {
            throw PTQError.unsupportedLayer(layer: name, reason: "learned rounding needs a per-tensor or per-channel weight quantizer with a constant bit width (group-wise and learned bit widths are not supported)")
        }
        guard tq.scaling is ParameterFromStatsFromParameterScaling || tq.scaling is ParameterScaling || tq.scaling is ConstScaling else {
            throw PTQError.unsupportedLayer(layer: name, reason: "learned rounding keeps the weight scale fixed, but this layer's weight scale (\(tq.scaling.typeName)) is recomputed from the weight; use weight_scaling_impl_type=parameter_from_stats (brevitas quantize's default)")
        }
        _ = Autograd.noGrad { l.quantWeight() }   // initialises a parameter_from_stats scale
        guard !tq.zeroPoint.readsInput else {
            throw PTQError.unsupportedLayer(layer: name, reason: "learned rounding keeps the weight zero point fixed, but this layer's (\(tq.zeroPoint.typeName)) is recomputed from the weight")
        }
        return tq
    }
}

extension QuantGraphModule {
    /// The weight layer a module node runs (through an ``EqualizedModule``), if any.
    func module(atNode name: String) -> QuantWeightBiasLayer? {
        guard let node = nodes.first(where: { $0.name == name }), case .module(let path) = node.op else { return nil }
        let m = module(at: path)
        return (m as? EqualizedModule)?.layer as? QuantWeightBiasLayer ?? m as? QuantWeightBiasLayer
    }
}
