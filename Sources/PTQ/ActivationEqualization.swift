import Graph
import GraphQuant
import NN
import TensorEngine

/// SmoothQuant-style activation equalization of a float graph (Brevitas
/// `activation_equalization_mode`, `brevitas/graph/equalize.py: LayerwiseActivationEqualization,
/// GraphActivationEqualization`): moves range from activations into weights so that the
/// activation quantizer sees evened-out channels.
///
/// The batches run through the unchanged float graph; every sink layer's input gives, per
/// channel `c`, `a[c] = max |x[..., c, ...]|` over all batches (channel axis: last for a Linear,
/// 1 for a conv). Then, per region, with `r[c] = max|W_sink[input channel c]|`:
///
///     s[c] = r[c]^(1 - alpha) / a[c]^alpha        (1 where a or r <= 1e-9)
///
/// and each sink's input channel `c` is multiplied by `1/s[c]`, which the input makes up for:
///
/// - ``Scope/layerwise`` (`layerwise=True`): every Conv/Linear of the module tree (not BatchNorm)
///   is its own region; it is wrapped as `L` = ``EqualizedModule`` whose ``ScaleBias`` multiplies
///   the input by `s` and whose `layer` is the original. (With Brevitas's FX `quantize` this
///   wrapper hides the layer, so its weights stay float: see ``GraphQuant/EqualizedModule``.)
/// - ``Scope/graph`` (`layerwise=False`, `add_mul_node=False`): the regions of
///   ``EqualizationRegion/extract(from:sinkFilter:)``; `s` is folded into the sources' output
///   channels (weight rows and bias times `s`), so the graph keeps plain layers. Regions with a
///   conv on one side and a Linear on the other (no common channel axis) are left alone.
///
/// ```swift
/// let report = try activationEqualization(graph, batches: calib, alpha: 0.5, scope: .graph)
/// ```
public func activationEqualization(_ graph: GraphModule, batches: [Tensor], alpha: Double = 0.5,
                                   scope: ActivationEqualizationScope = .layerwise) throws -> ActivationEqualizationReport {
    guard alpha.isFinite, (0...1).contains(alpha) else { throw PTQError.invalidOption("activation equalization alpha \(alpha): use a value in [0, 1] (SmoothQuant uses 0.5)") }
    guard !batches.isEmpty else { throw PTQError.invalidOption("activation equalization needs at least one calibration batch") }
    let wasTraining = graph.training
    graph.eval()
    defer { graph.train(wasTraining) }
    let regions: [EqualizationRegion]
    switch scope {
    case .layerwise: regions = layerwiseRegions(graph)
    case .graph: regions = EqualizationRegion.extract(from: graph)
    }
    let stats = try InputRanges.collect(graph, layers: Array(Set(regions.flatMap(\.sinkNames))).sorted(), batches: batches)
    var report = ActivationEqualizationReport(scope: scope)
    for region in regions {
        let ranges = region.sinkNames.map { stats[$0] }
        guard ranges.allSatisfy({ $0 != nil }) else {
            report.skipped.append(region)
            continue
        }
        let acts = ranges.map { ($0!.ranges, $0!.shape) }
        var multiplier: (([Float]) -> Void)?
        if scope == .layerwise {
            let path = region.sinkNames[0]
            multiplier = { s in wrap(graph, path, s) }
        }
        if let s = CrossLayerEqualization.equalize(graph, region, mergeBias: false, alpha: alpha, activationRanges: acts, multiplier: multiplier) {
            report.equalized.append((region, s))
        } else {
            report.skipped.append(region)
        }
    }
    return report
}

/// Wraps the layer at `path` as ``EqualizedModule`` with multiplier `s` along its input's channel
/// axis (last for a Linear, 1 for a conv).
func wrap(_ graph: GraphModule, _ path: String, _ s: [Float]) {
    guard let layer = graph.module(at: path), let eq = EqualizableLayer(layer) else {
        preconditionFailure("activation equalization: no layer with a weight at '\(path)'")
    }
    graph.setModule(EqualizedModule(scale: ScaleBias(s, channelAxis: eq.actAxis == -1 ? -1 : 1), layer: layer), at: path)
}

/// The structure layerwise activation equalization leaves, with multipliers 1: every layer it
/// would equalize wrapped as ``EqualizedModule``, for loading a saved state into (the factors
/// and weights come from the state). Returns the wrapped paths.
@discardableResult
public func wrapForActivationEqualization(_ graph: GraphModule) -> [String] {
    let paths = layerwiseRegions(graph).map { $0.sinkNames[0] }
    for path in paths {
        guard let l = graph.module(at: path).flatMap(EqualizableLayer.init) else { continue }
        wrap(graph, path, [Float](repeating: 1, count: l.sinkChannels))
    }
    return paths
}

/// Where ``activationEqualization(_:batches:alpha:scope:)`` looks for regions.
public enum ActivationEqualizationScope: String, Sendable {
    /// Each Conv/Linear on its own, with an inserted input multiplier (Brevitas `layerwise=True`).
    case layerwise
    /// Source -> sink regions of the graph, the factor folded into the source (`layerwise=False`).
    case graph
}

/// What ``activationEqualization(_:batches:alpha:scope:)`` did.
public struct ActivationEqualizationReport {
    public let scope: ActivationEqualizationScope
    /// The regions equalized and their factors `s`.
    public internal(set) var equalized: [(region: EqualizationRegion, factors: [Float])] = []
    /// Regions left alone (a layer the batches never reached, no common channel axis).
    public internal(set) var skipped: [EqualizationRegion] = []
}

/// `LayerwiseActivationEqualization.find_module`: each supported layer of the module tree, not
/// looking inside it (BatchNorm is not a sink).
func layerwiseRegions(_ graph: GraphModule) -> [EqualizationRegion] {
    var regions: [EqualizationRegion] = []
    func visit(_ m: Module, _ prefix: String) {
        if let l = EqualizableLayer(m), !l.isBatchNorm {
            regions.append(EqualizationRegion(sources: [], sinks: [(prefix, EqualizationIndexes(start: 0, end: l.sinkChannels, offset: 0))]))
            return
        }
        for (name, child) in m.children { visit(child, prefix.isEmpty ? name : prefix + "." + name) }
    }
    visit(graph, "")
    return regions
}

/// Per-channel input ranges of layers over calibration batches (the forward hooks of
/// `ActivationEqualization.forward_stats_hook`, with the `maxabs` statistic).
enum InputRanges {
    struct Stat {
        /// `max |x|` per channel over every batch.
        var ranges: [Float]
        /// The input's shape without the batch dimension.
        var shape: [Int]
        /// The channel axis in the input (1 for NCHW, last for features last).
        var axis: Int
    }

    /// Runs `batches` through `graph` with each layer at `layers` observed.
    static func collect(_ graph: GraphModule, layers: [String], batches: [Tensor]) throws -> [String: Stat] {
        var stats: [String: Stat] = [:]
        var originals: [(String, Module)] = []
        for path in layers {
            guard let m = graph.module(at: path), let layer = m as? any Layer, let eq = EqualizableLayer(m) else { continue }
            originals.append((path, m))
            graph.setModule(InputHook(layer) { x in
                let axis = eq.actAxis == -1 ? x.rank - 1 : 1
                let r = EqualizableLayer.channelMaxAbs(x.scalars, shape: x.shape, axis: axis)
                if var s = stats[path] {
                    for c in s.ranges.indices { s.ranges[c] = Swift.max(s.ranges[c], r[c]) }
                    stats[path] = s
                } else {
                    stats[path] = Stat(ranges: r, shape: Array(x.shape.dropFirst()), axis: axis)
                }
            }, at: path)
        }
        defer { for (path, m) in originals { graph.setModule(m, at: path) } }
        for b in batches { _ = Autograd.noGrad { graph(b) } }
        return stats
    }

    /// Calls `observe` with the input, then the layer.
    final class InputHook: Module, Layer {
        let inner: any Layer
        let observe: (Tensor) -> Void
        init(_ inner: any Layer, _ observe: @escaping (Tensor) -> Void) {
            (self.inner, self.observe) = (inner, observe)
            super.init()
        }
        func callAsFunction(_ x: Tensor) -> Tensor {
            observe(x)
            return inner(x)
        }
    }
}
