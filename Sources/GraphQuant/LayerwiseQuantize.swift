import Graph
import NN
import QuantNN

/// Brevitas's `layerwise_quantize` (`brevitas/graph/quantize.py`): no graph analysis; every
/// module of the tree whose class is in `map` (default: Conv1d/Conv2d/Linear) is replaced by its
/// quantized counterpart, which quantizes its own input (`Int8ActPerTensorFloat`), weight
/// (`Int8WeightPerTensorFloat`) and bias (`Int32Bias`) and returns a plain tensor. Activations,
/// pools and BatchNorms stay float. Takes over `graph`'s modules.
///
/// - Parameter skip: module paths to leave float (`name_blacklist`); each must exist.
public func layerwiseQuantize(_ graph: GraphModule, map: [String: LayerRecipe?] = QuantizeMaps.defaultLayerwiseMap,
                              skip: [String] = []) throws -> QuantGraphModule {
    let known = graph.namedModules().map(\.name).filter { !$0.isEmpty }
    for name in skip where !known.contains(name) { throw GraphQuantError.unknownLayer(name, known: known) }
    let g = QuantGraphModule(taking: graph)
    g.eval()
    var points: [QuantPointSpec] = []
    for (path, module) in g.namedModules() where !path.isEmpty && !skip.contains(path) {
        guard let cls = torchClassName(of: module), let entry = map[cls], let recipe = entry else { continue }
        let name = path.hasSuffix(".layer") ? String(path.dropLast(".layer".count)) : path
        let q = try QuantLayerBuilder.quantized(module, recipe, node: name)
        g.replaceModule(at: path, with: q)
        points += QuantLayerBuilder.points(of: q, name: name, path: path)
    }
    g.points = points
    g.returnsPlainTensors = false
    g.eval()
    return g
}
