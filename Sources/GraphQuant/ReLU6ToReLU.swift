import Graph
import NN

/// Replaces every `ReLU6` module by a plain `ReLU` (Brevitas `preprocess_for_quantize` with
/// `relu6_to_relu=True`, a `ModuleToModuleByClass(nn.ReLU6, nn.ReLU)`): the upper clip at 6 is
/// gone, so an unsigned 8-bit quantizer calibrates its own range. Returns the replaced paths.
public enum ReLU6ToReLU {
    @discardableResult
    public static func apply(to graph: GraphModule) -> [String] {
        var replaced: [String] = []
        for (node, module) in graph.moduleNodes where module is ReLU6 {
            guard let path = node.modulePath, !replaced.contains(path) else { continue }
            graph.replaceModule(at: path, with: ReLU())
            replaced.append(path)
        }
        return replaced
    }
}
