import Graph
import NN
import TensorEngine

/// Folds every BatchNorm that follows a convolution or linear layer into it (Brevitas
/// `MergeBatchNorm` with `brevitas/nn/utils.py: merge_bn`), removing the BatchNorm node.
///
/// For output channel `o`, in float32 with one rounding per operation, in this order:
///
///     m[o] = gamma[o] / sqrt(running_var[o] + eps)
///     a[o] = -running_mean[o] * m[o] + beta[o]
///     W[o] *= m[o]
///     b[o] = b[o] * m[o] + a[o]          (a layer without bias gets b = a)
///
/// Patterns: `Conv2d -> BatchNorm2d`, `Conv1d -> BatchNorm1d`, `Linear -> BatchNorm1d`. A
/// layer whose output is also read by another node is left alone (folding would change that
/// reader). The merged layer keeps its path, so `conv1.weight` now holds `W·m`; a layer without
/// bias is replaced by an equal one with a bias. Returns the merged `(layer, batchNorm)` paths.
public enum MergeBatchNorm {
    @discardableResult
    public static func apply(to graph: GraphModule) -> [(layer: String, batchNorm: String)] {
        var merged: [(String, String)] = []
        var changed = true
        while changed {
            changed = false
            for node in graph.nodes {
                guard let bnPath = node.modulePath, let bn = graph.module(at: bnPath) as? BatchNorm,
                    node.inputs.count == 1, let source = graph.node(named: node.inputs[0]),
                    let layerPath = source.modulePath, let layer = graph.module(at: layerPath),
                    graph.users(of: source.name).count == 1, !graph.isOutput(source.name),
                    matches(layer, bn)
                else { continue }
                fold(bn, into: layer, at: layerPath, graph)
                graph.removeNode(node.name, replacingUsesWith: source.name)
                if !graph.nodes.contains(where: { $0.modulePath == bnPath }) { _ = removeModule(bnPath, graph) }
                merged.append((layerPath, bnPath))
                changed = true
                break
            }
        }
        return merged
    }

    static func matches(_ layer: Module, _ bn: BatchNorm) -> Bool {
        switch layer {
        case is Conv2d: return bn is BatchNorm2d
        case is Conv1d, is Linear: return bn is BatchNorm1d
        default: return false
        }
    }

    /// The per-channel multiplier and shift of an eval-mode BatchNorm (`mul_add_from_bn`).
    public static func mulAdd(_ bn: BatchNorm) -> (mul: [Float], add: [Float]) {
        let n = bn.numFeatures
        let mean = bn.runningMean?.scalars ?? [Float](repeating: 0, count: n)
        let variance = bn.runningVar?.scalars ?? [Float](repeating: 1, count: n)
        let gamma = bn.weight?.scalars ?? [Float](repeating: 1, count: n)
        let beta = bn.bias?.scalars ?? [Float](repeating: 0, count: n)
        var mul = [Float](repeating: 0, count: n), add = [Float](repeating: 0, count: n)
        for c in 0..<n {
            let denom = (variance[c] + bn.eps).squareRoot()
            mul[c] = gamma[c] / denom
            add[c] = -mean[c] * mul[c] + beta[c]
        }
        return (mul, add)
    }

    static func fold(_ bn: BatchNorm, into layer: Module, at path: String, _ graph: GraphModule) {
        let (mul, add) = mulAdd(bn)
        // A layer without a bias is replaced by a copy with one, set to `beta - mean·m` (its
        // weight is copied, then scaled below like any other).
        let (original, originalBias, biasedCopy) = weightBiasAndBiasedCopy(layer, at: path)
        let target: Module
        let weight: Tensor, bias: Tensor?
        if originalBias == nil {
            let (copyWeight, copyBias, _) = weightBiasAndBiasedCopy(biasedCopy!, at: path)
            copyWeight.assign(original)
            copyBias!.assign(Tensor(shape: [copyWeight.shape[0]], add))
            (target, weight, bias) = (biasedCopy!, copyWeight, nil)
        } else {
            (target, weight, bias) = (layer, original, originalBias)
        }
        precondition(weight.shape[0] == mul.count,
                     "MergeBatchNorm: \(bn.numFeatures) BatchNorm features for a layer with \(weight.shape[0]) output channels at '\(path)'")
        let rows = weight.shape[0], per = weight.count / rows
        var w = weight.scalars
        for o in 0..<rows { for j in 0..<per { w[o * per + j] *= mul[o] } }
        weight.assign(Tensor(shape: weight.shape, w))
        if let bias {
            var b = bias.scalars
            for o in 0..<rows { b[o] = b[o] * mul[o] + add[o] }
            bias.assign(Tensor(shape: bias.shape, b))
        }
        if target !== layer { graph.replaceModule(at: path, with: target) }
    }

    /// The weight and bias of a conv or linear layer, and, when it has no bias, a fresh copy of
    /// the same geometry with one (its values are set by the caller).
    static func weightBiasAndBiasedCopy(_ layer: Module, at path: String) -> (Tensor, Tensor?, Module?) {
        switch layer {
        case let c as Conv2d:
            return (c.weight, c.bias, c.bias != nil ? nil : Conv2d(
                inChannels: c.inChannels, outChannels: c.outChannels, kernelSize: c.kernelSize, stride: c.stride,
                padding: c.padding, dilation: c.dilation, groups: c.groups, bias: true))
        case let c as Conv1d:
            return (c.weight, c.bias, c.bias != nil ? nil : Conv1d(
                inChannels: c.inChannels, outChannels: c.outChannels, kernelSize: c.kernelSize, stride: c.stride,
                padding: c.padding, dilation: c.dilation, groups: c.groups, bias: true))
        case let l as Linear:
            return (l.weight, l.bias, l.bias != nil ? nil : Linear(l.inFeatures, l.outFeatures, bias: true))
        default:
            preconditionFailure("MergeBatchNorm: \(layer.typeName) at '\(path)' has no weight to fold into")
        }
    }

    /// Unregisters the module at `path` from its parent.
    static func removeModule(_ path: String, _ graph: GraphModule) -> Bool {
        let parts = path.split(separator: ".").map(String.init)
        let parent = parts.count == 1 ? graph : graph.module(at: parts.dropLast().joined(separator: "."))
        return parent?.unregister(parts.last!) ?? false
    }
}
