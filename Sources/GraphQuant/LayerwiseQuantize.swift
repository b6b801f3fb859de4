import Graph
import NN
import QuantNN
import Quantizers

/// Brevitas's `layerwise_quantize` (`brevitas/graph/quantize.py`): no graph analysis; every
/// module of the tree whose class is in `map` (default: Conv1d/Conv2d/Linear) is replaced by its
/// quantized counterpart, which quantizes its own input (`Int8ActPerTensorFloat`), weight
/// (`Int8WeightPerTensorFloat`) and bias (`Int32Bias`) and returns a plain tensor. Activations,
/// pools and BatchNorms stay float. Takes over `graph`'s modules.
///
/// - Parameters:
///   - skip: module paths to leave float (`name_blacklist`); each must exist.
///   - overrides: keyword overrides by module path (`["fc": ["weight_bit_width": .number(8)]]`),
///     merged over the map entry; each must name a layer the map quantizes.
public func layerwiseQuantize(_ graph: GraphModule, map: [String: LayerRecipe?] = QuantizeMaps.defaultLayerwiseMap,
                              skip: [String] = [], overrides: [String: [String: ConfigValue]] = [:]) throws -> QuantGraphModule {
    let known = graph.namedModules().map(\.name).filter { !$0.isEmpty }
    for name in skip where !known.contains(name) { throw GraphQuantError.unknownLayer(name, known: known) }
    let quantizable = graph.namedModules().compactMap { path, m -> String? in
        guard !path.isEmpty, let cls = torchClassName(of: m), (map[cls] ?? nil) != nil else { return nil }
        return path.hasSuffix(".layer") ? String(path.dropLast(".layer".count)) : path
    }
    for name in overrides.keys.sorted() where !quantizable.contains(name) || skip.contains(name) {
        throw GraphQuantError.unknownLayer(name, known: quantizable.filter { !skip.contains($0) })
    }
    let g = QuantGraphModule(taking: graph)
    g.eval()
    var points: [QuantPointSpec] = []
    for (path, module) in g.namedModules() where !path.isEmpty && !skip.contains(path) {
        guard let cls = torchClassName(of: module), let entry = map[cls], let recipe = entry else { continue }
        let name = path.hasSuffix(".layer") ? String(path.dropLast(".layer".count)) : path
        var r = recipe
        for (k, v) in overrides[name] ?? [:] { r.kwargs[k] = v }
        let q = try QuantLayerBuilder.quantized(module, r, node: name)
        g.replaceModule(at: path, with: q)
        points += QuantLayerBuilder.points(of: q, name: name, path: path)
    }
    g.points = points
    g.returnsPlainTensors = false
    g.eval()
    return g
}
