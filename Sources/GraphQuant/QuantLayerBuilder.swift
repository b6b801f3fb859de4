import NN
import QuantNN
import Quantizers
import TensorEngine

/// Builds the quantized counterpart of a float compute layer from a map entry (Brevitas
/// `ModuleToModuleByInstance`): the float layer's geometry (channels, kernel, stride, padding,
/// groups, bias) joins the entry's keyword arguments, and the weights and bias are copied.
enum QuantLayerBuilder {
    static func quantized(_ module: Module, _ recipe: LayerRecipe, node: String) throws -> QuantWeightBiasLayer {
        func n(_ v: Int) -> ConfigValue { .number(Double(v)) }
        func p(_ v: IntOrPair) -> ConfigValue { .array([n(v.first), n(v.second)]) }
        let extra: [String: ConfigValue]
        let weight: Tensor, bias: Tensor?
        switch module {
        case let c as Conv2d:
            extra = ["in_channels": n(c.inChannels), "out_channels": n(c.outChannels), "kernel_size": p(c.kernelSize),
                     "stride": p(c.stride), "padding": p(c.padding), "dilation": p(c.dilation), "groups": n(c.groups),
                     "bias": .bool(c.bias != nil)]
            (weight, bias) = (c.weight, c.bias)
        case let c as Conv1d:
            extra = ["in_channels": n(c.inChannels), "out_channels": n(c.outChannels), "kernel_size": n(c.kernelSize),
                     "stride": n(c.stride), "padding": n(c.padding), "dilation": n(c.dilation), "groups": n(c.groups),
                     "bias": .bool(c.bias != nil)]
            (weight, bias) = (c.weight, c.bias)
        case let l as Linear:
            extra = ["in_features": n(l.inFeatures), "out_features": n(l.outFeatures), "bias": .bool(l.bias != nil)]
            (weight, bias) = (l.weight, l.bias)
        default:
            throw GraphQuantError.layerConfig(node: node, message: "\(module.typeName) has no quantized counterpart here (Conv1d, Conv2d, Linear)")
        }
        let built = try QuantizePass.build(recipe, extra: extra, node: node)
        guard let layer = built as? QuantWeightBiasLayer else {
            throw GraphQuantError.layerConfig(node: node, message: "the map entry \(recipe.className) does not build a layer with weights")
        }
        guard layer.weight.shape == weight.shape, (layer.bias == nil) == (bias == nil) else {
            throw GraphQuantError.layerConfig(node: node, message: "\(recipe.className) has weight \(layer.weight.shape), the float layer \(weight.shape)")
        }
        Autograd.noGrad {
            layer.weight.assign(weight)
            if let bias { layer.bias!.assign(bias) }
        }
        return layer
    }

    /// The quantization points of a quantized compute layer named `name` in the float graph.
    static func points(of layer: QuantWeightBiasLayer, name: String, path: String) -> [QuantPointSpec] {
        var out: [QuantPointSpec] = []
        if layer.inputQuant.isQuantEnabled { out.append(.init(key: "input of \(name)", module: path, proxy: .inputQuant, inserted: false)) }
        if layer.weightQuant.isQuantEnabled { out.append(.init(key: "weight of \(name)", module: path, proxy: .weightQuant, inserted: false)) }
        if layer.bias != nil && layer.biasQuant.isQuantEnabled { out.append(.init(key: "bias of \(name)", module: path, proxy: .biasQuant, inserted: false)) }
        if layer.outputQuant.isQuantEnabled { out.append(.init(key: "output of \(name)", module: path, proxy: .outputQuant, inserted: false)) }
        return out
    }
}
